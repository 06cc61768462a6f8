"""`shipdeck review PLAN`: what an import was not sure of, one item at a time, beside the runbook's words.

a accepts the proposal, e edits it (a guard's metric, direction, threshold, window and action; a step's command,
percentage or duration) and accepts it, d drops it, u puts it back to pending; each decision is written into
the plan at once with who and when.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Input, Label, Static

from tui.engine.plan import LoadedPlan, ReviewItem, format_duration, load_plan
from tui.engine.review import STEP, ReviewError, decide
from tui.jobcontrol import take_job_control
from widgets.sanitize import sanitize_line

FIELDS = ("metric", "direction", "threshold", "for", "action")


def proposal(r: ReviewItem) -> str:
    if r.step is not None:
        kind, value = step_field(r)
        return f"{kind} {value} in {r.phase!r}"
    g = r.guard
    if g is None:
        return "(no guard proposed)"
    return f"{g.metric} {g.op} {g.threshold:g} for {format_duration(g.for_)} → {g.action}"


def step_field(r: ReviewItem) -> tuple[str, str]:
    """The one field of a step a person edits: a run's command, a shift's percentage, a bake's duration."""
    assert r.step is not None
    data = STEP.dump_python(r.step)
    kind, value = next(iter(data.items()))
    if kind == "run":
        return kind, value["command"]
    if kind == "bake":
        return kind, format_duration(value)
    return kind, str(value)


def runbook_of(plan: Path) -> Path | None:
    """The runbook the plan was imported from, when it still lies beside it."""
    head = plan.read_text(encoding="utf-8", errors="replace")[:400]
    m = re.search(r"`shipdeck import` from (.+?)\.\s*$", head, re.M)
    return (plan.parent / m.group(1)) if m and (plan.parent / m.group(1)).is_file() else None


class EditGuard(ModalScreen[dict[str, Any] | None]):
    """The proposal's fields; Enter accepts the edited guard, Escape leaves it as it was."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, item: ReviewItem) -> None:
        super().__init__()
        self.item = item

    def compose(self) -> ComposeResult:
        g = self.item.guard
        values = (g.metric, g.op, f"{g.threshold:g}", format_duration(g.for_), g.action) if g else (
            "", "above", "", "1m", "rollback")
        with Vertical(id="edit"):
            yield Label(f"Edit the guard from runbook line {self.item.line} — Enter accepts, Escape cancels")
            for name, value in zip(FIELDS, values, strict=True):
                with Horizontal(classes="field"):
                    yield Label(f"{name:>10} ")
                    yield Input(value, id=f"f-{name}")
            yield Static("", id="edit-error")

    def on_input_submitted(self) -> None:
        v = {name: self.query_one(f"#f-{name}", Input).value.strip() for name in FIELDS}
        if v["direction"] not in ("above", "below"):
            self.query_one("#edit-error", Static).update("direction: above or below")
            return
        try:
            threshold = float(v["threshold"])
        except ValueError:
            self.query_one("#edit-error", Static).update("threshold: a number")
            return
        self.dismiss({"metric": v["metric"], v["direction"]: threshold, "for": v["for"], "action": v["action"]})

    def action_cancel(self) -> None:
        self.dismiss(None)


class EditStep(ModalScreen[dict[str, Any] | None]):
    """A step's one field (a command, a percentage, a duration); Enter accepts it edited, Escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, item: ReviewItem) -> None:
        super().__init__()
        self.item = item
        self.kind, self.value = step_field(item)

    def compose(self) -> ComposeResult:
        with Vertical(id="edit"):
            yield Label(f"Edit the {self.kind} from runbook line {self.item.line} — Enter accepts, Escape cancels")
            yield Label(f"accepted, it joins phase {self.item.phase!r}")
            with Horizontal(classes="field"):
                yield Label(f"{self.kind:>10} ")
                yield Input(self.value, id="f-step")
            yield Static("", id="edit-error")

    def on_input_submitted(self) -> None:
        value = self.query_one("#f-step", Input).value.strip()
        if not value:
            self.query_one("#edit-error", Static).update(f"{self.kind}: not empty")
            return
        if self.kind == "shift":
            if not value.rstrip("%").strip().isdigit():
                self.query_one("#edit-error", Static).update("shift: a percentage, 0 to 100")
                return
            self.dismiss({"shift": int(value.rstrip("%").strip())})
            return
        self.dismiss({"run": {"command": value}} if self.kind == "run" else {self.kind: value})

    def action_cancel(self) -> None:
        self.dismiss(None)


