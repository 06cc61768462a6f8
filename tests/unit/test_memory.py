"""A screen process keeps startup out of the collector's scans; a log burst's heap is given back once it stops, in
the engine as on a screen."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from backends.clock import RealClock
from tui import memory
from tui.engine.driver import Driver
from tui.engine.plan import load_plan_text


async def test_a_burst_is_given_back_once_it_stops_and_a_trickle_never(monkeypatch):
    trims: list[float] = []
    loop = asyncio.get_running_loop()
    monkeypatch.setattr(memory, "give_back", lambda: trims.append(loop.time()))
    after = memory.AfterBursts(1000, quiet=0.2)
    after.came(400)
    await asyncio.sleep(0.3)
    assert trims == []  # a trickle: under a pane's worth
    start = loop.time()
    for _ in range(5):  # a burst of 600 more, in batches 0.1 s apart: not while it lasts
        after.came(600)
        await asyncio.sleep(0.1)
        assert trims == []
    await asyncio.sleep(0.25)
    assert len(trims) == 1 and trims[0] - start >= 0.6  # once, after the last batch and a quiet 0.2 s
    after.came(999)
    await asyncio.sleep(0.3)
    assert len(trims) == 1  # counting starts again after each trim


PLAN = """\
version: 1
name: burst
backends:
  metrics: [{type: simulated, scenario: healthy}]
  logs: [{type: command, command: '%s -c "for i in range(3000): print(i)"', source: burst}]
metrics:
  rps: {unit: rps}
settings: {sample_interval: 1s, max_log_lines: 1000}
phases:
  - name: Bake
    steps: [{bake: 1h}]
"""


async def test_the_engine_gives_a_log_burst_back_after_it(tmp_path, monkeypatch):
    trims: list[int] = []
    monkeypatch.setattr(memory, "give_back", lambda: trims.append(1))
    drv = Driver(load_plan_text(PLAN % sys.executable, str(tmp_path / "p.yaml")), tmp_path / "j.jsonl",
                 clock=RealClock())
    lines: list[int] = []
    drv.subscribe(lambda ev: lines.append(len(ev["lines"])) if ev.get("type") == "logs" else None)
    task = asyncio.create_task(drv.run())
    try:
        deadline = asyncio.get_running_loop().time() + 20
        while not trims and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
        assert trims == [1] and sum(lines) >= 3000
    finally:
        await drv.stop("test over")
        await asyncio.wait_for(task, 10)


def test_the_cli_s_screen_freezes_what_startup_made_before_textual_runs():
    """In a process of its own: a frozen test process would never collect an earlier test's cycles."""
    script = (
        "import gc\n"
        "from textual.app import App\n"
        "from tui.app import ShipdeckApp\n"
        "seen = []\n"
        "App.run = lambda self, *a, **k: seen.append(gc.get_freeze_count())\n"
        "ShipdeckApp.run(object.__new__(ShipdeckApp))\n"
        "print(seen[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert int(out.stdout) > 10_000  # the modules' objects, the app's classes: never scanned again


def test_the_plan_reader_child_runs_without_the_collector_and_leaves_the_screen_s_as_it_was():
    """The child is short-lived and the screen may wait on it; the screen's own process keeps collecting."""
    import gc

    from tui.aside import Aside

    assert gc.isenabled()
    code, seen = Aside(lambda: {"collecting": gc.isenabled()}).result()
    assert (code, seen) == (0, {"collecting": False})
    assert gc.isenabled()
