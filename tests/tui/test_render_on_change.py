"""Render on change: what did not change costs no repaint, and guards do not wait for the next sample.

Mechanisms only; the figures (CPU, bytes, latencies) are measured by `make bench` through a real pty.
"""

from __future__ import annotations

import asyncio
import collections
import os
import subprocess
import sys

import pytest
from textual.widget import Widget

from tests.tui.conftest import PLANS, FrozenClock, screen_text, until
from tui.app import make_app
from tui.engine import journal
from tui.engine.driver import Driver
from tui.engine.plan import load_plan, load_plan_text


async def test_ticks_without_news_repaint_nothing(tmp_path, monkeypatch):
    app = make_app(load_plan(PLANS / "pilot.yaml"), tmp_path / "j.jsonl", clock=FrozenClock(), operator="t",
                   keymap={})
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, lambda: app.series.last, what="the first sample on screen")
        await pilot.pause(0.5)
        # Whatever start-up left to draw is drawn now: queued news, and charts whose first plot waited for
        # their final size (on a loaded machine that can be the next clock tick).
        app._clock_tick()
        app._render_tick()
        while app._charts_due:  # charts held behind a dialog wait
            app._render_tick()
        refreshed: collections.Counter[str] = collections.Counter()
        real = Widget.refresh

        def counting(self, *a, **k):
            refreshed[f"{type(self).__name__}#{self.id}"] += 1
            return real(self, *a, **k)

        monkeypatch.setattr(Widget, "refresh", counting)
        for _ in range(5):
            app._render_tick()  # nothing happened: no work at all
        app._clock_tick()
        app._render_tick()  # a second passed on a clock that stands still: nothing on screen moved
        assert not refreshed, refreshed
        app._on_engine_event({"type": "backend", "name": "traffic", "kind": "traffic", "status": "busy",
                              "detail": "shift", "since": app.clock.now()})
        app._render_tick()
        assert set(refreshed) == {"Line#status"}, refreshed  # news repaints its own line, and only it


async def test_an_answer_the_operator_waits_on_is_painted_before_the_lines_queued_with_it(tmp_path, monkeypatch):
    """A new state paints at once, without the log lines that came with it (under a burst, pushing and repainting
    them took 1.5-7 ms of a 10-20 ms key-to-frame); the lines follow on the next tick, none lost."""
    from widgets.logpane import LogPane

    app = make_app(load_plan(PLANS / "pilot.yaml"), tmp_path / "j.jsonl", clock=FrozenClock(), operator="t",
                   keymap={})
    async with app.run_test(size=(160, 50)) as pilot:
        app.engine.submit("advance")
        await until(pilot, lambda: app.state["status"] == "running", what="the run started")
        app._ticker.pause()  # only the paint the answer asks for, no tick in between
        await pilot.pause(0.3)
        app._render_tick()
        pushed: list[int] = []
        real = LogPane.push
        monkeypatch.setattr(LogPane, "push", lambda self, records, dropped=0: (pushed.append(len(records)),
                                                                                 real(self, records, dropped)))
        t = app.clock.now()
        app._from_engine({"type": "logs", "lines": [{"ts": t, "source": "app", "level": "info", "text": f"line {i}"}
                                                    for i in range(50)]})
        app.engine.submit("pause")
        status = app.center.query_one("#status")
        await until(pilot, lambda: "PAUSED" in status.text.plain, what="PAUSED on the status line")
        assert pushed == []
        app._render_tick()
        assert sum(pushed) >= 50
        await until(pilot, lambda: "line 49" in screen_text(app), what="the lines on screen")


async def test_an_answer_the_operator_waits_on_leaves_the_samples_and_the_clock_to_the_tick(tmp_path, monkeypatch):
    """Only what the operator waits on is painted at once: a sample's guards and charts, or the second's clock, that
    came meanwhile cost 10-14 ms more in that frame; they follow on the next tick."""
    from widgets.guards import GuardPanel

    app = make_app(load_plan(PLANS / "pilot.yaml"), tmp_path / "j.jsonl", clock=FrozenClock(), operator="t",
                   keymap={})
    async with app.run_test(size=(160, 50)) as pilot:
        app.engine.submit("advance")
        await until(pilot, lambda: app.state["status"] == "running", what="the run started")
        app._ticker.pause()
        await pilot.pause(0.3)
        app._render_tick()
        updated: list[int] = []
        real = GuardPanel.update_guards
        monkeypatch.setattr(GuardPanel, "update_guards", lambda self, guards: (updated.append(len(guards)),
                                                                               real(self, guards)))
        app._dirty.update({"samples", "clock"})  # as a sample and the clock's second leave them
        app.engine.submit("pause")
        status = app.center.query_one("#status")
        await until(pilot, lambda: "PAUSED" in status.text.plain, what="PAUSED on the status line")
        assert updated == [] and {"samples", "clock"} <= app._dirty
        app._render_tick()
        assert updated and not app._dirty & {"samples", "clock"}


