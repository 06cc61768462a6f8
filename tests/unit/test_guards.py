import math

from backends.base import NoData, Sample
from tui.engine.guards import GuardSet
from tui.engine.plan import load_plan_text


def guard_set(metrics: str, guard: str, settings: str = "", phases: str = "[{name: Canary}]") -> GuardSet:
    """The GuardSet of a one-guard plan on the simulator."""
    text = (f"version: 1\nname: g\nbackends: {{metrics: [{{type: simulated}}]}}\nmetrics: {metrics}\n"
            f"guards:\n  - {guard}\n{settings}phases: {phases}\n")
    return GuardSet(load_plan_text(text, "g.yaml").plan)


def guards(no_data="hold", window="1m", phases=""):
    return guard_set("{error_rate: {unit: ratio}}",
                     f"{{metric: error_rate, above: 0.01, for: {window}, action: rollback, no_data: {no_data}{phases}}}",
                     phases="[{name: Canary}, {name: Other}]")


def feed(gs, values, start=0.0, step=10.0, phase="Canary"):
    fired_at = []
    for i, v in enumerate(values):
        t = start + i * step
        s = NoData("none", t) if v is None else Sample(v, t)
        if gs.observe({"error_rate": s}, t, phase, True):
            fired_at.append(t)
    return fired_at


def test_sustained_breach_fires_once_after_full_window():
    gs = guards()
    fired = feed(gs, [0.02] * 10)  # samples at 0..90s
    assert fired == [60.0]
    st = gs.status[0]
    assert st.state == "tripped" and len(st.breach_values) == 10 and st.breach_values[0] == (0.0, 0.02)


def test_flap_never_fires():
    gs = guards()
    # 50 s of breach, one healthy sample, again: never a full minute of breach.
    assert feed(gs, ([0.05] * 6 + [0.001]) * 6) == []
    assert gs.status[0].state == "ok"


def test_no_data_rules():
    seq = [0.02, 0.02, None, None, None, 0.02, 0.02, 0.02, 0.02]
    assert feed(guards("hold"), seq) == [60.0]  # the gap neither breaks nor completes the window
    assert feed(guards("fail"), [None] * 8) == [60.0]  # missing data counts as a breach
    assert feed(guards("ignore"), [0.02, 0.02, None, 0.02, 0.02, 0.02, 0.02, 0.02]) == []  # gap resets
    gs = guards("hold")
    feed(gs, [None])  # the source failed: blind at once
    assert gs.status[0].state == "blind" and gs.status[0].value is None
    assert gs.holding("Canary", "blind") == ["error_rate"]


def test_phase_scoped_guard_is_inactive_elsewhere():
    gs = guards(phases=", phases: [Canary]")
    assert feed(gs, [0.5] * 10, phase="Other") == []
    assert gs.status[0].state == "inactive"
    assert feed(gs, [0.5] * 10, phase="Canary") == [60.0]


def test_summary_reads_like_the_screen():
    gs = guards()
    feed(gs, [0.023] * 5)
    st = gs.status[0]
    assert st.summary() == "error_rate[all] 0.023 > 0.01 for 40s of 1m"
    assert not math.isnan(st.breach_for)


def test_a_breach_reads_in_the_metrics_unit():
    from tui.engine.guards import GuardStatus

    g = GuardStatus(0, "error_rate", "above", 0.01, 300, "rollback", "hold", value=0.06164, breach_for=300)
    assert g.summary("ratio") == "error_rate[all] 6.2% > 1% for 5m of 5m"  # as on screen; not 0.06164 > 0.01
    assert GuardStatus(1, "latency_p95", "above", 800, 60, "pause", "hold", side="green", value=1234.0,
                       breach_for=60).summary("ms") == "latency_p95[green] 1.2s > 800ms for 1m of 1m"


def plan_guards(metric: str, guard: str = "", grace: str = "30s"):
    return guard_set(f"{{error_rate: {{unit: ratio{metric}}}}}", f"{{metric: error_rate, above: 0.01, for: 20s{guard}}}",
                     settings=f"settings: {{sample_interval: 5s, no_data_grace: {grace}}}\n")


def look(gs, reading, t, green=None):
    if green is not None:
        gs.set_traffic(green, t)
    return gs.observe({"error_rate": reading}, t, "Canary", True)


