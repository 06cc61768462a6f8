import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, shipdeck_cmd
from tui.engine.plan import PlanError, format_duration, load_plan, load_plan_text, parse_duration

DEMO = ROOT / "examples" / "demo.yaml"

MINIMAL = """\
version: 1
name: tiny
metrics:
  error_rate: {unit: ratio}
backends:
  metrics: [{type: simulated}]
guards:
  - {metric: error_rate, above: 0.01, for: 1m}
phases:
  - name: Canary
    steps:
      - shift: 10
      - bake: 5m
"""


def issues_of(text: str) -> list[str]:
    with pytest.raises(PlanError) as e:
        load_plan_text(text, "plan.yaml")
    return [str(i) for i in e.value.issues]


def test_demo_plan_loads():
    loaded = load_plan(DEMO)
    assert loaded.plan.name == "checkout v2.4.0 canary"
    assert [p.name for p in loaded.plan.phases][3:6] == ["Canary 10%", "Canary 50%", "Canary 100%"]
    assert loaded.backends["traffic"][0].type == "simulated"


def test_minimal_plan_defaults():
    plan = load_plan_text(MINIMAL, "p.yaml").plan
    assert plan.guards[0].for_ == 60
    assert plan.guards[0].no_data == "hold"
    assert plan.phases[0].steps[1].bake == 300  # type: ignore[union-attr]


def test_duplicate_unknown_and_bad_duration_all_reported_with_positions():
    text = MINIMAL.replace("name: tiny\n", "name: tiny\nname: again\nwindoww: x\n").replace("bake: 5m", "bake: 5 minutes")
    out = issues_of(text)
    assert len(out) == 3, out
    assert out[0] == "plan.yaml:3:1: name: duplicate key 'name' (first defined at line 2)"
    assert out[1] == "plan.yaml:4:1: windoww: unknown key 'windoww'; did you mean 'window'?"
    assert out[2].startswith("plan.yaml:15:15: phases[0].steps[1].bake: bad duration '5 minutes'")


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        (("name: tiny", "name: NO"), "plan.yaml:2:7: name: 'NO' is a boolean in YAML 1.1"),
        (("shift: 10", "shift: 110"), "plan.yaml:12:16: phases[0].steps[0].shift: a shift is a whole percentage from 0 "
                                      "to 100, like `shift: 10`; got 110"),
        (("shift: 10", "shift: -5"), "phases[0].steps[0].shift: a shift is a whole percentage from 0 to 100, like "
                                     "`shift: 10`; got -5"),
        (("metric: error_rate,", "metric: errors,"), "guards[0].metric: guard on undefined metric 'errors'"),
        (("for: 1m", "for: 60"), "guards[0].for: duration 60 has no unit"),
        (("- shift: 10", "- shove: 10"), "phases[0].steps[0]: a step is a map with exactly one of"),
        (("above: 0.01", "above: 0.01, below: 0.5"), "guards[0]: a guard needs exactly one of 'above', 'below' or 'worse_than'"),
        (("version: 1", "version: 2"), "version: Input should be 1"),
        (("type: simulated", "type: carrier-pigeon"), "unknown metrics backend type 'carrier-pigeon'; known: "),
    ],
)
def test_rejections(mutation, expected):
    out = issues_of(MINIMAL.replace(*mutation))
    assert any(expected in line for line in out), out


def test_empty_and_non_map_plans():
    assert "empty plan" in issues_of("")[0]
    assert "empty plan" in issues_of("# only a comment\n")[0]
    assert "a plan is a map" in issues_of("- a\n- b\n")[0]


def test_yaml_syntax_error_has_position():
    out = issues_of("version: 1\nname: [unclosed\nphases: []\n")
    assert out[0].startswith("plan.yaml:") and "YAML syntax" in out[0]


def test_non_utf8_and_binary(tmp_path: Path):
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("version: 1\nname: Validação\n".encode("latin-1"))
    with pytest.raises(PlanError) as e:
        load_plan(latin)
    assert str(e.value.issues[0]).startswith(f"{latin}:2:13: not valid UTF-8")
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    with pytest.raises(PlanError) as e:
        load_plan(binary)
    assert "binary file" in str(e.value)


@pytest.mark.parametrize(
    "text",
    ["[", "{a: 1", "version: 1\nphases: 7\n", "version: 1\nname: x\nphases:\n  - 3\n", "\t\x01", "? [a]\n: b\n",
     "version: 1\nname: x\nphases: [{name: a, steps: [{run: {}}]}]\n", "a: &x [*x]\n", "version: !!binary AAA=\n"],
)
def test_no_traceback_for_odd_input(text):
    with pytest.raises(PlanError) as e:
        load_plan_text(text, "odd.yaml")
    assert all(str(i).startswith("odd.yaml:") for i in e.value.issues)


