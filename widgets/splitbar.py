"""The blue/green traffic split as read back from the backend, with the target while shifting."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static


@dataclass(frozen=True)
class SplitData:
    green: int | None
    target: int | None = None
    status: str = "live"  # live | stale | unknown | shifting
    detail: str = ""


class TrafficSplitBar(Static):
    DEFAULT_CSS = "TrafficSplitBar { height: 2; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.data = SplitData(None, status="unknown")

    def update_split(self, data: SplitData) -> None:
        if data != self.data:
            self.data = data
            self.refresh()

    def render(self) -> Text:
        d = self.data
        state = {"live": "✓ read back", "stale": "⚠ STALE", "unknown": "? unknown", "shifting": "⏳ shifting…"}
        if self.size.height < 2:
            return self._one_line(state.get(d.status, d.status))
        width = max(10, self.size.width - 2)
        text = Text()
        if d.green is None:
            text.append(" traffic split unknown — not read back yet ".center(width, "░"), style="dim")
        else:
            g = round(width * d.green / 100)
            blue_label = f" blue {100 - d.green}% "
            green_label = f" green {d.green}% "
            bar_b = blue_label.center(width - g)[: width - g] if width - g >= len(blue_label) else " " * (width - g)
            bar_g = green_label.center(g)[:g] if g >= len(green_label) else " " * g
            text.append(bar_b, style="bold white on blue")
            text.append(bar_g, style="bold black on green")
        text.append("\n")
        info = []
        if d.green is not None:
            info.append(f"live: blue {100 - d.green}% │ green {d.green}%")
        if d.target is not None and d.target != d.green:
            info.append(f"→ target green {d.target}%")
        info.append(state.get(d.status, d.status))
        text.append("  ".join(info), style="bold yellow" if d.status in ("stale", "shifting") else "")
        return text

    def _one_line(self, status: str) -> Text:
        """Compact (80x24): labels, a short bar and the status on one row."""
        d = self.data
        text = Text()
        if d.green is None:
            return Text(f"traffic: unknown — {status}", style="dim")
        text.append(f"blue {100 - d.green}% ", style="bold blue")
        width = max(10, self.size.width - 40)
        g = round(width * d.green / 100)
        text.append("█" * (width - g), style="blue")
        text.append("█" * g, style="green")
        text.append(f" green {d.green}%", style="bold green")
        if d.target is not None and d.target != d.green:
            text.append(f" → {d.target}%", style="bold yellow")
        text.append(f"  {status}", style="bold yellow" if d.status in ("stale", "shifting") else "dim")
        return text
