"""A live metric chart: blue and green series, the guard threshold as a line, and an honest status.

A stale or dead source is said in the title and greys the plot: the last value is never shown
as if it were live.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static
from textual_plotext import PlotextPlot

from widgets.sanitize import sanitize_line

COLOURS = {"blue": "blue", "green": "green", "all": "cyan"}


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "ratio":
        return f"{value * 100:.2f}%" if abs(value) < 0.1 else f"{value * 100:.1f}%"
    if unit == "percent":
        return f"{value:.1f}%"
    if unit == "ms":
        return f"{value:.0f}ms" if value < 10_000 else f"{value / 1000:.1f}s"
    if unit == "s":
        return f"{value:.2f}s"
    if unit == "rps":
        return f"{value:.0f}/s" if value < 10_000 else f"{value / 1000:.1f}k/s"
    if unit == "bytes":
        for suffix, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
            if abs(value) >= size:
                return f"{value / size:.1f}{suffix}"
        return f"{value:.0f}B"
    return f"{value:.4g}"


def _ago(seconds: float) -> str:
    return f"-{seconds / 60:.0f}m" if seconds >= 120 else f"-{seconds:.0f}s"


@dataclass(frozen=True)
class ChartData:
    title: str
    unit: str
    series: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    threshold: float | None = None
    threshold_label: str = ""
    status: str = "live"  # live | stale | down
    status_detail: str = ""
    now: float = 0.0
    window_s: float = 600.0


class MetricChart(Vertical):
    DEFAULT_CSS = """
    MetricChart { height: 1fr; }
    MetricChart > .chart-title { height: 1; }
    MetricChart > PlotextPlot { height: 1fr; }
    MetricChart.stale > PlotextPlot, MetricChart.down > PlotextPlot { opacity: 40%; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.data: ChartData | None = None

    def compose(self) -> ComposeResult:
        yield Static(classes="chart-title")
        yield PlotextPlot()

    def title_text(self) -> Text:
        d = self.data
        if d is None:
            return Text("…")
        text = Text(sanitize_line(d.title), style="bold")
        if d.status == "live":
            newest = max((pts[-1][0] for pts in d.series.values() if pts), default=0.0)
            for name in ("blue", "green", "all"):
                pts = d.series.get(name)
                if pts and pts[-1][0] >= newest:  # a colour that stopped reporting has no "current" value
                    tag = {"blue": " B ", "green": " G ", "all": " "}[name]
                    text.append(tag, style=COLOURS[name])
                    text.append(format_value(pts[-1][1], d.unit), style=f"bold {COLOURS[name]}")
        else:
            label = "STALE" if d.status == "stale" else "DOWN"
            text.append(f"  {label}", style="bold reverse red" if d.status == "down" else "bold reverse yellow")
            if d.status_detail:
                text.append(f" {sanitize_line(d.status_detail)}", style="italic")
        if d.threshold is not None:
            text.append(f" ┄{format_value(d.threshold, d.unit)}", style="red")
        return text

    def update_chart(self, data: ChartData) -> None:
        if data == self.data or not self.query(PlotextPlot):
            return  # unchanged (no redraw), or not composed yet
        self.data = data
        self.set_class(data.status == "stale", "stale")
        self.set_class(data.status == "down", "down")
        self.query_one(".chart-title", Static).update(self.title_text())
        plot = self.query_one(PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        lows: list[float] = [] if data.threshold is None else [data.threshold]
        highs: list[float] = list(lows)
        for name, pts in data.series.items():
            recent = [(t - data.now, v) for t, v in pts if data.now - t <= data.window_s]
            if not recent:
                continue
            xs, ys = [x for x, _ in recent], [y for _, y in recent]
            lows.append(min(ys))
            highs.append(max(ys))
            plt.plot(xs, ys, color=COLOURS.get(name, "white"), marker="braille")
        if data.threshold is not None:
            plt.horizontal_line(data.threshold, color="red")
        ymin, ymax = (min(lows), max(highs)) if lows else (0.0, 1.0)
        span = (ymax - ymin) or abs(ymax) or 1.0
        lo = max(0.0, ymin - span * 0.1) if ymin >= 0 else ymin - span * 0.1
        hi = ymax + span * 0.15
        plt.xlim(-data.window_s, 0)
        plt.ylim(lo, hi)
        w = data.window_s
        plt.xticks([-w, -w / 2, 0], [_ago(w), _ago(w / 2), "now"])
        ticks = [lo, (lo + hi) / 2, hi]
        plt.yticks(ticks, [format_value(t, data.unit) for t in ticks])
        plot.refresh()