def test_durations_round_trip():
    for text, secs in [("30s", 30), ("5m", 300), ("1h30m", 5400), ("250ms", 0.25), ("2h", 7200), ("7d", 604800)]:
        assert parse_duration(text) == secs
        assert parse_duration(format_duration(secs, exact=True)) == secs
    for bad in ["5 minutes", "5", "", "m", "1.5m", "10x", "31d"]:
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_check_cli_exit_codes(tmp_path: Path, clean_env):
    ok = subprocess.run(shipdeck_cmd("check", str(DEMO), "--offline"), capture_output=True, text=True, env=clean_env, cwd=ROOT)
    assert ok.returncode == 0, ok.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL.replace("name: tiny\n", "name: tiny\nname: twice\nowner: me\n").replace("bake: 5m", "bake: 5 minutes"))
    res = subprocess.run(shipdeck_cmd("check", str(bad), "--offline"), capture_output=True, text=True, env=clean_env, cwd=ROOT)
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith(str(bad))]
    assert len(lines) == 3, res.stderr
    assert "Traceback" not in res.stderr
    assert all(ln.split(":")[1].isdigit() and ln.split(":")[2].isdigit() for ln in lines)


def test_check_online_runs_preflight(clean_env):
    res = subprocess.run(shipdeck_cmd("check", str(DEMO)), capture_output=True, text=True, env=clean_env, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert "ok" in res.stdout and "(offline)" not in res.stdout


def test_backends_are_listed_from_entry_points(clean_env):
    res = subprocess.run(shipdeck_cmd("backends"), capture_output=True, text=True, env=clean_env, cwd=ROOT)
    assert res.returncode == 0
    for line in ("traffic:", "  haproxy", "  nginx", "  command", "  simulated", "metrics:", "  prometheus",
                 "  host", "logs:", "  file", "notify:", "  slack", "  webhook", "probes:", "  http"):
        assert line in res.stdout, line
    listed: dict[str, list[str]] = {}
    for line in res.stdout.splitlines():
        if line.endswith(":"):
            kind = line[:-1]
        else:
            listed.setdefault(kind, []).append(line.split()[1])
    for kind in ("traffic", "metrics", "logs"):
        assert f"backends.kubernetes:Kubernetes{kind.title()}" in listed[kind]


def test_the_kubernetes_example_passes_check_offline(clean_env):
    res = subprocess.run(shipdeck_cmd("check", "--offline", "examples/kubernetes-gateway.yaml"),
                         capture_output=True, text=True, env=clean_env, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert "6 phases, 3 guards, traffic via kubernetes (offline)" in res.stdout


@pytest.mark.parametrize(("old", "new", "message"), [
    ("above: 0.01", "above: true", "plan.yaml:8:33: guards[0].above: expected a number, got true"),
    ("above: 0.01", "above: 7", "plan.yaml:8:33: guards[0].above: 7 is not a ratio (0 to 1), so this guard can "
                                "never act: did you mean 7%? write 0.07"),
    ("phases:", "settings: {sample_interval: 0s}\nphases:", "plan.yaml:9:29: settings.sample_interval: must be "
                                                             "at least 100ms"),
])
def test_check_refuses_what_can_never_work(old, new, message):
    assert issues_of(MINIMAL.replace(old, new)) == [message]


def test_a_percent_threshold_past_100_and_the_evidence_settings():
    [issue] = issues_of(MINIMAL.replace("unit: ratio", "unit: percent").replace("above: 0.01", "above: 250"))
    assert "250 is not a percentage (0 to 100)" in issue
    settings = load_plan_text(MINIMAL + "settings: {sample_interval: 15s, hold_limit: 2m}\n", "p.yaml").plan.settings
    assert settings.grace == 150.0 and settings.hold_limit == 120.0  # ten samples when they are 15 s apart
    assert load_plan_text(MINIMAL, "p.yaml").plan.settings.grace == 60.0  # at least a minute


def test_a_metric_says_which_side_it_measures_or_its_query_does():
    plan = load_plan_text(MINIMAL.replace("error_rate: {unit: ratio}", (
        "error_rate: {unit: ratio, query: 'sum(rate(x{track=\"canary\",code=~\"5..\"}[1m])) / "
        "sum(rate(x{track=\"canary\"}[1m]))'}\n  p95: {unit: ms, query: 'p95{version=\"stable\"}'}\n"
        "  rps: {unit: rps, query: 'sum by (colour) (rate(x[1m]))'}\n  cpu: {unit: percent, side: green}")),
        "p.yaml").plan
    assert [m.measures for m in plan.metrics.values()] == ["green", "blue", "all", "green"]
    assert "series" in issues_of(MINIMAL.replace("for: 1m}", "for: 1m, series: canary}"))[0]


def test_check_refuses_a_window_wholly_in_the_past_and_warns_four_eyes_on_a_shared_account(tmp_path, clean_env):
    plan = tmp_path / "p.yaml"
    plan.write_text(MINIMAL.replace("phases:", "window: {start: '2020-01-01T22:00', end: '2020-01-02T01:00'}\nphases:"))
    res = subprocess.run(shipdeck_cmd("check", str(plan), "--offline"), capture_output=True, text=True,
                         env=clean_env, cwd=ROOT)
    assert res.returncode == 2 and "window.end: the window ended at 2020-01-02T01:00 UTC: it is wholly in the past" \
        in res.stderr
    run = subprocess.run(shipdeck_cmd("run", str(plan), "--headless", "--yes", "--journal", str(tmp_path / "j.jsonl")),
                         capture_output=True, text=True, env=clean_env, cwd=ROOT)
    assert run.returncode == 2 and "wholly in the past" in run.stderr and not (tmp_path / "j.jsonl").exists()
    plan.write_text(MINIMAL.replace("      - bake: 5m", "      - gate: DB owner?\n        four_eyes: true"))
    res = subprocess.run(shipdeck_cmd("check", str(plan), "--offline"), capture_output=True, text=True,
                         env={**clean_env, "SHIPDECK_OPERATOR": "alice"}, cwd=ROOT)
    assert res.returncode == 0 and "four_eyes: warning: four eyes cannot be verified on a shared account" in res.stderr


def test_the_package_declares_its_licence_the_way_setuptools_wants_it():
    """Installing printed setuptools' own deprecation warning about a TOML-table licence."""
    import tomllib

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["license"] == "MIT"  # an SPDX expression, not {text = ...}
    assert "setuptools>=77" in meta["build-system"]["requires"]


RULES_PLAN = """\
version: 1
name: rules
window: {start: "22:00", end: "02:00", timezone: Europe/Lisbon}
backends:
  metrics: [{type: simulated}]
metrics:
  error_rate: {unit: ratio, query: 'sum(rate(errors{track="canary"}[1m]))'}
  latency_p95: {unit: ms, side: blue}
  rps: {unit: rps}
guards:
  - {metric: error_rate, above: 0.01, for: 2m}
  - {metric: latency_p95, worse_than: blue, by: 20%, worse: higher, for: 90s, action: pause}
  - {metric: rps, worse_than: blue, by: 50, worse: lower}
  - {metric: rps, below: 10, no_data: ignore, series: all}
settings: {sample_interval: 250ms, max_log_lines: 300}
phases:
  - name: Canary
    duration: 1h30m
    steps: [{shift: 10}, {bake: 10m}, {gate: ok?, four_eyes: true}]
"""


def test_a_screen_reads_the_plan_the_engine_validated_with_the_same_rules():
    """The screen's PlanData (plain data over the socket, no pydantic) answers as the validated models do."""
    import json

    from tui.engine.plandata import PlanData, outside_window

    plan = load_plan_text(RULES_PLAN, "rules.yaml").plan
    data = PlanData(json.loads(json.dumps(plan.screen_data())))  # as it crosses a socket or a pipe
    assert len(data.guards) == len(plan.guards) == 4
    for model, plain in zip(plan.guards, data.guards, strict=True):
        assert (plain.metric, plain.op, plain.threshold, plain.relative, plain.for_, plain.action, plain.series) == (
            model.metric, model.op, model.threshold, model.relative, model.for_, model.action, model.series)
        if model.relative:
            assert plain.margin_words() == model.margin_words() and plain.limit(200.0) == model.limit(200.0)
        assert plain.breached(150.0, 100.0) == model.breached(150.0, 100.0)
    assert [(n, m.unit, m.measures) for n, m in data.metrics.items()] == [
        (n, m.unit, m.measures) for n, m in plan.metrics.items()] == [
        ("error_rate", "ratio", "green"), ("latency_p95", "ms", "blue"), ("rps", "rps", "all")]
    assert data.settings.sample_interval == 0.25 and data.settings.max_log_lines == 300
    assert data.phases[0].duration == 5400.0 and data.phases[0].steps[2].four_eyes is True
    assert [hasattr(s, "shift") for s in data.phases[0].steps] == [True, False, False]
    for now in (1_700_000_000.0, 1_700_040_000.0):
        assert outside_window(data.window, now) == outside_window(plan.window, now)
    with pytest.raises(AttributeError):
        _ = data.phases[0].steps[1].shift
