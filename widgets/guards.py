"""Guards at a glance: value, threshold and how far into its window a breach has got."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from widgets.chart import format_value


@dataclass(frozen=True)
class GuardView:
    metric: str
    op: str  # above | below
    threshold: float
    unit: str
    value: float | None
    breach_for_s: float
    window_s: float
    state: str  # ok | breaching | tripped | no-data | inactive
    action: str


def _dur(seconds: float) -> str:
    s = int(round(seconds))
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    return (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{s}s" if s or not (h or m) else "")


ICONS = {"ok": "✓", "breaching": "▲", "tripped": "✗", "no-data": "?", "inactive": "·"}
STYLES = {"ok": "green", "breaching": "bold yellow", "tripped": "bold white on red", "no-data": "magenta",
          "inactive": "dim"}


def guard_line(g: GuardView, bar_width: int = 12) -> Text:
    over = ">" if g.op == "above" else "<"
    ok_op = "≤" if g.op == "above" else "≥"
    text = Text()
    text.append(f"{ICONS.get(g.state, '?')} ", style=STYLES.get(g.state, ""))
    text.append(f"{g.metric} ", style="bold")
    text.append(format_value(g.value, g.unit) if g.value is not None else "no data")
    if g.state in ("breaching", "tripped"):
        text.append(f" {over} {format_value(g.threshold, g.unit)}", style=STYLES[g.state])
        text.append(f" for {_dur(g.breach_for_s)} of {_dur(g.window_s)} ")
        frac = 1.0 if g.window_s <= 0 else min(1.0, g.breach_for_s / g.window_s)
        filled = round(bar_width * frac)
        text.append("█" * filled + "░" * (bar_width - filled), style=STYLES[g.state])
    else:
        text.append(f" {ok_op if g.state == 'ok' else '·'} {format_value(g.threshold, g.unit)}")
        text.append(f" for {_dur(g.window_s)}", style="dim")
        if g.state in ("no-data", "inactive"):
            text.append(f" ({g.state})", style="dim")
    text.append(f"  [{g.action}]", style="bold red" if g.state == "tripped" else "dim")
    return text


class GuardPanel(Static):
    DEFAULT_CSS = "GuardPanel { height: auto; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.guards: list[GuardView] = []
        self._hot: set[str] = set()
        self.bells = 0

    def update_guards(self, guards: list[GuardView]) -> None:
        hot = {f"{i}:{g.metric}" for i, g in enumerate(guards) if g.state in ("breaching", "tripped")}
        if hot - self._hot:
            # Ring once when a guard starts breaching, not on every refresh.
            self.bells += 1
            self.app.bell()
        self._hot = hot
        if guards != self.guards:
            self.guards = guards
            self.border_title = "guards"
            self.refresh(layout=True)

    def render(self) -> Text:
        if not self.guards:
            return Text("no guards in this plan", style="dim")
        return Text("\n").join(guard_line(g) for g in self.guards)
