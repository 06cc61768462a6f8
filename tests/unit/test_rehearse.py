"""A past night replayed offline under other guards (issue: rehearse the night on real history)."""

import subprocess

import pytest

from tests.conftest import ROOT, shipdeck_cmd
from tests.unit.test_journal import V1, rewrite
from tui.engine.journal import load, parse_iso, plan_of
from tui.engine.rehearse import RehearseError, parse_guard, replay, verdict


@pytest.fixture(params=["format 1", "format 2"])
def night(request, tmp_path):
    """A rolled-back demo night as the engine wrote it, and the same night in today's journal format."""
    if request.param == "format 1":
        return load(V1).records
    rewrite(load(V1).records, tmp_path / "night.jsonl")
    return load(tmp_path / "night.jsonl").records


def recorded_rollback(records):
    return next(parse_iso(r["ts"]) for r in records if r["kind"] == "event" and r["data"].get("type") == "guard"
                and r["data"]["action"] == "rollback")


def test_the_nights_own_guards_roll_back_when_it_did(night):
    plan = plan_of(night)
    r = replay(night, list(plan.guards))
    assert r.rollback is not None and r.rollback.metric == "error_rate"
    assert abs(r.rollback.at - recorded_rollback(night)) <= 2 * plan.settings.sample_interval
    assert "at the same moment as" in verdict(r, list(plan.guards), plan)[-1]


def test_a_looser_guard_does_not_roll_back_and_a_tighter_one_rolls_back_earlier(night):
    plan = plan_of(night)
    looser = [parse_guard("error_rate above 0.5 for 1m")]
    r = replay(night, looser)
    assert r.rollback is None and r.end == recorded_rollback(night)
    assert "no rollback up to 13m6s" in verdict(r, looser, plan)[-1]
    tighter = [parse_guard("error_rate above 0.005 for 20s")]
    r = replay(night, tighter)
    assert r.rollback is not None
    earlier = recorded_rollback(night) - r.rollback.at
    assert 30 < earlier < 60  # the breach started ~40 s before the recorded window closed
    assert verdict(r, tighter, plan)[-1] == (f"verdict: rolls back 12m25s into the night, {earlier:.0f}s earlier "
                                             "than the recorded night")


def test_a_guard_on_a_metric_the_night_never_measured_is_refused(night):
    with pytest.raises(RehearseError, match="the night measured error_rate"):
        replay(night, [parse_guard("queue_depth above 5 for 1m")])
    with pytest.raises(RehearseError, match="write it as"):
        parse_guard("error rate is too high")


def test_the_command_line(tmp_path, clean_env):
    res = subprocess.run(shipdeck_cmd("rehearse", str(V1), "--guard", "error_rate above 0.005 for 20s",
                                      "--guard", "latency_p95 above 5000 for 1m pause"),
                         capture_output=True, text=True, env=clean_env, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert "12m25s into the night: rollback: error_rate[green]" in res.stdout
    assert "earlier than the recorded night" in res.stdout
    bad = subprocess.run(shipdeck_cmd("rehearse", str(V1), "--guard", "cpu above lots"), capture_output=True,
                         text=True, env=clean_env, cwd=ROOT)
    assert bad.returncode == 2 and "write it as" in bad.stderr


def test_a_source_without_history_is_named_never_a_traceback(tmp_path, clean_env):
    from tests.backends.conftest import free_port

    plan = tmp_path / "plan.yaml"
    plan.write_text(f"""version: 1
name: down
backends:
  metrics: [{{type: prometheus, url: "http://127.0.0.1:{free_port()}"}}]
metrics:
  error_rate: {{query: app_error_ratio, unit: ratio}}
guards:
  - {{metric: error_rate, above: 0.02, for: 2m}}
phases: [{{name: A}}]
""")
    res = subprocess.run(shipdeck_cmd("rehearse", str(plan), "--last", "1h"), capture_output=True, text=True,
                         env=clean_env, cwd=ROOT)
    assert res.returncode == 2 and "metrics source 'prometheus' did not give its history" in res.stderr
    assert "Traceback" not in res.stderr
    unconnected = tmp_path / "imported.yaml"  # as `shipdeck import` leaves a runbook's metrics
    unconnected.write_text(plan.read_text().replace(plan.read_text().splitlines()[3],
                                                    "  metrics: [{name: runbook, type: unconnected}]"))
    res = subprocess.run(shipdeck_cmd("rehearse", str(unconnected), "--last", "1h"), capture_output=True, text=True,
                         env=clean_env, cwd=ROOT)
    assert res.returncode == 2 and "metrics source 'runbook' (unconnected) keeps no history" in res.stderr


def test_history_judges_windows_that_end_between_samples_and_suggests_past_negative_levels():
    from backends.base import Sample
    from tui.engine.history import GuardHistory, judge
    from tui.engine.plan import load_plan_text

    loaded = load_plan_text("version: 1\nname: h\nbackends: {metrics: [{type: simulated}]}\n"
                            "metrics: {error_rate: {unit: ratio}}\n"
                            "guards:\n  - {metric: error_rate, above: 0.02, for: 7s}\nsettings: {sample_interval: 5s}\n"
                            "phases: [{name: A}]\n", "h.yaml")
    values = [0.001, 0.05, 0.05, 0.001, 0.001]
    by_ts = {float(i * 5): {"error_rate": Sample(v, float(i * 5))} for i, v in enumerate(values)}
    (h,) = judge(loaded, by_ts, 0.0, 25.0, 5.0)
    assert h.trips == [12.0]  # the breach began at 5 s; the engine acts at 12 s, before the next sample
    g = loaded.plan.guards[0]
    assert GuardHistory(g, "", sustained=-10.0).suggestion(0.2) == -8.0  # past -10 upward, for `above`
    below = g.model_copy(update={"above": None, "below": 1.0})
    assert GuardHistory(below, "", sustained=-10.0).suggestion(0.2) == -12.0


def test_a_relative_guard_is_replayed_in_its_own_words(night):
    plan = plan_of(night)
    rel = parse_guard("error_rate above 0.01 for 1m").model_copy(
        update={"above": None, "worse_than": "blue", "by": "20%"})
    assert verdict(replay(night, [rel]), [rel], plan)[0] == "guards replayed: error_rate above blue +20% for 1m → rollback"


def test_a_plan_rehearsed_with_a_guard_on_a_metric_it_does_not_measure_is_refused(clean_env):
    res = subprocess.run(shipdeck_cmd("rehearse", str(ROOT / "examples" / "demo.yaml"), "--last", "10m",
                                      "--guard", "queue_depth above 5 for 1m"),
                         capture_output=True, text=True, env=clean_env, cwd=ROOT)
    assert res.returncode == 2 and "--guard on 'queue_depth': the plan measures error_rate" in res.stderr
    assert "Traceback" not in res.stderr
