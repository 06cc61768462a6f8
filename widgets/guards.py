"""Guards at a glance: what each judges (green, blue or all), its value against the threshold and how far
into its window a breach has got, or, without a value, why (no traffic yet, no data yet, BLIND).

State is carried by an icon and words as well as colour (✓ ok, ▲ breaching, ✗ TRIPPED, ○ no traffic yet,
… waiting for data, ? BLIND, · not judged now), so the panel reads the same with NO_COLOR.
"""

from __future__ import annotations

from typing import NamedTuple

from rich.text import Text
from textual.widgets import Static

from widgets.sanitize import sanitize_line
from widgets.units import format_value, relative_bound


class GuardView(NamedTuple):
    metric: str
    op: str  # above | below
    threshold: float
    unit: str
    value: float | None
    breach_for_s: float
    window_s: float
    state: str  # ok | breaching | tripped | no-traffic | awaiting | blind | inactive | stale
    action: str
    side: str = ""  # what it judges: green, blue or all ('' before the first sample says)
    note: str = ""  # the evidence in the engine's words when there is no value
    relative: str = ""  # a relative guard's rule ("blue +20%"): judged against blue, not a fixed threshold
    baseline: float | None = None  # blue's value this sample
    limit: float | None = None  # blue's value made worse by the margin: the bound this sample


HOT = ("breaching", "tripped")
ICONS = {"ok": "✓", "breaching": "▲", "tripped": "✗", "no-traffic": "○", "awaiting": "…", "blind": "?",
         "inactive": "·", "stale": "⚠"}
ICON_STYLES = {"ok": "bold green", "breaching": "bold yellow", "tripped": "bold reverse red", "no-traffic": "bold",
               "awaiting": "bold yellow", "blind": "bold reverse magenta", "inactive": "dim",
               "stale": "bold reverse yellow"}
ROW_STYLES = {"breaching": "yellow", "tripped": "bold red", "blind": "bold magenta", "inactive": "dim", "stale": "dim"}
LEGACY = {"no-data": "blind"}  # journals written before the evidence states


def duration(seconds: float) -> str:
    """1m40s, 5m, 2h5m, 0s."""
    s = max(0, int(round(seconds)))
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    return (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{s}s" if s or not (h or m) else "")


def _row_style(g: GuardView) -> str:
    if g.state == "breaching" and g.window_s > 0 and g.breach_for_s >= 0.75 * g.window_s:
        return "red"  # about to trip
    return ROW_STYLES.get(g.state, "")


def label(g: GuardView) -> str:
    """`error_rate[green]`: the metric and the side it judges."""
    return sanitize_line(g.metric) + (f"[{sanitize_line(g.side)}]" if g.side else "")


def bound(g: GuardView) -> str:
    """'1%', or for a relative guard '216ms (blue 180ms +20%)': the bound this sample, and where it comes from."""
    if not g.relative:
        return format_value(g.threshold, g.unit)
    return relative_bound(sanitize_line(g.relative), g.baseline, g.limit, g.unit)


def guard_line(g: GuardView, metric_w: int = 0, value_w: int = 0, bar_width: int = 10) -> Text:
    """One guard: `▲ error_rate[green] 2.3% > 1% for 1m40s of 5m ███░░░ [rollback]`."""
    state = LEGACY.get(g.state, g.state)
    style = _row_style(g)
    breach_op, ok_op = (">", "≤") if g.op == "above" else ("<", "≥")
    threshold = bound(g)
    text = Text(style=style)
    text.append(ICONS.get(state, "?"), style=ICON_STYLES.get(state, "bold"))
    text.append(" ")
    text.append(label(g).ljust(metric_w), style="bold")
    if state in ("no-traffic", "awaiting", "blind", "stale"):
        text.append(f" {sanitize_line(g.note) or 'BLIND: no data'}",
                    style="bold magenta" if state == "blind" else "bold" if state == "awaiting" else "")
        text.append(f" ({breach_op} {threshold})", style="dim")
        text.append(f" [{sanitize_line(g.action)}]", style="dim")
        return text
    text.append(" " + format_value(g.value, g.unit).rjust(value_w))
    if g.state in HOT:
        text.append(f" {breach_op} {threshold}", style="bold")
        text.append(f" for {duration(g.breach_for_s)} of {duration(g.window_s)}")
        if bar_width:
            frac = 1.0 if g.window_s <= 0 else max(0.0, min(1.0, g.breach_for_s / g.window_s))
            filled = round(bar_width * frac)
            text.append(" ▕" + "█" * filled + "░" * (bar_width - filled) + "▏")
        if g.state == "tripped":
            text.append(" TRIPPED", style="bold reverse red")
        if g.note:  # its data stopped mid-breach: the window waits, and the row says why
            text.append(f" {sanitize_line(g.note)}", style="bold magenta")
    elif g.state == "inactive":
        text.append(f" not judged now (rule: {breach_op} {threshold})", style="dim")
    else:
        text.append(f" {ok_op} {threshold}")
        text.append(f" over {duration(g.window_s)}", style="dim")
    text.append(f" [{sanitize_line(g.action)}]", style="bold red" if g.state == "tripped" else "dim")
    return text


class GuardPanel(Static):
    """One row per guard. Rings the bell once when a guard goes hot (breaching or tripped)."""

    DEFAULT_CSS = "GuardPanel { height: auto; text-wrap: nowrap; text-overflow: ellipsis; }"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.guards: list[GuardView] = []
        self._hot: set[tuple[str, str, float]] = set()
        self.border_title = "guards"

    def update_guards(self, guards: list[GuardView]) -> None:
        # Keyed by what the guard is, not its row: a reordered list must not ring.
        hot = {(g.metric, g.op, g.threshold) for g in guards if g.state in HOT}
        if hot - self._hot:
            self.app.bell()  # once per transition into hot, not on every refresh
        self._hot = hot
        if guards != self.guards:
            # Only a different number of rows changes the height: anything else repaints this panel alone.
            relayout = len(guards) != len(self.guards)
            self.guards = list(guards)
            n_hot = len(hot)
            self.border_subtitle = f"{n_hot} hot" if n_hot else ""
            self.refresh(layout=relayout)

    def render(self) -> Text:
        if not self.guards:
            return Text("no guards in this plan", style="dim")
        metric_w = max(len(label(g)) for g in self.guards)
        value_w = max(len(format_value(g.value, g.unit)) for g in self.guards)
        width = self.size.width
        bar = 16 if width >= 100 else 10 if width >= 70 else 6 if width >= 50 else 0
        return Text("\n").join(guard_line(g, metric_w, value_w, bar) for g in self.guards)
