"""The status and alarm lines as plain text, from a run's state."""

from tests.tui.conftest import pilot_plan
from tui.engine.initial import initial_state
from tui.engine.plandata import PlanData
from tui.statusline import Seen, status_line, waiting_line


def test_a_bake_resumed_minutes_ago_says_the_same_time_left_on_both_lines():
    """The engine's words hold the time left when the bake resumed; the alarm line counts down with the status
    line's countdown instead of repeating them."""
    loaded = pilot_plan()
    s = initial_state(loaded.plan).to_dict()
    now = 1_795_000_000.0
    s.update(status="running", phase=0, waiting="baking 3m more while guards watch",
             bake={"ends_at": now + 130, "timer": 7})
    seen = Seen(PlanData(loaded.plan.screen_data()), now)
    status = status_line(s, seen).plain
    waiting = waiting_line(s, seen, keys=lambda action: action, why_not=lambda action: None).plain
    assert "(2m10s left)" in status, status
    assert "baking 2m10s more while guards watch" in waiting and "3m" not in waiting, waiting
    s["bake"] = {"remaining": 180.0}  # frozen by a pause: no countdown, the engine's words stand
    s["status"] = "paused"
    assert "left)" not in status_line(s, seen).plain