async def test_a_command_s_answer_is_drawn_on_the_status_line_first_and_the_rest_once_it_is_written(tmp_path,
                                                                                                    monkeypatch):
    """The status line alone in the first frame (a third of the compositor's time for a frame with the timeline
    and the alarm line); the timeline follows once that frame is written, without waiting for the tick."""
    from widgets.line import Line
    from widgets.timeline import PhaseTimeline

    app = make_app(load_plan(PLANS / "pilot.yaml"), tmp_path / "j.jsonl", clock=FrozenClock(), operator="t",
                   keymap={})
    async with app.run_test(size=(160, 50)) as pilot:
        app.engine.submit("advance")
        await until(pilot, lambda: app.state["status"] == "running", what="the run started")
        app._ticker.pause()  # no tick: whatever comes after the status line is the paint's own doing
        await pilot.pause(0.3)
        app._render_tick()
        seen: list[str] = []
        real_render, real_timeline = Line.render, PhaseTimeline.update_timeline

        def render(self):
            if self.id == "status":
                seen.append("drew status: " + ("PAUSED" if "PAUSED" in self.text.plain else "RUNNING"))
            return real_render(self)

        def update_timeline(self, view):
            seen.append(f"timeline: {app.state['status']}")
            return real_timeline(self, view)

        monkeypatch.setattr(Line, "render", render)
        monkeypatch.setattr(PhaseTimeline, "update_timeline", update_timeline)
        app.engine.submit("pause")
        await until(pilot, lambda: "timeline: paused" in seen, what="the timeline's paint")
        assert seen.index("drew status: PAUSED") < seen.index("timeline: paused"), seen
        assert "state" not in app._dirty
        # Nothing changed on the status line (a checklist cursor, say): nothing waits on a frame.
        seen.clear()
        app.center.show_status(app.center.query_one("#status", Line).text, drawn=lambda: seen.append("at once"))
        assert seen == ["at once"]


async def test_an_answer_that_comes_as_the_app_closes_is_painted_in_one_go_without_a_top_screen(tmp_path):
    """The paint is queued when the state comes; by its turn the app may have popped its screens (seen once in
    make test: 'No screens on stack' from the demo's last rollback as its test ended)."""
    app = make_app(load_plan(PLANS / "pilot.yaml"), tmp_path / "j.jsonl", clock=FrozenClock(), operator="t",
                   keymap={})
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, lambda: app.center.paintable, what="the command center")
        stack = app._screen_stack[:]
        app._screen_stack.clear()  # as the app closing leaves it
        try:
            app._dirty.add("state")
            app._waited_on = {"state"}
            app._paint_waited_on()
            assert "state" not in app._dirty  # rendered at once, not split on a frame that may never come
        finally:
            app._screen_stack[:] = stack


@pytest.mark.parametrize("given, drawn", [(None, 120), ("30", 30)])
def test_the_cli_s_screens_draw_at_120_frames_a_second_unless_the_user_says(tmp_path, given, drawn):
    """An operator's answer waits for Textual's next frame slot (1/FPS s): the CLI sets a finer one before
    Textual loads; a TEXTUAL_FPS the user set wins."""
    script = ("from tui.cli import main\n"
              "main(['ps'], standalone_mode=False)\n"
              "import textual.constants\n"
              "print('fps', textual.constants.MAX_FPS)\n")
    env = {k: v for k, v in os.environ.items() if k != "TEXTUAL_FPS"}
    env["SHIPDECK_RUNTIME_DIR"] = str(tmp_path)
    if given is not None:
        env["TEXTUAL_FPS"] = given
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env,
                         check=True)
    assert f"fps {drawn}" in out.stdout.splitlines(), out


SLOW_SAMPLES = """\
version: 1
name: deadline
backends:
  metrics: [{type: simulated, scenario: healthy}]
metrics:
  rps: {unit: rps}
guards:
  - {metric: rps, above: 1, for: 3s, series: all}
settings: {sample_interval: 10s}
phases:
  - name: Bake
    steps: [{bake: 1h}]
"""


