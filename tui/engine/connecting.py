"""A screen's engine before it answers: the plan as `run` read it, painted at once, nothing actionable.

`run` starts the engine and the screen together: the engine's start-up (imports, backends, reading the journal,
its socket) happens behind a screen that already shows the plan and says it is connecting. Once the engine
answers, every call goes to it; if it cannot start, `start_failed` says why and the screen is told to close.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.engine.plandata import PlanData
from tui.engine.state import RunState, Subscriber

if TYPE_CHECKING:
    from tui.engine.handle import EngineHandle

CONNECTING = "connecting to the engine: nothing is actionable until it answers"
STARTING_WAIT_S = 3.0  # a screen closed while its engine starts waits this long for it, then leaves it be


class ConnectingEngine:
    """An EngineHandle whose engine is still starting; `connect` (run in a thread) returns the real handle."""

    detaches = True

    def __init__(self, plan: PlanData, plan_path: str, state: RunState, journal_path: Path, operator: str,
                 connect: Callable[[], EngineHandle], on_fail: Callable[[str], None] | None = None) -> None:
        self.plan = plan
        self.plan_path = plan_path
        self.journal_path = journal_path
        self._operator = operator
        self._connect = connect
        self.on_fail = on_fail
        self.engine: EngineHandle | None = None
        self.start_failed = ""
        self._state = state
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()
        self._leaving = ""  # the screen left before the engine answered: detach it as soon as it does
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ what the screen reads

    @property
    def connecting(self) -> bool:
        return self.engine is None and not self.start_failed

    @property
    def operator(self) -> str:
        return self.engine.operator if self.engine else self._operator

    @property
    def read_only(self) -> str:
        return self.engine.read_only if self.engine else CONNECTING

    @property
    def state(self) -> RunState:
        return self.engine.state if self.engine else self._state

    @property
    def ended(self) -> bool:
        return self.engine.ended if self.engine else bool(self.start_failed or self._leaving)

    @property
    def exit_status(self) -> int:
        return self.engine.exit_status if self.engine else 1

    @property
    def failed(self) -> str:
        return self.engine.failed if self.engine else self.start_failed

    @property
    def machine_broken(self) -> bool:
        return self.engine.machine_broken if self.engine else False

    # ------------------------------------------------------------ what the screen does

    def subscribe(self, fn: Subscriber) -> None:
        with self._lock:
            self._subscribers.append(fn)
            if self.engine is not None:
                self.engine.subscribe(fn)

    def submit(self, name: str, operator: str | None = None, **args: Any) -> None:
        if self.engine is None:
            self._emit({"type": "notice", "level": "warning", "text": f"{name}: {CONNECTING}"})
            return
        self.engine.submit(name, operator, **args)

    def describe(self, name: str, **args: Any) -> list[str]:
        return self.engine.describe(name, **args) if self.engine else []

    def preview(self, percent: int) -> concurrent.futures.Future[list[str]] | None:
        return self.engine.preview(percent) if self.engine else None

    def refuses(self, command: str) -> str | None:
        if self.engine is None:
            return self.start_failed or CONNECTING
        return self.engine.refuses(command)

    def alongside(self, factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
        raise ValueError("the autopilot flies in-process runs only (the demo)")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._start, name="shipdeck-connect", daemon=True)
        self._thread.start()

    def _start(self) -> None:
        try:
            engine = self._connect()
        except Exception as e:  # noqa: BLE001 - whatever kept the engine from starting, the screen must say it
            self.start_failed = str(e) or type(e).__name__
            if self._leaving:
                return  # the screen has gone: the CLI says what it knows
            self._emit({"type": "engine", "status": "failed", "reason": f"the engine did not start: {self.start_failed}"})
            if self.on_fail is not None:
                self.on_fail(self.start_failed)
            return
        with self._lock:  # a detach waits for this: it reaches an engine that has started, or none
            if self._leaving:
                self.engine = engine
                engine.start()
                engine.detach(self._leaving)
                return
            # The welcome's state first: events the engine sends from now on are newer.
            self._emit({"type": "state", "state": engine.state.to_dict(), "cause": {"type": "connected"}})
            for fn in self._subscribers:
                engine.subscribe(fn)
            self.engine = engine
            engine.start()

    def detach(self, reason: str) -> None:
        with self._lock:
            engine, self._leaving = self.engine, reason
        if engine is not None:
            engine.detach(reason)

    def join(self, timeout: float) -> None:
        if self._thread is not None:  # an engine about to answer is let finish, then detached; not waited for long
            self._thread.join(min(timeout, STARTING_WAIT_S))
        if self.engine is not None:
            self.engine.join(timeout)

    def _emit(self, ev: dict[str, Any]) -> None:
        for fn in list(self._subscribers):
            fn(ev)
