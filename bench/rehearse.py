"""Rehearsal at scale, through the real CLI: a week of history at 15 s steps in a real Prometheus (blocks built by
promtool from OpenMetrics text), judged by `shipdeck rehearse PLAN --last 7d`; and an 8-hour journal replayed
under another guard by `shipdeck rehearse JOURNAL --guard …`. Wall time of each, beside the budget.
"""

from __future__ import annotations

import math
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from bench.night import _wall, write_night

ROOT = Path(__file__).resolve().parent.parent
STEP, DAYS = 15, 7
BUDGET_S = 10.0  # "a week at 15 s steps in seconds"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _history(path: Path, end: int) -> None:
    start = end - DAYS * 86400
    with path.open("w") as f:
        for name, base in (("bench_error_ratio", 0.002), ("bench_latency_ms", 180.0)):
            f.write(f"# TYPE {name} gauge\n")
            for colour in ("blue", "green"):
                for t in range(start, end, STEP):
                    f.write(f'{name}{{colour="{colour}"}} {base * (1 + 0.2 * math.sin(t / 3600)):.6g} {t}\n')
        f.write("# EOF\n")


def run() -> Iterator[tuple[str, str]]:
    py = sys.executable
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        night = tmp / "night.jsonl"
        write_night(night, 8 * 3600)
        replay = _wall([py, "-m", "tui.cli", "rehearse", str(night), "--guard", "error_rate above 0.0025 for 1m"])
        yield "8h journal replayed under another guard", f"{replay:.2f}s"
        promtool, prometheus = shutil.which("promtool"), shutil.which("prometheus")
        if not (promtool and prometheus):
            yield f"{DAYS}d of Prometheus history", "skipped: needs prometheus and promtool (apt-get install prometheus)"
            return
        end = int(time.time()) - 60
        _history(tmp / "h.om", end)
        subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(tmp / "h.om"), str(tmp / "tsdb")],
                       check=True, capture_output=True)
        port = _port()
        (tmp / "prometheus.yml").write_text("global: {scrape_interval: 15s}\n")
        proc = subprocess.Popen([prometheus, f"--config.file={tmp / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={tmp / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}",
                                 "--log.level=error"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("prometheus did not become ready")
                time.sleep(0.2)
            plan = tmp / "plan.yaml"
            plan.write_text(f"""version: 1
name: bench rehearsal
backends: {{metrics: [{{type: prometheus, url: "http://127.0.0.1:{port}", timeout: 60}}]}}
metrics:
  error_rate: {{query: 'bench_error_ratio', unit: ratio}}
  latency_p95: {{query: 'bench_latency_ms', unit: ms}}
guards:
  - {{metric: error_rate, above: 0.01, for: 2m}}
  - {{metric: latency_p95, worse_than: blue, by: 20%, for: 2m}}
settings: {{sample_interval: {STEP}s}}
phases: [{{name: Canary}}]
""")
            week = _wall([py, "-m", "tui.cli", "rehearse", str(plan), "--last", f"{DAYS}d", "--no-charts"])
            points = DAYS * 86400 // STEP
            yield f"{DAYS}d of history at {STEP}s ({points:,} samples, 2 metrics x 2 colours)", \
                f"{week:.2f}s   budget {BUDGET_S:.0f}s"
        finally:
            proc.terminate()
            proc.wait(10)
