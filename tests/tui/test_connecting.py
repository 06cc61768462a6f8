"""`run` paints the plan from its file at once and connects to the engine behind it: the screen says it is
connecting and nothing is actionable until the engine answers; an engine that cannot start closes the screen
with its words."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from backends.base import ScaledClock
from tests.tui.conftest import PLANS, screen_text, until
from tui.app import make_app
from tui.engine.connecting import ConnectingEngine
from tui.engine.driver import Driver
from tui.engine.initial import initial_state
from tui.engine.local import LocalEngine
from tui.engine.plan import load_plan
from tui.engine.plandata import PlanData


def frames_of(app, what: Callable[[Any], Any]) -> list[Any]:
    """`what(update)` at each frame the command center hands to the terminal."""
    frames: list[Any] = []
    display = app._display

    def recording(screen, renderable) -> None:
        display(screen, renderable)
        if renderable is not None and screen is app.center:
            frames.append(what(renderable))

    app._display = recording
    return frames


async def test_the_plan_is_painted_before_the_engine_answers_and_nothing_acts_until_it_does(tmp_path):
    loaded = load_plan(PLANS / "pilot.yaml")
    journal = tmp_path / "j.jsonl"
    answer = threading.Event()

    def connect() -> LocalEngine:
        if not answer.wait(30):
            raise TimeoutError("the test never let the engine answer")
        return LocalEngine(Driver(loaded, journal, clock=ScaledClock(20), operator="tester"))

    handle = ConnectingEngine(PlanData(loaded.plan.screen_data()), loaded.path, initial_state(loaded.plan), journal,
                              "tester", connect)
    app = make_app(None, journal, engine=handle, keymap={})
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, lambda: all(ph.name in screen_text(app) for ph in loaded.plan.phases),
                    what="the plan, from its file")
        shown = screen_text(app)
        assert " CONNECTING " in shown.splitlines()[0] and "PENDING" not in shown.splitlines()[0]
        assert "connecting to the engine: nothing is actionable until it answers" in shown
        await pilot.press("n")  # no dialog, no command: the engine is not there to take it
        assert app.screen is app.center and not journal.exists()
        answer.set()
        await until(pilot, lambda: not handle.connecting, what="the engine answering")
        await until(pilot, lambda: "PENDING" in screen_text(app).splitlines()[0], what="the run's own state")
        assert " CONNECTING " not in screen_text(app)
        await pilot.press("n", "enter")
        await until(pilot, lambda: app.state["status"] == "running", what="a command reaching the engine")


async def test_an_engine_that_cannot_start_closes_the_screen_with_its_words(tmp_path):
    loaded = load_plan(PLANS / "pilot.yaml")
    journal = tmp_path / "j.jsonl"

    def connect() -> LocalEngine:
        raise RuntimeError("the engine stopped as it started (exit 1): the journal's folder is read-only")

    handle = ConnectingEngine(PlanData(loaded.plan.screen_data()), loaded.path, initial_state(loaded.plan), journal,
                              "tester", connect)
    app = make_app(None, journal, engine=handle, keymap={})
    closed = []
    handle.on_fail = lambda why: (closed.append(why), app.call_from_thread(app.exit, 1))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: bool(closed), what="the failure")
        await pilot.pause()
    assert app.return_value == 1 and "read-only" in handle.start_failed and handle.ended


async def test_a_screen_opens_on_what_its_engine_already_sent(tmp_path):
    """An engine sends an attaching screen the charts' history and the recent lines at once: the screen's first
    frame holds them, not an empty frame with the catch-up a frame or a tick later."""
    loaded = load_plan(PLANS / "pilot.yaml")
    journal = tmp_path / "j.jsonl"
    now = time.time()

    class Replaying(ConnectingEngine):
        def start(self) -> None:  # what a link's reader hands on while the screen still composes
            points = [[now - 60 + i, {"error_rate": {"value": 0.0042, "series": {"blue": 0.0042}}}] for i in range(60)]
            self._emit({"type": "history", "points": points})
            self._emit({"type": "logs", "lines": [{"ts": now, "source": "app", "level": "info",
                                                   "text": "the newest line the engine kept"}]})
            self._emit({"type": "replayed"})

    handle = Replaying(PlanData(loaded.plan.screen_data()), loaded.path, initial_state(loaded.plan), journal,
                       "tester", lambda: None)
    app = make_app(None, journal, engine=handle, keymap={})
    frames = frames_of(app, lambda _: screen_text(app))
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, lambda: bool(frames), what="a first frame")
    assert "the newest line the engine kept" in frames[0]
    assert "0.42%" in frames[0]  # the error rate's chart, from the history


async def test_the_first_frame_written_is_whole_and_the_charts_follow_it(tmp_path):
    """Textual throws away what is rendered inside its mount batch: the command center is pushed after it, so the
    first frame a terminal gets is a full one with the status line, the plan and the keys. With nothing to draw
    yet, the charts and the log's lines widget come a frame later, and they do come."""
    loaded = load_plan(PLANS / "pilot.yaml")
    journal = tmp_path / "j.jsonl"
    done = threading.Event()

    def connect() -> LocalEngine:
        done.wait(30)
        raise RuntimeError("the test is over")

    handle = ConnectingEngine(PlanData(loaded.plan.screen_data()), loaded.path, initial_state(loaded.plan), journal,
                              "tester", connect)
    app = make_app(None, journal, engine=handle, keymap={})
    frames = frames_of(app, lambda update: (app._batch_count, type(update).__name__, screen_text(app),
                                            len(app.center.charts()) + len(app.center.query("#log-lines"))))
    try:
        async with app.run_test(size=(160, 50)) as pilot:
            await until(pilot, lambda: any(parts == len(loaded.plan.metrics) + 1 for *_, parts in frames),
                        what="a frame with the charts and the log's lines")
    finally:
        done.set()
    batch, kind, text, parts = frames[0]
    assert batch == 0 and kind == "LayoutUpdate"  # written whole, not rendered inside the batch and dropped
    lines = text.splitlines()
    assert " CONNECTING " in lines[0] and loaded.plan.name in lines[0]
    assert all(ph.name in text for ph in loaded.plan.phases)
    assert "ROLLBACK" in lines[-1]  # the keys, not an empty line filled a frame later
    assert parts == 0 and "waiting for the first sample" not in text and "╭─ logs" in text
    later = next(text for _, _, text, parts in frames if parts == len(loaded.plan.metrics) + 1)
    assert "waiting for the first sample" in later


async def test_a_screen_on_an_engine_that_answered_has_its_charts_in_its_first_frame(tmp_path):
    """An attach: the history is on its way when the screen composes, so the charts are not left for later."""
    loaded = load_plan(PLANS / "pilot.yaml")
    journal = tmp_path / "j.jsonl"
    handle = LocalEngine(Driver(loaded, journal, clock=ScaledClock(20), operator="tester"))
    app = make_app(None, journal, engine=handle, keymap={})
    charts = frames_of(app, lambda _: len(app.center.charts()))
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, lambda: bool(charts), what="a first frame")
    assert charts[0] == len(loaded.plan.metrics) > 0
