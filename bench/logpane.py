"""A 5,000 lines/s burst into the log pane while keys are pressed: do keys stay responsive?"""

from __future__ import annotations

import asyncio
import statistics
import time

from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding

from widgets.logpane import LogPane, LogRecord

RATE, SECONDS, KEYS = 5000, 3.0, 30


class BenchApp(App[None]):
    BINDINGS = [Binding("x", "mark", "mark")]

    def __init__(self) -> None:
        super().__init__()
        self.handled: list[float] = []

    def compose(self) -> ComposeResult:
        yield LogPane(max_lines=5000, id="logs")

    def action_mark(self) -> None:
        self.handled.append(time.perf_counter())


async def _measure() -> dict[str, str]:
    app = BenchApp()
    latencies: list[float] = []
    async with app.run_test(size=(160, 50)) as pilot:
        pane = app.query_one(LogPane)

        async def burst() -> int:
            sent, t0, tick = 0, time.perf_counter(), 0.01
            while (elapsed := time.perf_counter() - t0) < SECONDS:
                due = int(elapsed * RATE) - sent
                if due > 0:
                    pane.push([LogRecord(time.time(), f"src{i % 7}", "error" if i % 50 == 0 else "info",
                                         f"GET /api/orders/{i} 200 {i % 300}ms") for i in range(sent, sent + due)])
                    sent += due
                await asyncio.sleep(tick)
            return sent

        task = asyncio.create_task(burst())
        driver = app._driver
        assert driver is not None
        for _ in range(KEYS):
            before = len(app.handled)
            pressed = time.perf_counter()
            # As a terminal would: the key goes through the driver; the pilot would wait for idle,
            # which never comes during a burst.
            key = events.Key("x", "x")
            key.set_sender(app)
            driver.send_message(key)
            while len(app.handled) == before:
                await asyncio.sleep(0.001)
            latencies.append((app.handled[-1] - pressed) * 1000)
            await asyncio.sleep(SECONDS / KEYS)
        sent = await task
        await pilot.pause(0.3)
        shown = pane.line_count
    return {
        "lines pushed": f"{sent} in {SECONDS:g}s ({sent / SECONDS:.0f}/s)",
        "lines kept on screen (max_lines 5000)": str(shown),
        "lines dropped by back-pressure": str(pane.dropped),
        "flushes (one write each)": str(pane.writes),
        "key latency median / max (ms)": f"{statistics.median(latencies):.1f} / {max(latencies):.1f}",
    }


def run() -> dict[str, str]:
    return asyncio.run(_measure())