class ManualClock:
    """Time moves only when the test says; sleepers wake when their moment has come."""

    def __init__(self, t: float = 1_795_000_000.0) -> None:
        self.t = t
        self.speed = 1.0
        self.sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        fut = asyncio.get_running_loop().create_future()
        self.sleepers.append((self.t + seconds, fut))
        await fut

    async def advance(self, seconds: float) -> None:
        self.t += seconds
        for when, fut in list(self.sleepers):
            if when <= self.t + 1e-9 and not fut.done():
                fut.set_result(None)
                self.sleepers.remove((when, fut))
        for _ in range(20):  # let woken tasks run to their next sleep
            await asyncio.sleep(0)


async def test_a_guard_fires_at_its_deadline_without_a_new_sample(tmp_path):
    clock = ManualClock()
    t0 = clock.t
    drv = Driver(load_plan_text(SLOW_SAMPLES, str(tmp_path / "p.yaml")), tmp_path / "j.jsonl", clock=clock)
    task = asyncio.create_task(drv.run())
    for _ in range(50):
        await asyncio.sleep(0)
    drv.submit("advance")
    await clock.advance(0)
    assert drv.state.status == "running"
    await clock.advance(10)  # the sample that starts the breach
    assert drv.guards.status[0].state == "breaching"
    await clock.advance(3)  # the window is full 7s before the next sample would come
    await asyncio.wait_for(task, 5)
    assert drv.state.status == "rolled-back"
    records = journal.load(tmp_path / "j.jsonl").records
    assert sum(r["kind"] == "sample" for r in records) == 2  # the first look and the breach: no third
    rollback = next(r for r in records if r["kind"] == "intent" and r["data"]["kind"] == "rollback")
    assert journal.parse_iso(rollback["ts"]) - t0 == 13.0


async def test_a_state_change_paints_at_once_without_waiting_for_the_render_tick(tmp_path):
    app = make_app(load_plan(PLANS / "pilot.yaml"), tmp_path / "j.jsonl", clock=FrozenClock(), operator="t",
                   keymap={})
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, lambda: "PENDING" in screen_text(app), what="the first paint")
        app._ticker.stop()  # the render tick is gone: only news may paint now
        await pilot.press("n")
        await pilot.press("y")
        await until(pilot, lambda: "RUNNING" in screen_text(app).splitlines()[0], what="the state on screen")


async def test_charts_and_logs_hold_still_behind_a_decision_dialog(tmp_path):
    from tui.screens.confirm import ConfirmScreen

    app = make_app(load_plan(PLANS / "pilot.yaml"), tmp_path / "j.jsonl", clock=FrozenClock(), operator="t",
                   keymap={})
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, lambda: app.series.last, what="the first sample on screen")
        await pilot.pause(0.5)
        charts, logs = app.center.charts(), app.center.query_one("#logs")
        await until(pilot, lambda: all(c.draws for c in charts), what="every chart drawn once")
        lines_before = logs.line_count
        await pilot.press("R")  # the rollback confirm: the operator is deciding
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirm dialog")
        draws = [c.draws for c in charts]
        t = app.clock.now()
        app._on_engine_event({"type": "samples", "ts": t, "values": {n: {"value": 9.0, "series": {"blue": 9.0}}
                                                                     for n in app.plan.metrics},
                              "guards": app.guards})
        app._from_engine({"type": "logs", "lines": [{"ts": t, "source": "app", "level": "error",
                                                         "text": "held back"}]})
        app._on_engine_event({"type": "backend", "name": "traffic", "kind": "traffic", "status": "failed",
                              "detail": "socket gone", "since": t})
        for _ in range(8):
            app._render_tick()
            logs.flush()
            await pilot.pause()
        assert [c.draws for c in charts] == draws and logs.line_count == lines_before
        assert app.center.holding
        status = app.center.query_one("#status").text.plain
        assert "traffic ✗ socket gone" in status  # what the operator must know stays live behind the dialog
        first = list(app.plan.metrics)[0]
        values = {n: {"value": 9.0, "series": {"blue": 9.0}} for n in app.plan.metrics}
        values[first] = {"value": None, "down": True, "nodata": "source down"}
        app._on_engine_event({"type": "samples", "ts": t, "values": values, "guards": app.guards})
        for _ in range(3):
            app._render_tick()
            await pilot.pause()
        # Its source died: that chart says so even behind the dialog; the others still hold.
        assert charts[0].has_class("down") and charts[0].draws == draws[0] + 1
        assert [c.draws for c in charts[1:]] == draws[1:]
        await pilot.press("escape")
        await until(pilot, lambda: not app.center.holding, what="the dialog closed")
        for _ in range(8):
            app._render_tick()
            logs.flush()
            await pilot.pause()
        assert all(c.draws > d for c, d in zip(charts[1:], draws[1:], strict=True) if c.display)
        assert logs.line_count > lines_before and "held back" in screen_text(app)
