"""The plain Textual baseline for bench/terminal.py: a Log and four full plotext charts fed at 1 Hz; x toggles
a label, d opens a dialog.

What any Textual app of this shape costs; shipdeck's figures are quoted as ratios to it.
"""

from __future__ import annotations

import argparse
import math
import random
import time

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Grid
from textual.screen import ModalScreen
from textual.widgets import Footer, Log, Static
from textual_plotext import PlotextPlot


class Dialog(ModalScreen[None]):
    """Textual's own dialog: a box over the dimmed screen."""

    BINDINGS = [Binding("escape", "dismiss", "close")]
    DEFAULT_CSS = "Dialog { align: center middle; } Dialog > Static { width: 60; height: 5; border: thick $primary; }"

    def compose(self) -> ComposeResult:
        yield Static("BASELINE DIALOG")


class Baseline(App[None]):
    BINDINGS = [Binding("x", "toggle", "toggle"), Binding("d", "dialog", "dialog")]
    CSS = "Grid { grid-size: 2; height: 2fr; } Log { height: 1fr; } #flag { height: 1; }"

    def __init__(self, burst: int, total: int) -> None:
        super().__init__()
        self.burst, self.total, self.sent = burst, total, 0
        # Full charts from the start, as shipdeck's bench plan opens on ten minutes of simulated history.
        self.series = [[self.value(i, time.time() - 300 + k) for k in range(300)] for i in range(4)]

    def compose(self) -> ComposeResult:
        yield Static("baseline ready", id="flag")
        with Grid():
            for _ in range(4):
                yield PlotextPlot()
        yield Log(max_lines=5000)
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(1.0, self.sample)
        if self.burst:
            self.t0 = time.monotonic()
            self.set_interval(0.02, self.lines)

    def sample(self) -> None:
        for i, (plot, values) in enumerate(zip(self.query(PlotextPlot), self.series, strict=True)):
            values.append(self.value(i, time.time()))
            del values[:-300]
            plot.plt.clear_data()
            plot.plt.plot(values, marker="braille")
            plot.refresh()

    @staticmethod
    def value(i: int, t: float) -> float:
        return math.sin(t / 30 + i) + random.random() * 0.1

    def lines(self) -> None:
        due = min(self.total, int((time.monotonic() - self.t0) * self.burst))
        if due > self.sent:
            self.query_one(Log).write_lines(f"line {n} GET /api/orders 200 12ms" for n in range(self.sent, due))
            self.sent = due
            if due == self.total:  # on the flag: this Log stopped showing new lines partway (seen near line 100,000)
                self.query_one("#flag", Static).update(f"baseline ready, all {due} lines written")

    def action_dialog(self) -> None:
        self.push_screen(Dialog())

    def action_toggle(self) -> None:
        flag = self.query_one("#flag", Static)
        flag.update("baseline ready" if "TOGGLED" in str(flag.render()) else "baseline ready TOGGLED")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--burst", type=int, default=0)
    ap.add_argument("--total", type=int, default=10**9)
    args = ap.parse_args()
    Baseline(args.burst, args.total).run()
