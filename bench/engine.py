"""The engine's hot paths: transitions per second and journal appends (with fsync) per second."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from tui.engine.initial import initial_state
from tui.engine.journal import Journal, replay
from tui.engine.machine import transition
from tui.engine.plan import load_plan

DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo.yaml"


def run() -> dict[str, str]:
    plan = load_plan(DEMO).plan
    state = initial_state(plan)
    n = 2000
    t0 = time.perf_counter()
    for i in range(n):
        state, _ = transition(state, {"type": "command", "name": "tick", "operator": "b", "args": {"item": 0},
                                      "at": float(i)})
    per_transition = (time.perf_counter() - t0) / n
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "j.jsonl"
        j = Journal(path)
        j.append("run-start", {"plan": plan.model_dump(mode="json", by_alias=True)}, "b", 0)
        m = 300
        t0 = time.perf_counter()
        for i in range(m):
            j.append("event", {"type": "command", "name": "pause", "operator": "b", "args": {}, "at": float(i)}, "b", i)
        per_append = (time.perf_counter() - t0) / m
        j.close()
        from tui.engine.journal import load

        t0 = time.perf_counter()
        replay(load(path).records)
        replay_s = time.perf_counter() - t0
    return {
        "transition (deep copy of state)": f"{per_transition * 1e6:.0f} µs",
        "journal append incl. fsync": f"{per_append * 1e3:.2f} ms",
        f"replay of {m + 1} records": f"{replay_s * 1e3:.0f} ms",
    }
