import math

from backends.base import NoData, Sample
from tui.engine.guards import GuardSet
from tui.engine.plan import load_plan_text


def guards(no_data="hold", window="1m", phases=""):
    text = f"""\
version: 1
name: g
backends: {{metrics: [{{type: simulated}}]}}
metrics: {{error_rate: {{unit: ratio}}}}
guards:
  - {{metric: error_rate, above: 0.01, for: {window}, action: rollback, no_data: {no_data}{phases}}}
phases: [{{name: Canary}}, {{name: Other}}]
"""
    return GuardSet(load_plan_text(text, "g.yaml").plan)


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
    feed(gs, [float("nan")])
    assert gs.status[0].state == "no-data" and gs.status[0].value is None


def test_phase_scoped_guard_is_inactive_elsewhere():
    gs = guards(phases=", phases: [Canary]")
    assert feed(gs, [0.5] * 10, phase="Other") == []
    assert gs.status[0].state == "inactive"
    assert feed(gs, [0.5] * 10, phase="Canary") == [60.0]


def test_summary_reads_like_the_screen():
    gs = guards()
    feed(gs, [0.023] * 5)
    st = gs.status[0]
    assert st.summary() == "error_rate 0.023 > 0.01 for 40s of 1m"
    assert not math.isnan(st.breach_for)


def test_a_breach_reads_in_the_metrics_unit():
    from tui.engine.guards import GuardStatus

    g = GuardStatus(0, "error_rate", "above", 0.01, 300, "rollback", "hold", value=0.06164, breach_for=300)
    assert g.summary("ratio") == "error_rate 6.2% > 1% for 5m of 5m"  # as on screen; not 0.06164 > 0.01
    assert GuardStatus(1, "latency_p95", "above", 800, 60, "pause", "hold", value=1234.0,
                       breach_for=60).summary("ms") == "latency_p95 1.2s > 800ms for 1m of 1m"
