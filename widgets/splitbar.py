"""The blue/green traffic split as read back from the backend, with the target while shifting.

Blue and green differ by texture as well as colour (█ vs ▒), and every number is written out, so
the bar reads the same with NO_COLOR.
"""

from __future__ import annotations

from typing import NamedTuple

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import Static

from widgets.chartdata import BLUE, GREEN
from widgets.sanitize import sanitize_line


class SplitData(NamedTuple):
    green: int | None  # percent of traffic on green, as read back; None = not known
    target: int | None = None
    status: str = "live"  # live | stale | unknown | shifting | failed (the read-back fails)
    detail: str = ""


STATUS_WORDS = {"live": "✓ live", "stale": "⚠ STALE", "unknown": "? UNKNOWN", "shifting": "⇄ shifting",
                "failed": "✗ NOT READ BACK"}
STATUS_STYLES = {"live": "green", "stale": "bold reverse yellow", "unknown": "bold reverse magenta",
                 "shifting": "bold yellow", "failed": "bold reverse red"}


def _clamp(p: int) -> int:
    return max(0, min(100, p))


def split_bar(d: SplitData, width: int) -> Text:
    """The bar alone: blue █ then green ▒, a ┃ where the target is; grey when not live."""
    if d.green is None:
        return Text("░" * width, style="dim")
    green = _clamp(d.green)
    g = round(width * green / 100)
    # A non-zero share never disappears entirely at small widths.
    if 0 < green < 100:
        g = min(max(g, 1), width - 1)
    live = d.status in ("live", "shifting")
    cells = ["█"] * (width - g) + ["▒"] * g
    styles = [BLUE if live else "grey50"] * (width - g) + [GREEN if live else "grey35"] * g
    if d.target is not None and d.target != d.green and width > 1:
        t = min(width - 1, round(width * _clamp(d.target) / 100))
        cells[t], styles[t] = "┃", "bold yellow"
    text = Text()
    for ch, st in zip(cells, styles, strict=True):
        text.append(ch, style=st)
    return text


def split_labels(d: SplitData) -> Text:
    """'blue 90% │ green 10%  → 50%' (the target only when it differs from live)."""
    text = Text()
    if d.green is None:
        text.append("blue ?% │ green ?%", style="bold")
    else:
        green = _clamp(d.green)
        live = d.status in ("live", "shifting")
        text.append(f"blue {100 - green}%", style=f"bold {BLUE}" if live else "dim")
        text.append(" │ ")
        text.append(f"green {green}%", style=f"bold {GREEN}" if live else "dim")
    if d.target is not None and d.target != d.green:
        text.append(f"  → {_clamp(d.target)}%", style="bold yellow")
    return text


class TrafficSplitBar(Static):
    """Two lines (bar, then labels and status) or one line when only one row is given."""

    DEFAULT_CSS = "TrafficSplitBar { height: 2; }"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.data = SplitData(None, status="unknown", detail="not read yet")

    def update_split(self, data: SplitData) -> None:
        if data != self.data:
            self.data = data
            self.refresh()

    def render(self) -> Text:
        d = self.data
        width = max(10, self.size.width)
        labels = split_labels(d)
        status = Text(f" {STATUS_WORDS.get(d.status, sanitize_line(d.status))} ",
                      style=STATUS_STYLES.get(d.status, "bold"))
        detail = sanitize_line(d.detail)
        if self.size.height < 2:
            # Compact: labels, a short bar and the status on one row.
            bar_w = max(4, width - labels.cell_len - status.cell_len - 3)
            line = Text.assemble(labels, " ", split_bar(d, bar_w), " ", status)
            line.truncate(width, overflow="ellipsis")
            return line
        text = split_bar(d, width)
        text.append("\n")
        info = Text.assemble(labels, "  ", status)
        if detail and info.cell_len + 2 + cell_len(detail) <= width:
            info.append(f"  {detail}", style="dim")
        info.truncate(width, overflow="ellipsis")
        text.append_text(info)
        return text
