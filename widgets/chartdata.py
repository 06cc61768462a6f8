"""What a chart shows, as plain data: its series and status (ChartData), their colours, and the picture
plotext is asked to draw. No plotext here: the app and the first frame need this, not the drawing."""

from __future__ import annotations

import math
from itertools import groupby
from typing import NamedTuple

# Explicit RGB: named ANSI colours go through the Textual theme's ANSI palette (blue comes out purple).
BLUE = "#4d8cff"
GREEN = "#3ec45b"
RED = "#ff4d4d"
GREY = "#808080"
SERIES_COLOURS = {"blue": BLUE, "green": GREEN, "all": "#2cc3d0"}
_EXTRA_COLOURS = ("#d08cff", "#ffb347", "#ff7fbf", "#c0c0c0")
# Drawing order: green last so the new colour, the one under scrutiny, stays on top.
_ORDER = {"all": 0, "blue": 1, "green": 2}


class ChartData(NamedTuple):
    title: str
    unit: str
    series: dict[str, list[tuple[float, float]]]
    threshold: float | None = None
    threshold_label: str = ""
    status: str = "live"  # live | stale | down
    status_detail: str = ""
    now: float = 0.0
    window_s: float = 600.0


def series_colour(name: str, index: int) -> str:
    return SERIES_COLOURS.get(name, _EXTRA_COLOURS[index % len(_EXTRA_COLOURS)])


def series_order(series: dict[str, list[tuple[float, float]]]) -> list[str]:
    return sorted(series, key=lambda n: (_ORDER.get(n, 9), n))


Series = tuple[tuple[str, tuple[tuple[float, float], ...]], ...]


class Picture(NamedTuple):
    """What plotext is asked to draw, on a grid finer than the plot's braille dots: two equal pictures draw
    the same, so a sample that lands in the dots already drawn costs no replot."""

    series: Series
    lo: float
    hi: float
    window: float


def chart_picture(d: ChartData, width: int, height: int) -> Picture:
    """Each series as its lowest and highest value per column (in time order, so a spike survives), columns
    aligned on the clock rather than on `now`, values on a grid of eighths of a row: an hour of samples
    costs the same to draw as a minute, and an unchanged picture compares equal."""
    window = _window(d)
    column = window / max(2, 2 * width)  # the plot's dot columns are fewer: its axis labels take some width
    newest = math.floor(d.now / column)
    visible = visible_series(d)
    ys = [v for pts in visible.values() for _, v in pts]
    lo, hi = _y_range(ys + ([] if d.threshold is None else [d.threshold]))
    step = (hi - lo) / max(8, 8 * height)
    series = []
    for name in series_order(visible):
        points: list[tuple[float, float]] = []
        for k, group in groupby(visible[name], key=lambda p: math.floor(p[0] / column)):
            x = (k + 0.5 - (newest + 1)) * column
            points.extend((x, lo + round((v - lo) / step) * step) for v in _extremes([v for _, v in group]))
        series.append((name, tuple(points)))
    return Picture(tuple(series), lo, hi, window)


def _window(d: ChartData) -> float:
    return d.window_s if d.window_s > 0 else 300.0


def visible_series(d: ChartData) -> dict[str, list[tuple[float, float]]]:
    window = _window(d)
    visible = {}
    for name, pts in d.series.items():
        recent = [(t, v) for t, v in pts if 0 <= d.now - t <= window and math.isfinite(v)]
        if recent:
            visible[name] = recent
    return visible


def _extremes(values: list[float]) -> list[float]:
    """The lowest and the highest, in the order they came."""
    lo, hi = values.index(min(values)), values.index(max(values))
    return [values[lo]] if lo == hi else [values[min(lo, hi)], values[max(lo, hi)]]


def _y_range(values: list[float]) -> tuple[float, float]:
    if not values:
        return 0.0, 1.0
    ymin, ymax = min(values), max(values)
    span = (ymax - ymin) or abs(ymax) or 1.0
    # Start at zero when the data is near it, so heights read as amounts; zoom in on a band far from
    # zero (latency 175-190ms) so blue and green are not squashed into one row.
    lo = 0.0 if 0 <= ymin <= 0.5 * ymax else ymin - span * 0.1
    return lo, ymax + span * 0.15
