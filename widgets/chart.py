"""A live metric chart: blue and green series, the guard threshold as a line, and an honest status.

A stale or dead source is said in the title and inside the plot, and the plot is greyed: the last
value is never shown as if it were live.
"""

from __future__ import annotations

import copy
import math
import re
from functools import lru_cache
from typing import Any

from plotext import _utility as plotext_utility
from rich.segment import Segment
from rich.style import Style as RichStyle
from rich.text import Text
from textual import events
from textual.app import ComposeResult, RenderResult
from textual.containers import Vertical
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import Static
from textual_plotext import PlotextPlot

from widgets.chartdata import (
    GREY,
    RED,
    ChartData,
    Picture,
    Series,
    chart_picture,
    series_colour,
    series_order,
    visible_series,
)
from widgets.line import Line
from widgets.sanitize import sanitize_line
from widgets.strips import StripsVisual
from widgets.units import format_value


def _ago(seconds: float) -> str:
    s = int(round(seconds))
    if s >= 3600 and s % 3600 == 0:
        return f"-{s // 3600}h"
    if s >= 60 and s % 60 == 0:
        return f"-{s // 60}m"
    return f"-{s}s"


_STEPS = (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400)


def x_ticks(window_s: float, max_ticks: int) -> tuple[list[float], list[str]]:
    """Ticks at round 'seconds ago' marks (-10m, -5m, now), at most max_ticks of them."""
    step = next((s for s in _STEPS if window_s / s <= max_ticks - 1), _STEPS[-1])
    ticks = [-float(k * step) for k in range(int(window_s // step), -1, -1)]
    return ticks, [_ago(-t) if t else "now" for t in ticks]


def chart_title(d: ChartData, width: int = 1000) -> Text:
    """Title line: name, latest value per series (live only) or the status in words, then the threshold.

    Narrow charts drop the threshold (it has its own axis tick) and then shorten series names to
    their initial, rather than cut a value off.
    """
    values: list[tuple[str, str, str]] = []  # series name, value, colour
    if d.status == "live":
        newest = max((pts[-1][0] for pts in d.series.values() if pts), default=None)
        for i, name in enumerate(series_order(d.series)):
            pts = d.series[name]
            # A series that stopped reporting has no current value; the others' newest sample sets "now".
            if pts and newest is not None and pts[-1][0] >= newest:
                values.append((name, format_value(pts[-1][1], d.unit), series_colour(name, i)))
    threshold = None
    if d.threshold is not None:
        threshold = sanitize_line(d.threshold_label) or f"limit {format_value(d.threshold, d.unit)}"

    def build(short_names: bool, with_threshold: bool) -> Text:
        text = Text(sanitize_line(d.title), style="bold")
        if d.status != "live":
            label = " ⚠ STALE " if d.status == "stale" else " ✗ DOWN "
            text.append("  ")
            text.append(label, style="bold reverse yellow" if d.status == "stale" else f"bold reverse {RED}")
            if d.status_detail:
                text.append(f" {sanitize_line(d.status_detail)}", style="bold")
        elif not values:
            text.append("  no samples yet", style="dim italic")
        for name, value, colour in values:
            text.append("  ")
            if name != "all":
                label = sanitize_line(name)
                text.append(f"{label[:1].upper() if short_names else label} ", style=colour)
            text.append(value, style=f"bold {colour}")
        if threshold and with_threshold:
            text.append(f"  ┄ {threshold}", style=RED)
        return text

    candidates = [build(False, True), build(False, False), build(True, False)]
    return next((t for t in candidates if t.cell_len <= width), candidates[-1])


_SGR = re.compile(r"\x1b\[([0-9;]*)m")


@lru_cache(maxsize=1024)
def _sgr_style(codes: tuple[str, ...]) -> RichStyle:
    """A chart uses a handful of colour runs: Rich parses each one once."""
    if not codes:
        return RichStyle()  # a run plotext left uncoloured (themes without a canvas colour)
    text = Text.from_ansi("".join(f"\x1b[{c}m" for c in codes) + "x")
    return RichStyle.combine(s if isinstance(s, RichStyle) else RichStyle.parse(s) for s in
                             (span.style for span in text.spans))


def ansi_strips(ansi: str) -> list[Strip]:
    """plotext's output as strips. Rich's general ANSI decoder plus Textual's Content conversion cost
    ten times more, and a chart replots every second."""
    strips = []
    for line in ansi.splitlines():
        codes: tuple[str, ...] = ()
        segments = []
        for i, part in enumerate(_SGR.split(line)):
            if i % 2:
                codes = () if part in ("", "0") else (*codes, part)
            elif part:
                segments.append(Segment(part, _sgr_style(codes)))
        strips.append(Strip(segments))
    return strips


class ChartPlot(PlotextPlot):
    """The plot of one chart. A new size, scale or status draws in `render`, so a picture is drawn once, at
    the size it is shown at: a relayout (the war-room banner appearing) costs one plotext build per chart,
    not one at the old size and another at the new one. A new sample at the same size draws at once and
    repaints only the rows it changed. plotext's output is painted straight into strips."""

    def __init__(self) -> None:
        super().__init__()
        self.data: ChartData | None = None
        self.draws = 0  # plotext builds; tests read it to check that an unchanged picture costs nothing
        self._key: Any = None  # of the picture drawn
        self._wanted: Any = None  # of the picture last asked for: asking twice before a paint repaints once
        self._memo: tuple[Any, ...] = (None, None, None, None)
        self._strips: list[Strip] = []
        self._frame: _Frame | None = None
        self._frame_key: Any = None

    def show(self, data: ChartData) -> None:
        self.data = data
        if not self.size.area:  # not laid out yet: `render` draws it once it has a size
            self._wanted = None
            self.refresh()
            return
        key = self._picture_key()
        if key in (self._wanted, self._key):  # samples landing on the dots already drawn: no repaint
            self._wanted = key
            return
        self._wanted = key
        if self._key is None or key[1:] != self._key[1:]:
            self.refresh()  # a new size, scale or status: drawn in `render`, at the size it is shown at
            return
        # Same size and style: a sample moves a few cells at the right edge. Draw now and send only the
        # rows that differ; the rest of the chart stays on the terminal as it is.
        old = self._paint(key)
        width = self.size.width
        for y, strip in enumerate(self._strips):
            if y >= len(old) or strip != old[y]:
                self.refresh(Region(0, y, width, 1))

    def _picture_key(self) -> Any:
        data, size, theme = self.data, self.size, self.app.theme
        memo_data, memo_size, memo_theme, memo_key = self._memo
        if memo_data is data and memo_size == size and memo_theme == theme:
            return memo_key  # show() computed it for this paint
        assert data is not None
        picture = chart_picture(data, size.width, size.height)
        key = (picture, data.status, data.unit, data.threshold, size, self.app.no_color, theme)
        self._memo = (data, size, theme, key)
        return key

    def render(self) -> RenderResult:
        if self.data is not None and self.size.area:
            key = self._picture_key()
            if key != self._key:
                self._paint(key)
        return StripsVisual(self._strips)

    def _paint(self, key: Any) -> list[Strip]:
        """Draw the picture `key` names into strips; returns the strips it replaced."""
        assert self.data is not None
        old, self._key = self._strips, key
        self._strips = ansi_strips(self._draw(self.data, key[0]))
        return old

    def _draw(self, d: ChartData, picture: Picture) -> str:
        self.draws += 1
        if d.status != "live":  # greyed, with a word drawn over the series: rare, plotext draws it all
            return self._draw_plotext(d, picture, picture.series)
        width, height = self.size
        frame_key = (width, height, self.app.theme, self.app.no_color, d.unit, d.threshold, picture.lo,
                     picture.hi, picture.window)
        if frame_key != self._frame_key:
            # Axes, ticks and the threshold, drawn by plotext around one point off the plot (with no
            # series plotext drops the axes); they change only when the scale does.
            self._draw_plotext(d, picture, (("", ((picture.window * 2, picture.lo),)),))
            self._frame, self._frame_key = _Frame(self.plt.monitor.matrix), frame_key  # type: ignore[attr-defined]
        assert self._frame is not None
        return self._frame.paint(self._series_cells(d, picture))

    def _series_cells(self, d: ChartData, picture: Picture) -> list[tuple[dict[tuple[int, int], str], Any]]:
        frame, order = self._frame, series_order(d.series)
        assert frame is not None
        layers = []
        for name, points in picture.series:
            initial = (sanitize_line(name)[:1] or "*") if self.app.no_color else None
            cells = _cells(points, (-picture.window, 0.0), (picture.lo, picture.hi), frame.width, frame.height,
                           initial)
            layers.append((cells, _rgb(series_colour(name, order.index(name)))))
        return layers

    def _draw_plotext(self, d: ChartData, picture: Picture, series: Series) -> str:
        plt = self.plt
        plt.clear_data()
        width, height = self.size
        plt.plotsize(width, height)
        plt._set_size(width, height)
        plt.theme(self._get_plotext_theme_name(self.app.theme))  # before drawing: text takes its background
        live = d.status == "live"
        order = series_order(d.series)
        for name, points in series:
            xs, ys = zip(*points, strict=True)
            colour = series_colour(name, order.index(name)) if live and name in order else GREY
            # Without colour, the series' initial is the marker: b-b-b vs g-g-g still tells them apart.
            marker = (sanitize_line(name)[:1] or "*") if self.app.no_color else "braille"
            plt.plot(list(xs), list(ys), color=_rgb(colour), marker=marker)
        if d.threshold is not None:
            plt.horizontal_line(d.threshold, color=_rgb(RED if live else GREY))
        lo, hi, window = picture.lo, picture.hi, picture.window
        plt.xlim(-window, 0)
        plt.ylim(lo, hi)
        plt.xticks(*x_ticks(window, max(3, min(7, width // 9))))
        yt = _y_ticks(lo, hi, d.threshold, height)
        plt.yticks(yt, [format_value(t, d.unit) for t in yt])
        if not live:
            word = "⚠ STALE: values below are old" if d.status == "stale" else "✗ DOWN: no live values"
            plt.text(word, -window / 2, lo + (hi - lo) * 0.9, alignment="center", style="bold",
                     color=_rgb("#e6c200" if d.status == "stale" else RED))
        return str(plt.build())


def _braille_table() -> list[str]:
    """plotext's braille character for each of the 256 dot masks (bit y*2+x, y counted from the bottom)."""
    table = []
    for mask in range(256):
        dots = [0] * 8  # plotext's key: rows top to bottom, left dot then right
        for bit in range(8):
            if mask >> bit & 1:
                dots[(3 - bit // 2) * 2 + bit % 2] = 1
        table.append(plotext_utility.braille_codes[tuple(dots)])
    return table


_BRAILLE = _braille_table()


def _cells(points: tuple[tuple[float, float], ...], xlim: tuple[float, float], ylim: tuple[float, float],
           width: int, height: int, marker: str | None) -> dict[tuple[int, int], str]:
    """The plot cells one series lights, each with its character: plotext's own arithmetic (dot
    coordinates, lines between points, braille grouping, cells off the plot dropped), in one pass."""
    xf, yf = (1, 1) if marker else (2, 4)
    bx, by = width * xf, height * yf
    (x0, x1), (y0, y1) = xlim, ylim
    floor = math.floor
    xs = [floor(round(0.5 + (bx - 1) * (x - x0) / (x1 - x0), 8)) for x, _ in points]
    ys = [floor(round(0.5 + (by - 1) * (y - y0) / (y1 - y0), 8)) for _, y in points]
    dots: set[tuple[int, int]] = set()
    add = dots.add
    for a, b, c, e in zip(xs, xs[1:], ys, ys[1:], strict=False):  # consecutive pairs
        steps = max(abs(b - a), abs(e - c))
        if steps == 0:
            add((a, c))
        elif a == b:
            for y in range(c, e, 1 if e > c else -1):
                add((a, y))
        else:
            sx, sy = (b - a) / steps, (e - c) / steps
            for i in range(steps):
                add((int(a + i * sx), int(c + i * sy)))
    if xs:
        add((xs[-1], ys[-1]))
    masks: dict[tuple[int, int], int] = {}
    for x, y in dots:
        cell = (x // xf, y // yf)
        if 0 <= cell[0] < width and 0 <= cell[1] < height:
            masks[cell] = masks.get(cell, 0) | 1 << (y % yf * 2 + x % xf)
    if marker:
        return dict.fromkeys(masks, marker)
    return {cell: _BRAILLE[mask] for cell, mask in masks.items()}


class _Frame:
    """A plotext matrix with no series on it, kept to paint series onto: the series go on top of the
    threshold line, as in plotext."""

    def __init__(self, matrix: Any) -> None:
        self.matrix = copy.copy(matrix)
        self.markers = [row[:] for row in matrix.marker]
        self.colours = [row[:] for row in matrix.fullground]
        self.styles = [row[:] for row in matrix.style]
        self.left, self.bottom = matrix.Cols_canvas.start, matrix.Rows_canvas.start
        self.width, self.height = len(matrix.Cols_canvas), len(matrix.Rows_canvas)
        self.matrix.background = [row[:] for row in matrix.background]

    def paint(self, layers: list[tuple[dict[tuple[int, int], str], Any]]) -> str:
        matrix = self.matrix
        matrix.marker = markers = [row[:] for row in self.markers]
        matrix.fullground = colours = [row[:] for row in self.colours]
        matrix.style = styles = [row[:] for row in self.styles]
        for cells, colour in layers:  # in drawing order: a later series covers an earlier one
            for (x, y), char in cells.items():
                row, col = y + self.bottom, x + self.left
                markers[row][col], colours[row][col], styles[row][col] = char, colour, plotext_utility.no_color
        return str(matrix.set_canvas())


class MetricChart(Vertical):
    """Call `update_chart(ChartData)` as often as you like: the plot redraws only when its picture changes."""

    DEFAULT_CSS = """
    MetricChart { height: 1fr; }
    MetricChart > .chart-title { height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    MetricChart > ChartPlot { height: 1fr; }
    MetricChart > .chart-empty { height: 1fr; content-align: center middle; text-style: bold; }
    MetricChart.stale > .chart-title, MetricChart.down > .chart-title { background: $error 15%; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.data: ChartData | None = None
        self._title: Text | None = None

    @property
    def draws(self) -> int:
        return self.query_one(ChartPlot).draws

    def compose(self) -> ComposeResult:
        yield Line(classes="chart-title")
        yield ChartPlot()
        yield Static(classes="chart-empty")

    def on_mount(self) -> None:
        self.query_one(".chart-empty").display = False
        self._apply()

    def on_show(self, _event: events.Show) -> None:
        self._apply()  # data that arrived while hidden

    def on_resize(self, _event: events.Resize) -> None:
        self._apply()  # the title's form depends on the width; the plot redraws itself at its new size

    def update_chart(self, data: ChartData) -> None:
        self.data = data
        if self.is_mounted and self.display:
            self._apply()

    def _apply(self) -> None:
        data = self.data
        plots = self.query(ChartPlot)
        if data is None or not plots:
            return  # not composed yet: on_mount applies it
        self.set_class(data.status == "stale", "stale")
        self.set_class(data.status == "down", "down")
        title = chart_title(data, self.size.width or 1000)
        if title != self._title:
            self._title = title
            self.query_one(".chart-title", Line).set(title)
        plot, empty = plots.first(), self.query_one(".chart-empty", Static)
        if data.status != "live" and not visible_series(data):
            # Nothing to grey out: say it in the middle of the box instead of drawing empty axes.
            word = "⚠ STALE" if data.status == "stale" else "✗ DOWN"
            empty.update(Text(f"{word}\n{sanitize_line(data.status_detail)}", justify="center"))
            empty.display, plot.display = True, False
            return
        empty.display, plot.display = False, True
        plot.show(data)


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def nice_ticks(lo: float, hi: float, max_n: int) -> list[float]:
    """Ticks on round numbers (1, 2, 2.5, 5 x 10^k), at most max_n of them, inside [lo, hi]."""
    span = hi - lo
    if span <= 0 or max_n < 2:
        return [lo]
    mag = 10 ** math.floor(math.log10(span / (max_n - 1)))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if span / (m * mag) <= max_n - 1)
    first = math.ceil(lo / step - 1e-9) * step
    count = int(math.floor((hi - first) / step + 1e-9)) + 1
    return [round(first + k * step, 12) for k in range(count)]


def _y_ticks(lo: float, hi: float, threshold: float | None, height: int) -> list[float]:
    ticks = nice_ticks(lo, hi, max(2, min(6, height // 3)))
    if threshold is not None and lo <= threshold <= hi:
        # The threshold gets its own labelled tick; drop neighbours that would crowd it.
        gap = (hi - lo) / max(3, height - 2)
        ticks = [t for t in ticks if abs(t - threshold) > gap] + [threshold]
    return sorted(ticks)
