"""A long night: the journal of 8 hours at 1 Hz (5 metrics, 3 guards), then coming back to it with the real CLI.

The journal is written by the engine's own encoder (without an fsync per record, so it takes seconds); the
figures are wall time of `shipdeck report` and of `shipdeck run --resume --headless` to its first line, at a
quarter, half and the whole night, so how the cost grows shows beside the budget.
"""

from __future__ import annotations

import json
import os
import random
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tui.engine.journal import utc_iso
from tui.engine.plan import load_plan
from tui.engine.records import Encoder, legacy_sum

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo.yaml"
HOURS = 8
BUDGET_BYTES, BUDGET_S = 400, 1.0


def _sample(rng: random.Random, t: int) -> dict:
    def reading(base: float) -> dict:
        blue, green = base * rng.uniform(0.9, 1.1), base * rng.uniform(0.9, 1.3)
        return {"value": (blue + green) / 2, "series": {"blue": blue, "green": green}}

    values = {"error_rate": reading(0.002), "latency_p95": reading(180.0), "rps": reading(600.0),
              "cpu": reading(40.0), "memory": reading(57.0)}
    defs = [("error_rate", 0.01, 60.0, "rollback"), ("latency_p95", 800.0, 120.0, "pause"),
            ("cpu", 85.0, 300.0, "alert")]
    guards = [{"index": i, "metric": m, "op": "above", "threshold": th, "window": w, "action": a, "side": "green",
               "value": values[m]["series"]["green"], "state": "ok", "note": "", "breach_for": 0.0,
               "silenced_until": None} for i, (m, th, w, a) in enumerate(defs)]
    return {"values": values, "guards": guards}


def write_night(path: Path, seconds: int, legacy: bool = False) -> int:
    """An unfinished night: run-start, the canary under way, then one sample a second. Returns sample bytes."""
    plan = load_plan(DEMO).plan
    rng = random.Random(7)
    enc, seq, t0, sample_bytes = Encoder(), 0, 1_796_300_000.0, 0
    lines: list[bytes] = []

    def put(kind: str, data: dict, ts: float, operator: str = "shipdeck") -> int:
        nonlocal seq
        head = {"ts": utc_iso(ts), "operator": operator}
        if legacy:
            rec = {"seq": seq + 1, **head, "kind": kind, "data": data}
            rec["sum"] = legacy_sum(rec)
            line, n = (json.dumps(rec, separators=(",", ":")) + "\n").encode(), 1
        else:
            encoded = enc.encode(seq + 1, head, kind, data)
            enc.commit(encoded[-1][1])
            line, n = b"".join(x for x, _ in encoded), len(encoded)
        lines.append(line)
        seq += n
        return len(line)

    put("run-start", {"plan": plan.model_dump(mode="json", by_alias=True), "plan_path": str(DEMO),
                      "fingerprint": "", "journal": str(path)}, t0)
    put("event", {"type": "traffic", "green": 0, "detail": "simulated: blue 100% green 0%", "at": t0}, t0)
    for t in range(seconds):
        sample_bytes += put("sample", _sample(rng, t), t0 + 1 + t)
    path.write_bytes(b"".join(lines))
    return sample_bytes


def _first_line(argv: list[str], timeout: float = 60.0) -> float:
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        if not ready or not proc.stdout.readline():
            raise RuntimeError(f"{argv}: no line in {timeout}s")
        return time.monotonic() - t0
    finally:
        proc.kill()
        proc.wait(10)


def _wall(argv: list[str]) -> float:
    t0 = time.monotonic()
    subprocess.run(argv, capture_output=True, cwd=ROOT, check=True, timeout=120,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    return time.monotonic() - t0


def run() -> Iterator[tuple[str, str]]:
    py = sys.executable
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        os.environ["SHIPDECK_RUNTIME_DIR"] = str(tmp / "runtime")
        n = HOURS * 3600
        old = write_night(tmp / "old.jsonl", 600, legacy=True) / 600
        new = write_night(tmp / "new.jsonl", 600) / 600
        yield "journal bytes per sample (5 metrics, 3 guards)", \
            f"{new:.0f} B   before (format 1) {old:.0f} B   budget {BUDGET_BYTES} B"
        yield f"journal of {HOURS}h at 1 Hz", f"{new * n / 2**20:.1f} MiB   format 1 {old * n / 2**20:.1f} MiB"
        base = _wall([py, "-c", "import tui.cli"])
        yield "python + shipdeck's imports (floor of every command)", f"{base:.2f}s"
        for hours in (HOURS / 4, HOURS / 2, HOURS):
            path = tmp / f"night-{hours:g}h.jsonl"
            write_night(path, int(hours * 3600))
            report = _wall([py, "-m", "tui.cli", "report", str(path)])
            resume = _first_line([py, "-m", "tui.cli", "run", str(DEMO), "--journal", str(path), "--resume",
                                  "--headless"])
            yield f"{hours:g}h journal: report / --resume to first line", \
                f"{report:.2f}s / {resume:.2f}s   budget {BUDGET_S:.1f}s each at {HOURS}h"