def test_a_ratio_of_a_side_without_traffic_is_no_traffic_yet_then_waits_then_is_blind():
    gs = plan_guards(", query: 'sum(rate(req{colour=\"green\",code=\"5xx\"}[15s])) / "
                     "sum(rate(req{colour=\"green\"}[15s]))'")
    nan = NoData("NaN", 0, answered=True)
    st = gs.status[0]
    look(gs, nan, 0.0, green=0)
    assert (st.side, st.state) == ("green", "no-traffic") and st.note == "no traffic yet: green carries none"
    assert gs.evidence("Canary") == {"guards": [], "awaiting": [], "no_traffic": ["error_rate"]}
    look(gs, nan, 100.0, green=10)  # the first shift: green's grace starts now
    assert st.state == "awaiting" and st.note == "no data yet: green has had traffic 0s; blind at 30s"
    look(gs, nan, 129.0)
    assert st.state == "awaiting"
    look(gs, nan, 131.0)
    assert st.state == "blind" and st.note.startswith("BLIND: no data 31s after green got traffic")
    assert gs.evidence("Canary")["guards"] == ["error_rate"]
    look(gs, Sample(0.002, 135.0), 135.0)
    assert (st.state, st.value) == ("ok", 0.002) and gs.evidence("Canary") == {"guards": [], "awaiting": [],
                                                                              "no_traffic": []}


def test_per_colour_series_are_judged_on_green_unless_the_guard_says_otherwise():
    blend = Sample(0.0089, 0.0, {"blue": 0.0, "green": 0.089})  # a 10% canary failing 8.9% of its requests
    gs = plan_guards("")
    assert look(gs, blend, 0.0, green=10) == [] and gs.status[0].state == "breaching"
    assert gs.status[0].side == "green" and gs.status[0].value == 0.089
    assert look(gs, blend, 20.0) and gs.status[0].summary("ratio").startswith("error_rate[green] 8.9% > 1%")
    everything = plan_guards("", guard=", series: all")
    look(everything, blend, 0.0, green=10)
    assert (everything.status[0].side, everything.status[0].state) == ("all", "ok")


def test_green_absent_from_a_per_colour_answer_is_no_traffic_while_green_has_none():
    gs = plan_guards("")
    only_blue = Sample(0.001, 0.0, {"blue": 0.001})
    look(gs, only_blue, 0.0, green=0)
    assert gs.status[0].state == "no-traffic"
    gs.set_traffic(10, 5.0)
    gs.reclassify(5.0)  # between samples: the shift itself starts the wait for evidence
    assert gs.status[0].state == "awaiting" and gs.evidence("Canary")["awaiting"] == ["error_rate"]


def test_a_failing_source_is_blind_whatever_the_traffic():
    gs = plan_guards("")
    look(gs, NoData("connection refused", 0.0), 0.0, green=0)
    assert gs.status[0].state == "blind" and gs.status[0].note == "BLIND: connection refused"


def test_ignore_never_holds_and_fail_breaches_only_when_blind():
    for rule, holds in (("ignore", []), ("fail", ["error_rate"]), ("hold", ["error_rate"])):
        gs = plan_guards("", guard=f", no_data: {rule}")
        look(gs, Sample(0.001, 0.0, {"blue": 0.001}), 0.0, green=10)
        assert gs.holding("Canary", "awaiting") == holds, rule
        assert look(gs, NoData("x", 1.0, answered=True), 1.0) == [] and gs.status[0].state == "awaiting", rule


def test_a_series_that_had_data_and_goes_empty_is_blind_at_once():
    gs = plan_guards("")
    look(gs, Sample(0.001, 0.0, {"blue": 0.001, "green": 0.002}), 0.0, green=10)
    look(gs, NoData("empty result", 1.0, answered=True), 1.0)
    st = gs.status[0]
    assert st.state == "blind" and st.note == "BLIND: empty result (the series had data from this traffic before)"
    gs.set_traffic(0, 2.0)  # rolled back, then a new canary: its warm-up gets the grace again
    gs.set_traffic(10, 3.0)
    look(gs, NoData("empty result", 4.0, answered=True), 4.0)
    assert st.state == "awaiting"


# ---------------------------------------------------------------- relative guards: green judged against blue


def relative(extra="", window="1m"):
    gs = guard_set("{latency_p95: {unit: ms}}",
                   f"{{metric: latency_p95, worse_than: blue, by: 20%, for: {window}, action: rollback{extra}}}")
    gs.set_traffic(10, 0.0)
    return gs


def feed_pairs(gs, pairs, step=10.0):
    fired_at = []
    for i, (green, blue) in enumerate(pairs):
        t = i * step
        if gs.observe({"latency_p95": Sample((green + blue) / 2, t, {"green": green, "blue": blue})}, t, "Canary",
                      True):
            fired_at.append(t)
    return fired_at


def test_a_relative_guard_trips_when_green_stays_worse_than_blue_by_its_margin():
    gs = relative()
    # Blue wanders 180-220 ms; green at +15% never trips, green at +30% for a minute does.
    assert feed_pairs(gs, [(b * 1.15, b) for b in [180, 200, 220] * 4]) == []
    gs = relative()
    assert feed_pairs(gs, [(b * 1.3, b) for b in [180, 200, 220] * 2 + [180]]) == [60.0]
    st = gs.status[0]
    assert (st.state, st.baseline, st.limit) == ("tripped", 180, 216)
    assert st.summary("ms") == "latency_p95[green] 234ms > 216ms (blue 180ms +20%) for 1m of 1m"
    assert st.to_dict()["relative"] == "blue +20%" and st.to_dict()["baseline"] == 180


