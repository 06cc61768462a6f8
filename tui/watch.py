"""`shipdeck watch JOURNAL`: follow a run read-only from another terminal."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from tui.engine.identity import identity
from tui.engine.initial import initial_state
from tui.engine.journal import JournalError, plan_of
from tui.engine.machine import transition
from tui.engine.plan import Plan
from tui.engine.plandata import PlanData
from tui.engine.records import Damaged, Decoder
from tui.engine.state import RunState, exit_code
from tui.headless import EventPrinter


class _RecordClock:
    """The printer stamps lines with the time of the record being shown."""

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:  # pragma: no cover - never awaited here
        raise NotImplementedError


def to_events(
    rec: dict[str, Any], state: RunState, intents: dict[str, dict[str, Any]]
) -> tuple[RunState, list[dict[str, Any]]]:
    """What the engine emitted when it wrote this record."""
    kind, data = rec["kind"], rec["data"]
    if kind == "event":
        state, _ = transition(state, data)
        return state, [{"type": "state", "state": state.to_dict(), "cause": data}]
    if kind == "intent":
        intents[data["id"]] = data
        return state, [{"type": "effect", "phase": "start", "effect": data}]
    if kind == "outcome":
        eff = intents.get(data["id"], {"kind": data["kind"], "id": data["id"]})
        return state, [{"type": "effect", "phase": "end", "effect": eff, "ok": data["ok"], "error": data.get("error", ""),
                        "data": data.get("data") or {}}]
    if kind == "sample":
        return state, [{"type": "samples", "ts": _epoch(rec), "values": data["values"], "guards": data["guards"]}]
    return state, []


def _epoch(rec: dict[str, Any]) -> float:
    return datetime.fromisoformat(rec["ts"].replace("Z", "+00:00")).timestamp()


class JournalTail:
    """A journal's new records as they are written: checked, and turned into the events the engine emitted."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.records: list[dict[str, Any]] = []
        self._decoder = Decoder()
        self.intents: dict[str, dict[str, Any]] = {}
        self.state: RunState | None = None
        self.plan: Plan | None = None
        self.ended = ""  # the run's final status, once its run-end record is read
        self.damaged = ""  # where a damaged record stopped the reading ('' while none did)

    def read(self) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """(record, events) for each complete new record, up to a damaged one (then `damaged` says where)."""
        if self.damaged:
            return []
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        out = []
        for line in chunk.split(b"\n")[:-1]:  # a last line without newline is still being written
            if not line:
                self.offset += 1
                continue
            try:
                rec = self._decoder.decode(line)
            except Damaged as problem:
                self.damaged = (f"journal damaged at byte offset {self.offset}: {problem}; reading stopped there "
                                f"after {len(self.records)} good record(s)")
                break
            self.offset += len(line) + 1
            self.records.append(rec)
            if self.state is None:
                self.plan = plan_of(self.records)
                self.state = initial_state(self.plan)
            self.state, events = to_events(rec, self.state, self.intents)
            if rec["kind"] == "run-end":
                self.ended = str(rec["data"].get("status") or "ended")
            out.append((rec, events))
        return out


def follow(path: Path, out: Callable[[str], None], once: bool = False, poll: float = 0.5) -> None:
    clock = _RecordClock()
    printer = EventPrinter(clock, out)
    tail = JournalTail(path)
    out(f"watching {path} (read-only; Ctrl-C to stop)")
    while True:
        try:
            read = tail.read()
        except JournalError as e:  # no run-start record: nothing to show
            out(str(e))
            return
        for rec, events in read:
            clock.t = _epoch(rec)
            if rec["seq"] == 1 and tail.plan is not None:
                printer.units = {name: m.unit for name, m in tail.plan.metrics.items()}
                out(f"plan: {tail.plan.name}")
            for ev in events:
                printer(ev)
            if rec["kind"] == "run-end":  # `ended` is set once read() has read it, before its records are printed
                out(f"run ended: {tail.ended}")
                return
        if tail.damaged:
            out(tail.damaged)
            return
        if once:
            return
        time.sleep(poll)


READ_ONLY = "read-only screen: it follows the journal; the operator's terminal drives"


class JournalFollower:
    """The command center's engine handle for a screen that only watches: the run as its journal tells it.

    Same surface as the Driver (state, subscribe, run, submit, suspend...), so the one command center shows
    it; every command is refused with READ_ONLY.
    """

    read_only = READ_ONLY
    detaches = True  # closing this screen changes nothing for the run

    def __init__(self, path: Path, poll: float = 0.5) -> None:
        self.journal_path = path
        self.tail = JournalTail(path)
        self.poll = poll
        self._first = self._read()
        if self.tail.plan is None or self.tail.state is None:
            raise JournalError(f"{path}: no run in this journal yet")
        self.plan = PlanData(self.tail.plan.screen_data())
        self.plan_path = str(path)  # the plan as the journal holds it: no file of its own
        self.operator = identity()
        self.machine_broken = False
        self.failed = ""
        self._subscribers: list[Callable[[dict[str, Any]], None]] = []
        self._stop = False
        self.ended = False
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> RunState:
        assert self.tail.state is not None
        return self.tail.state

    def subscribe(self, fn: Callable[[dict[str, Any]], None]) -> None:
        self._subscribers.append(fn)

    def _emit(self, events: list[dict[str, Any]]) -> None:
        for ev in events:
            for fn in self._subscribers:
                fn(ev)

    def _read(self) -> list[dict[str, Any]]:
        return [ev for _, evs in self.tail.read() for ev in evs]

    @property
    def exit_status(self) -> int:
        return exit_code(self.state)

    def refuses(self, command: str) -> str | None:
        return READ_ONLY

    def submit(self, name: str, operator: str | None = None, **args: Any) -> None:
        for fn in self._subscribers:
            fn({"type": "notice", "level": "warning", "text": f"{name}: {READ_ONLY}"})

    def alongside(self, factory: Any) -> None:
        raise ValueError("a read-only screen has no autopilot")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._follow, name="shipdeck-follow", daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        try:
            asyncio.run(self.run())
        finally:
            self.ended = True

    def detach(self, reason: str) -> None:
        self._stop = True

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def describe(self, name: str, **args: Any) -> list[str]:
        return []

    def preview(self, percent: int) -> None:
        return None

    async def run(self) -> RunState:
        self._emit([*self._first, {"type": "journal", "path": str(self.journal_path)}])
        while not self._stop:
            await asyncio.sleep(self.poll)
            try:
                self._emit(self._read())
            except JournalError as e:
                self.failed = str(e)
            self.failed = self.failed or self.tail.damaged
            if self.failed:
                self._emit([{"type": "engine", "status": "failed", "reason": self.failed}])
                break
        return self.state
