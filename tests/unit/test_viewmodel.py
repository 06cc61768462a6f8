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
