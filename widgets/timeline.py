"""The deploy plan as a timeline: one line per phase, the current one opened up to its steps and checklist.

Status is an icon (✓ ▶ ⏸ ◷ ✗ ↩ » ·) and, for the current phase, a word; the current step and the
selected checklist item are reversed and marked with a cursor, so nothing depends on colour.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.geometry import Region
from textual.reactive import reactive
from textual.widgets import Static

from widgets.sanitize import sanitize_line


class StepView(NamedTuple):
    label: str
    status: str
    detail: str = ""


class ChecklistView(NamedTuple):
    text: str
    ticked_by: str | None = None
    ticked_at: str = ""


class PhaseView(NamedTuple):
    name: str
    owner: str
    status: str  # pending | running | waiting-gate | baking | paused | done | failed | rolled-back | skipped
    planned_start: str = ""
    planned_duration: str = ""
    actual_start: str = ""
    actual_duration: str = ""
    steps: Sequence[StepView] = ()
    current_step: int | None = None
    checklist: Sequence[ChecklistView] = ()


class TimelineData(NamedTuple):
    phases: list[PhaseView]
    current: int | None = None
    selected_item: int | None = None  # index into the current phase's checklist


ICONS = {"done": "✓", "running": "▶", "waiting-gate": "⏸", "baking": "◷", "paused": "⏸", "failed": "✗",
         "rolled-back": "↩", "skipped": "»", "pending": "·"}
STYLES = {"done": "green", "running": "bold cyan", "waiting-gate": "bold yellow", "baking": "bold cyan",
          "paused": "bold yellow", "failed": "bold red", "rolled-back": "bold magenta", "skipped": "dim",
          "pending": "dim"}
# Said in words on the current phase: ⏸ alone does not tell a gate from a pause.
WORDS = {"waiting-gate": "waiting for approval", "baking": "baking", "paused": "PAUSED", "failed": "FAILED",
         "rolled-back": "ROLLED BACK", "running": "running"}


class Rendered(NamedTuple):
    text: Text
    current_start: int  # line of the current phase's header
    current_end: int  # its last line (steps and checklist included)
    focus: int  # the line that must stay visible: selected item, else current step, else the header


def _span(start: str, duration: str) -> str:
    if not start:
        return ""
    return f"{start} +{duration}" if duration else start


def _columns(data: TimelineData, compact: bool, width: int) -> tuple[list[str], list[int]] | None:
    """Which time columns fit, aligned, in `width`: planned+actual, else actual only, else None."""
    names = [cell_len(sanitize_line(p.name)) for p in data.phases]
    owners = [cell_len(sanitize_line(p.owner)) for p in data.phases]
    base = 3 + max([5, *names]) + 2 + max([5, *owners])
    planned = max((len(_span(p.planned_start, p.planned_duration)) for p in data.phases), default=0)
    actual = max((len(_span(p.actual_start, p.actual_duration or "0s")) for p in data.phases), default=0)
    options = [] if compact else [(["planned", "actual"], [max(planned, 7), max(actual, 6)])]
    options.append((["actual"], [max(actual, 6)]))
    for heads, widths in options:
        if base + sum(2 + w for w in widths) <= width:
            return heads, widths
    return None


def render_timeline(data: TimelineData, compact: bool, width: int = 80) -> Rendered:
    """Header, then one row per phase: `✓ Prep  DevOps  22:00 +10m  22:03 +12m` (planned, actual)."""
    out = Text()
    line = 0
    start = end = focus = 0
    names = [sanitize_line(p.name) for p in data.phases]
    owners = [sanitize_line(p.owner) for p in data.phases]
    # At least as wide as the header words, so the header lines up too.
    name_w = max([5] + [cell_len(n) for n in names])
    owner_w = max([5] + [cell_len(o) for o in owners])
    cols = _columns(data, compact, width)
    if cols is not None and data.phases:
        # Columns line up under a header when they fit; otherwise the row ends in an ellipsis.
        header = "   " + "phase".ljust(name_w) + "  " + "owner".ljust(owner_w)
        header += "".join("  " + h.ljust(w) for h, w in zip(*cols, strict=True))
        out.append(header.rstrip() + "\n", style="dim")
        line += 1
    for i, ph in enumerate(data.phases):
        is_current = i == data.current
        style = STYLES.get(ph.status, "")
        if is_current:
            start = focus = line
        out.append("▸" if is_current else " ", style="bold")
        out.append(ICONS.get(ph.status, "?"), style=style)
        out.append(" ")
        out.append(names[i].ljust(name_w) if cols else names[i], style=("bold reverse " if is_current else "bold ") + style)
        out.append("  ")
        out.append(owners[i].ljust(owner_w) if cols else owners[i], style="italic")
        actual = _span(ph.actual_start, ph.actual_duration or "0s")
        if cols is None:
            times = [actual] if actual else []
        else:
            spans = {"planned": _span(ph.planned_start, ph.planned_duration), "actual": actual}
            times = [spans[h].ljust(w) for h, w in zip(*cols, strict=True)]
        row_end = Text("".join(f"  {t}" for t in times).rstrip(), style="" if is_current else "dim")
        name_cells, owner_cells = (name_w, owner_w) if cols else (cell_len(names[i]), cell_len(owners[i]))
        used = 3 + name_cells + 2 + owner_cells + row_end.cell_len
        if is_current and ph.status in WORDS and used + 2 + len(WORDS[ph.status]) <= width:
            row_end.append(f"  {WORDS[ph.status]}", style=style)
        out.append_text(row_end)
        out.append("\n")
        line += 1
        if not is_current:
            continue
        pad = "" if compact else "  "  # compact gives its indent to the text
        for j, st in enumerate(ph.steps):
            here = j == ph.current_step
            out.append(pad + ("› " if here else "  "), style="bold")
            out.append(ICONS.get(st.status, "·"), style=STYLES.get(st.status, ""))
            out.append(" ")
            out.append(sanitize_line(st.label), style="bold reverse" if here else STYLES.get(st.status, ""))
            if st.detail and not compact:
                out.append(f"  {sanitize_line(st.detail)}", style="dim")
            out.append("\n")
            if here:
                focus = line
            line += 1
        if ph.checklist:
            ticked = sum(1 for c in ph.checklist if c.ticked_by)
            out.append(f"{pad}  checklist {ticked}/{len(ph.checklist)}\n", style="bold" if ticked < len(ph.checklist)
                       else "green")
            line += 1
        for k, item in enumerate(ph.checklist):
            selected = k == data.selected_item
            out.append(pad + ("❯ " if selected else "  "), style="bold")
            mark = "[x] " if item.ticked_by else "[ ] "
            out.append(mark, style="green" if item.ticked_by else "bold")
            out.append(sanitize_line(item.text), style="reverse" if selected else ("dim" if item.ticked_by else ""))
            if item.ticked_by:
                out.append(f" — {sanitize_line(item.ticked_by)} {sanitize_line(item.ticked_at)}".rstrip(),
                           style="green")
            out.append("\n")
            if selected:
                focus = line
            line += 1
        end = line - 1
    out.rstrip()
    return Rendered(out, start, max(start, end), focus)


class PhaseTimeline(VerticalScroll):
    """Scrollable; after each update the current phase (and the selected item) is scrolled into view."""

    # A stable gutter: the scrollbar appearing must not change the width the columns were fitted to.
    DEFAULT_CSS = """
    PhaseTimeline { scrollbar-gutter: stable; }
    PhaseTimeline > #timeline-body { width: 1fr; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    compact: reactive[bool] = reactive(False)

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.data: TimelineData | None = None
        self.rendered: Rendered | None = None
        self.border_title = "plan"
        self._drawn_for: tuple[TimelineData, bool, int] | None = None
        self._focus_for: tuple[object, ...] | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="timeline-body")

    def on_mount(self) -> None:
        self._draw()

    def on_resize(self) -> None:
        self._draw()  # column alignment depends on the width

    def watch_compact(self) -> None:
        self._draw()

    def update_timeline(self, data: TimelineData) -> None:
        if data != self.data:
            self.data = data
            self._draw()

    def _draw(self) -> None:
        body = next(self.query("#timeline-body").results(Static), None)
        if self.data is None or body is None:
            return  # not composed yet: on_mount draws
        width = self.scrollable_content_region.width or 80
        key = (self.data, self.compact, width)
        if key == self._drawn_for:
            return
        self._drawn_for = key
        self.rendered = render_timeline(self.data, self.compact, width)
        body.update(self.rendered.text)
        done = sum(1 for p in self.data.phases if p.status in ("done", "skipped"))
        self.border_subtitle = f"{done}/{len(self.data.phases)} done" if self.data.phases else ""
        cur = self.data.current
        step = self.data.phases[cur].current_step if cur is not None and cur < len(self.data.phases) else None
        focus = (cur, step, self.data.selected_item, self.compact)
        # Scroll only when what the operator follows moved, so a manual scroll survives the clock ticking.
        if cur is not None and focus != self._focus_for:
            self._focus_for = focus
            self.call_after_refresh(self._keep_in_view)

    def _keep_in_view(self) -> None:
        r = self.rendered
        if r is None:
            return
        height = self.scrollable_content_region.height
        top, bottom = r.current_start, r.current_end
        if bottom - top + 1 > height:
            # The open phase is taller than the pane: centre on the line the operator is working on.
            top = max(r.current_start, r.focus - height // 2)
            bottom = min(r.current_end, top + height - 1)
        self.scroll_to_region(Region(0, top, 1, bottom - top + 1), animate=False, x_axis=False, immediate=True)
