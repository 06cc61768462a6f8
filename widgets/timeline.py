"""The deploy plan as a timeline: phases with owners, planned vs actual, the current one opened up."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.widgets import Static

from widgets.sanitize import sanitize_line


@dataclass(frozen=True)
class StepView:
    label: str
    status: str
    detail: str = ""


@dataclass(frozen=True)
class ChecklistView:
    text: str
    ticked_by: str | None = None
    ticked_at: str = ""


@dataclass(frozen=True)
class PhaseView:
    name: str
    owner: str
    status: str
    planned_start: str = ""
    planned_duration: str = ""
    actual_start: str = ""
    actual_duration: str = ""
    steps: list[StepView] = field(default_factory=list)
    current_step: int | None = None
    checklist: list[ChecklistView] = field(default_factory=list)


@dataclass(frozen=True)
class TimelineData:
    phases: list[PhaseView]
    current: int | None = None
    selected_item: int | None = None


ICONS = {"done": "✓", "running": "▶", "waiting-gate": "⏸", "baking": "◷", "paused": "⏸", "failed": "✗",
         "rolled-back": "↩", "skipped": "»", "pending": "·"}
STYLES = {"done": "green", "running": "bold cyan", "waiting-gate": "bold yellow", "baking": "bold cyan",
          "paused": "bold yellow", "failed": "bold red", "rolled-back": "bold red", "pending": "dim"}


def render_timeline(data: TimelineData, compact: bool, width: int = 60) -> tuple[Text, int]:
    """The timeline as text, and the line where the current phase starts (to keep it in view)."""
    out = Text()
    current_line = 0
    line = 0
    for i, ph in enumerate(data.phases):
        is_current = i == data.current
        if is_current:
            current_line = line
        style = STYLES.get(ph.status, "")
        out.append(f"{ICONS.get(ph.status, '?')} ", style=style)
        out.append(sanitize_line(ph.name), style=("bold reverse " if is_current else "bold ") + style)
        if ph.owner:
            out.append(f"  {sanitize_line(ph.owner)}", style="italic")
        out.append("\n")
        line += 1
        times = []
        if not compact and (ph.planned_start or ph.planned_duration):
            times.append(f"plan {ph.planned_start} +{ph.planned_duration or '?'}")
        if ph.actual_start:
            times.append(f"{'act' if compact else 'actual'} {ph.actual_start} +{ph.actual_duration}")
        if times:
            out.append("   " + " │ ".join(times) + "\n", style="dim")
            line += 1
        if not is_current:
            continue
        for j, st in enumerate(ph.steps):
            here = j == ph.current_step
            out.append(f"   {ICONS.get(st.status, '·')} ", style=STYLES.get(st.status, ""))
            label = sanitize_line(st.label)
            if compact and len(label) > width - 8:
                label = label[: width - 9] + "…"
            out.append(label, style="reverse bold" if here else STYLES.get(st.status, ""))
            if st.detail and not compact:
                out.append(f"  {sanitize_line(st.detail)[:60]}", style="dim")
            out.append("\n")
            line += 1
        for k, item in enumerate(ph.checklist):
            selected = k == data.selected_item
            mark = "[x]" if item.ticked_by else "[ ]"
            prefix = "  ❯ " if selected else "    "
            out.append(prefix + mark + " ", style="bold" if selected else "")
            out.append(sanitize_line(item.text), style="reverse" if selected else ("dim" if item.ticked_by else ""))
            if item.ticked_by:
                out.append(f" — {sanitize_line(item.ticked_by)} {item.ticked_at}", style="green")
            out.append("\n")
            line += 1
    out.rstrip()
    return out, current_line


class PhaseTimeline(VerticalScroll):
    compact: reactive[bool] = reactive(False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.data: TimelineData | None = None
        self.border_title = "plan"

    def compose(self) -> ComposeResult:
        yield Static(id="timeline-body")

    def watch_compact(self) -> None:
        self._draw()

    def update_timeline(self, data: TimelineData) -> None:
        if data != self.data:
            self.data = data
            self._draw()

    def _draw(self) -> None:
        body = self.query("#timeline-body").results(Static)
        target = next(body, None)
        if self.data is None or target is None:
            return  # not composed yet: the next update draws
        text, current_line = render_timeline(self.data, self.compact, self.size.width)
        target.update(text)
        if self.max_scroll_y or current_line:
            self.scroll_to(y=max(0, current_line - 1), animate=False)