def test_a_relative_guard_has_nothing_to_judge_without_blue():
    gs = relative()
    gs.set_traffic(100, 0.0)  # all on green: no baseline
    feed_pairs(gs, [(500, 0)])
    assert gs.status[0].state == "no-traffic" and "no baseline" in gs.status[0].note
    gs = relative()
    gs.observe({"latency_p95": Sample(300, 0.0, {"green": 300})}, 0.0, "Canary", True)  # blue's series missing
    assert gs.status[0].state in ("awaiting", "blind") and gs.status[0].value is None


def test_the_mann_whitney_judge_ignores_one_spike_and_trips_on_a_shifted_window():
    import random

    rng = random.Random(7)
    spiky = [(200 + rng.gauss(0, 10), 200 + rng.gauss(0, 10)) for _ in range(30)]
    spiky[20] = (2000, 200)  # one bad sample
    gs = relative(", test: mann-whitney, min_samples: 12", window="5m")
    assert feed_pairs(gs, spiky) == []
    worse = [(260 + rng.gauss(0, 10), 200 + rng.gauss(0, 10)) for _ in range(30)]
    gs = relative(", test: mann-whitney, min_samples: 12", window="5m")
    fired = feed_pairs(gs, worse)
    assert fired == [110.0]  # as soon as twelve samples a side say so, not after another window
    gs = relative(", test: mann-whitney, min_samples: 12", window="5m")
    feed_pairs(gs, worse[:5])
    assert gs.status[0].note == "collecting: 5 of 12 samples a side"


def test_mann_whitney_p_values():
    from tui.engine.guards import mann_whitney_greater

    assert mann_whitney_greater([10, 11, 12, 13, 14, 15, 16, 17, 18, 19], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) < 0.001
    assert 0.4 < mann_whitney_greater([1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6]) < 0.6
    assert mann_whitney_greater([1, 2, 3], [10, 11, 12]) > 0.9


def test_relative_guard_definitions_are_checked():
    import pytest

    from tui.engine.plan import PlanError

    for bad, why in [("worse_than: blue", "needs 'by'"), ("worse_than: blue, by: lots", "write a percentage like 20%"),
                     ("above: 1, worse_than: blue, by: 5%", "exactly one of"), ("above: 1, by: 5%", "belong to")]:
        text = ("version: 1\nname: r\nbackends: {metrics: [{type: simulated}]}\nmetrics: {latency_p95: {unit: ms}}\n"
                f"guards:\n  - {{metric: latency_p95, {bad}, for: 1m}}\nphases: [{{name: A}}]\n")
        with pytest.raises(PlanError) as e:
            load_plan_text(text, "r.yaml")
        assert why in str(e.value), (bad, str(e.value))


def test_a_relative_guard_on_a_metric_without_colours_is_blind_not_judged_against_itself():
    gs = relative()
    gs.observe({"latency_p95": Sample(500.0, 0.0)}, 0.0, "Canary", True)
    st = gs.status[0]
    assert (st.state, st.value) == ("blind", None) and "no per-colour series" in st.note


def test_a_window_judged_again_between_samples_adds_no_sample_to_the_test():
    gs = relative(", test: mann-whitney, min_samples: 3", window="1m")
    reading = {"latency_p95": Sample(300.0, 0.0, {"green": 300.0, "blue": 200.0})}
    for now in (0.0, 0.4, 0.8):  # one sample, judged three times
        gs.observe(reading, now, "Canary", True)
    assert gs.status[0].note == "collecting: 1 of 3 samples a side"


def test_relative_guard_definitions_refuse_a_negative_or_missing_margin_and_a_test_without_room():
    import pytest

    from tui.engine.plan import PlanError

    def plan(guard: str) -> str:
        return ("version: 1\nname: r\nbackends: {metrics: [{type: simulated}]}\nmetrics: {latency_p95: {unit: ms}}\n"
                f"guards:\n  - {{metric: latency_p95, {guard}}}\nsettings: {{sample_interval: 5s}}\n"
                "phases: [{name: A}]\n")

    for bad, why in [("worse_than: blue, by: -5, for: 1m", "zero or more"),
                     ("worse_than: blue, by: .nan, for: 1m", "is not a finite number"),
                     ("worse_than: blue, by: 20%, test: mann-whitney", "must hold min_samples (10) samples")]:
        with pytest.raises(PlanError) as e:
            load_plan_text(plan(bad), "r.yaml")
        assert why in str(e.value), (bad, str(e.value))
    load_plan_text(plan("worse_than: blue, by: 20%, test: mann-whitney, for: 50s"), "r.yaml")
