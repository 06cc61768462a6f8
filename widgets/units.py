"""Values in the unit an operator reads: 0.0616 ratio is '6.16%', 1536 bytes '1.5KiB'.

Plain functions with no UI imports: the engine uses them for guard summaries, alerts and reports,
so a value reads the same on screen, in Slack and in the post-deploy report.
"""

from __future__ import annotations

import math

from widgets.sanitize import sanitize_line


def _trim(number: str) -> str:
    return number.rstrip("0").rstrip(".") if "." in number else number


def _scaled(value: float, steps: tuple[tuple[str, float], ...], base: str) -> str:
    for suffix, size in steps:
        if abs(value) >= size:
            return f"{_trim(f'{value / size:.1f}')}{suffix}"
    return base


def format_value(value: float | None, unit: str) -> str:
    """A value as an operator reads it: 0.023 ratio -> '2.3%', 1536 bytes -> '1.5KiB', None -> '—'."""
    if value is None or math.isnan(value):
        return "—"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if unit in ("ratio", "percent"):
        pct = value * 100 if unit == "ratio" else value
        mag = abs(pct)
        if mag >= 100:
            return f"{pct:.0f}%"
        if mag >= 1:
            return f"{_trim(f'{pct:.1f}')}%"
        return f"{_trim(f'{pct:.2f}')}%" if mag >= 0.01 or mag == 0 else f"{pct:.1g}%"
    if unit == "ms":
        if abs(value) >= 1000:
            return format_value(value / 1000, "s")
        return f"{value:.0f}ms" if abs(value) >= 10 else f"{_trim(f'{value:.1f}')}ms"
    if unit == "s":
        if 0 < abs(value) < 1:
            return format_value(value * 1000, "ms")
        if abs(value) >= 120:
            return f"{_trim(f'{value / 60:.1f}')}m"
        return f"{_trim(f'{value:.1f}')}s"
    if unit == "rps":
        if abs(value) >= 1e6:
            return f"{_trim(f'{value / 1e6:.1f}')}M/s"
        if abs(value) >= 1e4:
            return f"{_trim(f'{value / 1e3:.1f}')}k/s"
        return f"{value:.0f}/s" if abs(value) >= 10 else f"{_trim(f'{value:.1f}')}/s"
    if unit == "bytes":
        steps = (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10))
        return _scaled(value, tuple((s, float(n)) for s, n in steps), f"{value:.0f}B")
    number = _trim(f"{value:.3g}") if "e" not in f"{value:.3g}" else f"{value:.3g}"
    return f"{number} {sanitize_line(unit)}" if unit and unit != "count" else number  # "3 restarts", not "3 count"


def relative_bound(rule: str, baseline: float | None, limit: float | None, unit: str) -> str:
    """A relative guard's bound: '216ms (blue 180ms +20%)'; '(blue +20%)' before blue has a value."""
    base = rule if baseline is None else rule.replace(" ", f" {format_value(baseline, unit)} ", 1)
    return (f"{format_value(limit, unit)} " if limit is not None else "") + f"({base})"
