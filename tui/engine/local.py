"""The engine in this process (the demo, `run --foreground`, tests): a Driver on a thread of its own."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from tui.engine.driver import Driver
from tui.engine.plandata import PlanData
from tui.engine.state import RunState, Subscriber, exit_code


class LocalEngine:
    """The engine in this process, on a thread and event loop of its own: a backend call or a journal
    fsync never waits behind a repaint, and a slow screen never delays a guard. It stops with the screen."""

    detaches = False
    read_only = ""  # the only screen: it drives

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.plan = PlanData(driver.plan.screen_data())  # what a detached engine's screens get, too
        self.plan_path = driver.loaded.path
        self.journal_path = driver.journal_path
        self.operator = driver.operator
        self.ended = False
        self.exit_status = 1
        self._thread: threading.Thread | None = None
        self._alongside: list[Callable[[], Coroutine[Any, Any, None]]] = []

    @property
    def state(self) -> RunState:
        return self.driver.state

    @property
    def failed(self) -> str:
        return self.driver.failed

    @property
    def machine_broken(self) -> bool:
        return self.driver.machine_broken

    def subscribe(self, fn: Subscriber) -> None:
        self.driver.subscribe(fn)

    def submit(self, name: str, operator: str | None = None, **args: Any) -> None:
        self.driver.submit(name, operator, **args)

    def describe(self, name: str, **args: Any) -> list[str]:
        return self.driver.describe(name, **args)

    def preview(self, percent: int) -> concurrent.futures.Future[list[str]] | None:
        return self.driver.preview(percent)

    def refuses(self, command: str) -> str | None:
        if command == "take":
            return "this terminal runs the engine itself: it is the only screen"
        step = self.state.current_step
        if command == "approve" and step is not None and step.spec.get("four_eyes"):
            return ("four eyes: a second operator approves this gate from their own `shipdeck attach`; "
                    "this engine runs inside this screen (--foreground), so nobody can attach to it")
        return None

    def alongside(self, factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run a coroutine (the demo's autopilot) on the engine's loop while it drives."""
        self._alongside.append(factory)

    def start(self) -> None:
        # With two threads the GIL changes hands every switch interval: 5ms by default, several times on
        # the way from a key to the backend. 1ms keeps the engine's path short while the screen paints.
        sys.setswitchinterval(0.001)
        self._thread = threading.Thread(target=self._run, name="shipdeck-engine", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            asyncio.run(self._drive())
        finally:
            self.ended = True

    async def _drive(self) -> None:
        extra = [asyncio.create_task(f()) for f in self._alongside]
        try:
            self.exit_status = exit_code(await self.driver.run(linger=True))
        except Exception as e:  # noqa: BLE001 - shown on screen, never a traceback over it
            self.exit_status = 1
            for fn in list(self.driver.subscribers):
                with contextlib.suppress(Exception):
                    fn({"type": "engine", "status": "failed", "reason": f"engine: {type(e).__name__}: {e}"})
        finally:
            for t in extra:
                t.cancel()

    def detach(self, reason: str) -> None:
        self.driver.suspend(reason)

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
