from datetime import datetime
from zoneinfo import ZoneInfo

from tui import viewmodel as vm
from tui.engine.plan import load_plan_text

PLAN = """\
version: 1
name: w
window: {{start: "{start}", end: "{end}", timezone: Europe/Lisbon}}
phases:
  - {{name: A, duration: 10m}}
  - {{name: B, start: "23:30", duration: 5m}}
  - {{name: C}}
"""


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Europe/Lisbon")).timestamp()


def test_window_left_across_midnight():
    plan = load_plan_text(PLAN.format(start="22:00", end="01:30"), "w.yaml").plan
    assert vm.window_left(plan, at("2026-11-22T23:00")) == "window: 2h30m left"
    assert vm.window_left(plan, at("2026-11-23T00:45")) == "window: 45m left"
    plan = load_plan_text(PLAN.format(start="2026-11-22T22:00", end="2026-11-22T23:00"), "w.yaml").plan
    assert vm.window_left(plan, at("2026-11-22T23:05")) == "window closed 5m ago"


def test_planned_starts_chain_durations_and_fixed_times(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    import time

    time.tzset()
    plan = load_plan_text(PLAN.format(start="22:00", end="01:30"), "w.yaml").plan
    starts = vm.planned_starts(plan, datetime(2026, 11, 22, 22, 0).timestamp())
    assert starts == ["22:00", "23:30", "23:35"]


def test_next_weight_follows_the_plan():
    plan = load_plan_text(PLAN.format(start="22:00", end="01:30").replace(
        "- {name: A, duration: 10m}", "- {name: A, steps: [{shift: 10}, {shift: 50}, {shift: 100}]}"), "w.yaml").plan
    assert [vm.next_weight(plan, w) for w in (None, 10, 30, 100)] == [10, 50, 50, None]


def test_a_relative_guard_is_shown_against_blue_on_its_chart_and_its_row():
    from backends.base import Sample
    from tui.engine.guards import GuardSet
    from widgets.guards import guard_line

    plan = load_plan_text(
        "version: 1\nname: r\nbackends: {metrics: [{type: simulated}]}\nmetrics: {latency_p95: {unit: ms}}\n"
        "guards:\n  - {metric: latency_p95, worse_than: blue, by: 20%, for: 1m}\nphases: [{name: Canary}]\n",
        "r.yaml").plan
    store = vm.SeriesStore()
    store.add(100.0, {"latency_p95": {"value": 190.0, "series": {"blue": 180.0, "green": 260.0}}})
    c = vm.chart(plan, "latency_p95", store, 100.0, 30.0, judged="green")
    assert c.threshold == 216.0 and c.threshold_label == "> blue +20% on green → rollback"  # the line follows blue
    gs = GuardSet(plan)
    gs.set_traffic(10, 0.0)
    gs.observe({"latency_p95": Sample(190.0, 100.0, {"blue": 180.0, "green": 260.0})}, 100.0, "Canary", True)
    (row,) = vm.guard_views(plan, [g.to_dict() for g in gs.status])
    assert str(guard_line(row)).startswith("▲ latency_p95[green] 260ms > 216ms (blue 180ms +20%) for 0s of 1m")
    (before,) = vm.guard_views(plan, vm.initial_guards(plan))  # before any sample: the rule in words
    assert "(blue +20%)" in str(guard_line(before))


def test_a_relative_guard_read_back_from_a_journal_takes_its_bound_from_the_last_readings():
    from widgets.guards import guard_line

    plan = load_plan_text(
        "version: 1\nname: r\nbackends: {metrics: [{type: simulated}]}\nmetrics: {latency_p95: {unit: ms}}\n"
        "guards:\n  - {metric: latency_p95, worse_than: blue, by: 20%, for: 1m}\nphases: [{name: Canary}]\n",
        "r.yaml").plan
    journalled = {"index": 0, "metric": "latency_p95", "op": "above", "threshold": 0.2, "window": 60.0,
                  "action": "rollback", "side": "green", "relative": "blue +20%", "value": 260.0, "state": "breaching",
                  "note": "", "breach_for": 10.0, "silenced_until": None}
    (row,) = vm.guard_views(plan, [journalled], last={"latency_p95": {"value": 190.0,
                                                                     "series": {"blue": 180.0, "green": 260.0}}})
    assert "260ms > 216ms (blue 180ms +20%)" in str(guard_line(row))


def test_two_relative_guards_on_one_metric_each_show_their_own_bound():
    from widgets.guards import guard_line

    plan = load_plan_text(
        "version: 1\nname: r\nbackends: {metrics: [{type: simulated}]}\nmetrics: {latency_p95: {unit: ms}}\n"
        "guards:\n  - {metric: latency_p95, worse_than: blue, by: 20%, for: 1m, action: pause}\n"
        "  - {metric: latency_p95, worse_than: blue, by: 50%, for: 1m}\nphases: [{name: Canary}]\n", "r.yaml").plan
    rows = [{"index": i, "metric": "latency_p95", "op": "above", "threshold": m, "window": 60.0, "action": a,
             "side": "green", "relative": f"blue +{p}%", "value": 260.0, "state": "ok", "note": "", "breach_for": 0.0}
            for i, (m, a, p) in enumerate([(0.2, "pause", 20), (0.5, "rollback", 50)])]
    views = vm.guard_views(plan, rows, last={"latency_p95": {"value": 190.0, "series": {"blue": 200.0, "green": 260.0}}})
    assert ["240ms (blue 200ms +20%)" in str(guard_line(views[0])), "300ms (blue 200ms +50%)" in str(guard_line(views[1]))] \
        == [True, True]
