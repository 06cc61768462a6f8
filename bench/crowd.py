"""An engine deep into its night, with a crowd: attach time, the engine's memory, and 50 watchers.

"Deep into its night" is an engine whose replay history is full (HISTORY_SAMPLES samples, HISTORY_LOG_LINES
log lines): that is all an attaching screen is sent, whether the engine has run fifteen minutes or eight hours
(the journal is not read on attach). Samples come every 100 ms here so the history fills in a minute and a half;
the metrics keep no backfill, so the charts hold the same number of points as after 15 minutes at 1 Hz.
Watchers are read-only connections speaking the screens' protocol (RemoteEngine), each reading every event in
its own thread, as a screen's link does; 50 Textual processes would measure the machine, not the engine.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

from bench.term import PY, Term
from bench.terminal import IDLE_PLAN, baseline, burst_script, first_paint
from tui.engine.server import HISTORY_LOG_LINES, HISTORY_SAMPLES

WATCHERS = 50
ENGINE_BUDGET_MB, ATTACH_BUDGET_S = 40.0, 0.5


def _plan(tmp: Path, name: str, logs: str, guard: str = "", interval: str = "100ms") -> Path:
    text = (IDLE_PLAN % {"logs": logs}).replace("sample_interval: 1s", f"sample_interval: {interval}")
    if guard:
        text = text.replace("  - {metric: error_rate, above: 0.01, for: 1m, series: all}", guard)
    plan = tmp / f"{name}.yaml"
    plan.write_text(text)
    return plan


def _samples(journal: Path) -> int:
    try:
        return journal.read_bytes().count(b'"kind":"sample"')
    except FileNotFoundError:
        return 0


def _engine(journal: Path) -> psutil.Process:
    from tui.engine.sockets import registered

    return psutil.Process(next(e for e in registered() if Path(e["journal"]) == journal)["pid"])


def attach_deep(tmp: Path) -> tuple[float, float, float]:
    """(seconds to a screen with full charts and the last log line, the plain app's first paint, engine MB)."""
    from tui.engine.spawn import spawn_engine

    lines = HISTORY_LOG_LINES + 500
    logs = f"  logs: [{{type: command, command: '{PY} {burst_script(tmp, 1000, lines)}', source: burst}}]"
    plan = _plan(tmp, "deep", logs)  # no backfill: the charts hold the replayed samples, as many as a 1 Hz night's
    plan.write_text(plan.read_text().replace("history: true", "history: false"))
    journal = plan.with_suffix(".jsonl")
    spawn_engine(str(plan), journal, idle_exit=600)
    deadline = time.monotonic() + 300
    while _samples(journal) < HISTORY_SAMPLES + 50 and time.monotonic() < deadline:
        time.sleep(1)
    engine = _engine(journal)
    mb = engine.memory_info().rss / 2**20
    last = f"line {lines - 1} "
    took, base = [], []
    # In turns with the baseline's first paint (the VM's speed drifts within a minute); four, as each attach and
    # detach adds two lines below the burst's last and a fifth would push it out of the pane.
    for _ in range(4):
        t = Term([PY, "-m", "tui.cli", "attach", str(journal), "--read-only"], 160, 50)
        try:
            took.append(t.wait(lambda s: last in s and "⣀" in s or last in s and "⠉" in s, 30) - t.started)
        finally:
            t.close(engines=False)
        base.append(first_paint(baseline(), 160, 50, "baseline ready", engines=False))
    engine.kill()
    return statistics.median(took), statistics.median(base), mb


def engine_alone(tmp: Path) -> float:
    """RSS of a freshly started engine on the bench plan (imports, backends, socket), MB."""
    from tui.engine.spawn import spawn_engine

    plan = _plan(tmp, "alone", "", interval="1s")
    journal = plan.with_suffix(".jsonl")
    spawn_engine(str(plan), journal, idle_exit=600)
    time.sleep(3)
    engine = _engine(journal)
    mb = engine.memory_info().rss / 2**20
    engine.kill()
    return mb


def crowd(tmp: Path) -> dict[str, str]:
    """50 watchers and a 5,000 lines/s burst while a guard's window runs out: the rollback's lateness, the
    engine's CPU and memory."""
    from tui.engine.handle import RemoteEngine
    from tui.engine.identity import identity
    from tui.engine.journal import load, parse_iso
    from tui.engine.sockets import socket_path
    from tui.engine.spawn import spawn_engine

    logs = f"  logs: [{{type: command, command: '{PY} {burst_script(tmp, 5000, 10**7)}', source: burst}}]"
    plan = _plan(tmp, "crowd", logs, guard="  - {metric: rps, above: 1, for: 20s, series: all}", interval="1s")
    journal = plan.with_suffix(".jsonl")
    spawn_engine(str(plan), journal, idle_exit=600)
    sock = socket_path(journal)
    driver = RemoteEngine(sock, identity(), "drive")
    driver.subscribe(lambda ev: None)
    driver.start()
    watchers = []
    for _ in range(WATCHERS):
        w = RemoteEngine(sock, identity(), "watch")
        w.subscribe(lambda ev: None)
        w.start()
        watchers.append(w)
    engine = _engine(journal)
    engine.cpu_percent()
    try:
        time.sleep(2)
        driver.submit("advance")  # the run starts; the guard breaches from the first judged sample
        deadline = time.monotonic() + 120
        while driver.state.status != "rolled-back" and time.monotonic() < deadline:
            time.sleep(0.5)
        cpu = engine.cpu_percent()
        mb = engine.memory_info().rss / 2**20
        alive = sum(not w.ended for w in watchers)
        records = load(journal).records
    finally:
        for w in [driver, *watchers]:
            w.detach("bench over")
        engine.kill()
    first = next((r for r in records if r["kind"] == "sample" and any(
        g["state"] == "breaching" for g in r["data"]["guards"])), None)
    sent = next((r for r in records if r["kind"] == "intent" and r["data"]["kind"] == "rollback"), None)
    if first is None or sent is None:
        return {"rollback after the guard's window": f"no rollback in 120 s ({driver.state.status})"}
    late = parse_iso(sent["ts"]) - (parse_iso(first["ts"]) + 20.0)
    return {"rollback after the guard's window": f"{late:.2f}s late   budget: within one sample interval (1s)",
            "engine CPU (one core), until the rollback": f"{cpu:.0f}%",
            "engine RSS, 50 watchers, burst": f"{mb:.0f}MB   screens still attached {alive}/{WATCHERS}"}


def run() -> Iterator[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        os.environ["SHIPDECK_RUNTIME_DIR"] = str(tmp / "runtime")
        mb = engine_alone(tmp)
        yield "engine RSS after start (imports, backends, socket)", f"{mb:.0f}MB   budget {ENGINE_BUDGET_MB:.0f}MB"
        took, base, deep_mb = attach_deep(tmp)
        yield (f"attach to an engine with full history ({HISTORY_SAMPLES} samples, {HISTORY_LOG_LINES} lines)",
               f"{took:.2f}s to charts and last line   baseline first paint {base:.2f}s   budget {ATTACH_BUDGET_S}s")
        yield "engine RSS with full history", f"{deep_mb:.0f}MB"
        for key, value in crowd(tmp).items():
            yield f"{WATCHERS} watchers, 5,000 lines/s: {key}", value