class ReviewApp(App[int]):
    TITLE = "shipdeck review"
    CSS = """
    #title { height: 1; background: $primary; color: $text; padding: 0 1; }
    DataTable { height: 1fr; }
    #detail { height: auto; max-height: 12; border-top: solid $primary; padding: 0 1; }
    EditGuard, EditStep { align: center middle; }
    #edit { width: 70; height: auto; border: thick $primary; background: $surface; padding: 0 1; }
    #edit-error { color: $error; }
    .field { height: 1; }
    .field Input, .field Input:focus { border: none; height: 1; padding: 0; width: 1fr; background: $boost; }
    """
    BINDINGS = [
        Binding("a", "decide('accepted')", "Accept"),
        Binding("e", "edit", "Edit"),
        Binding("d", "decide('dropped')", "Drop"),
        Binding("u", "decide('pending')", "Undo"),
        Binding("j", "move(1)", "Down", show=False),
        Binding("k", "move(-1)", "Up", show=False),
        Binding("q", "quit_review", "Quit"),
    ]

    def __init__(self, plan: Path, who: str) -> None:
        super().__init__()
        self.plan_path = plan
        self.who = who
        self.loaded: LoadedPlan = load_plan(plan)
        source = runbook_of(plan)
        self.runbook = source.read_text(encoding="utf-8", errors="replace").splitlines() if source else []
        self.source = source

    def compose(self) -> ComposeResult:
        yield Static("", id="title")
        yield DataTable(cursor_type="row", zebra_stripes=True)
        yield Static("", id="detail")
        yield Footer()

    def on_mount(self) -> None:
        take_job_control(self)
        table = self.query_one(DataTable)
        table.add_columns("line", "status", "proposal", "why")
        self._refill()

    def _refill(self, keep: int = 0) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for r in self.loaded.plan.review:
            table.add_row(str(r.line), r.status.upper() if r.status == "pending" else r.status,
                          sanitize_line(proposal(r)), sanitize_line(r.why))
        if self.loaded.plan.review:
            table.move_cursor(row=min(keep, len(self.loaded.plan.review) - 1))
        pending = len(self.loaded.plan.pending_review())
        self.query_one("#title", Static).update(
            f"REVIEW {self.plan_path.name}: {pending} of {len(self.loaded.plan.review)} items to decide"
            + ("" if pending else " — all decided"))
        self._show()

    def _current(self) -> tuple[int, ReviewItem] | None:
        row = self.query_one(DataTable).cursor_row
        items = self.loaded.plan.review
        return (row, items[row]) if 0 <= row < len(items) else None

    def _show(self) -> None:
        cur = self._current()
        if cur is None:
            self.query_one("#detail", Static).update("nothing to review")
            return
        _, r = cur
        lines = [f"runbook line {r.line}" + (f" of {self.source.name}" if self.source else "") + f" · {r.kind}"]
        if self.runbook and 0 < r.line <= len(self.runbook):
            for n in range(max(1, r.line - 1), min(len(self.runbook), r.line + 1) + 1):
                lines.append(("> " if n == r.line else "  ") + f"{n:4} {sanitize_line(self.runbook[n - 1])}")
        else:
            lines.append(f">      {sanitize_line(r.text)}")
        lines += [f"why not active: {sanitize_line(r.why)}", f"rule: {sanitize_line(r.rule)}",
                  f"proposal: {sanitize_line(proposal(r))}"]
        if r.by:
            lines.append(f"{r.status} by {sanitize_line(r.by)} at {r.at}")
        self.query_one("#detail", Static).update("\n".join(lines))

    def on_data_table_row_highlighted(self) -> None:
        self._show()

    def action_move(self, step: int) -> None:
        table = self.query_one(DataTable)
        table.move_cursor(row=max(0, table.cursor_row + step))

    def action_decide(self, status: str, guard: dict[str, Any] | None = None,
                      step: dict[str, Any] | None = None) -> None:
        cur = self._current()
        if cur is None:
            return
        index, _ = cur
        try:
            self.loaded = decide(self.plan_path, index, status, self.who, guard, step=step)
        except (ReviewError, OSError) as e:
            self.notify(sanitize_line(str(e)), severity="error", timeout=8)
            return
        self._refill(keep=index + (status != "pending"))

    def action_edit(self) -> None:
        cur = self._current()
        if cur is None:
            return

        item = cur[1]

        def done(change: dict[str, Any] | None) -> None:
            if change is not None and item.step is not None:
                self.action_decide("accepted", step=change)
            elif change is not None:
                self.action_decide("accepted", change)

        self.push_screen(EditStep(item) if item.step is not None else EditGuard(item), done)

    def action_quit_review(self) -> None:
        self.exit(len(self.loaded.plan.pending_review()))
