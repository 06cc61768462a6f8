"""`shipdeck watch JOURNAL`: follow a run read-only from another terminal."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from tui.engine.journal import _check_line, plan_of
from tui.engine.machine import RunState, initial_state, transition
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
        return state, [{"type": "samples", "ts": 0, "values": data["values"], "guards": data["guards"]}]
    return state, []


def follow(path: Path, out: Callable[[str], None], once: bool = False, poll: float = 0.5) -> None:
    clock = _RecordClock()
    printer = EventPrinter(clock, out)
    state: RunState | None = None
    records: list[dict[str, Any]] = []
    intents: dict[str, dict[str, Any]] = {}
    offset = 0
    out(f"watching {path} (read-only; Ctrl-C to stop)")
    while True:
        with open(path, "rb") as f:
            f.seek(offset)
            chunk = f.read()
        lines = chunk.split(b"\n")
        for line in lines[:-1]:  # a last line without newline is still being written
            offset += len(line) + 1
            if not line:
                continue
            problem = _check_line(line, records)
            if problem:
                out(f"journal damaged at byte offset {offset - len(line) - 1}: {problem}")
                return
            rec = json.loads(line)
            records.append(rec)
            clock.t = datetime.fromisoformat(rec["ts"].replace("Z", "+00:00")).timestamp()
            if state is None:
                plan = plan_of(records)
                state = initial_state(plan)
                printer.units = {name: m.unit for name, m in plan.metrics.items()}
                out(f"plan: {state.plan_name}")
            state, events = to_events(rec, state, intents)
            for ev in events:
                printer(ev)
            if rec["kind"] == "run-end":
                out(f"run ended: {rec['data']['status']}")
                return
        if once:
            return
        time.sleep(poll)
