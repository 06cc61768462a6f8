"""Confirm a forward action or a rollback: what each backend will do, then Enter or Esc."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from tui.screens.dialog import Dialog
from widgets.sanitize import sanitize_line


class ConfirmScreen(Dialog[bool]):
    BINDINGS = [
        Binding("enter,y", "confirm", "Confirm", id="confirm.yes"),
        Binding("escape,n", "cancel", "Cancel", id="confirm.no"),
    ]

    def __init__(self, title: str, lines: list[str], on_confirm: Callable[[], object],
                 dangerous: bool = False) -> None:
        super().__init__()
        self.title_text = title
        self.lines = lines
        self.on_confirm = on_confirm
        self.dangerous = dangerous
        self.checked: list[str] = []
        # Made here, not in compose: an answer may come between compose and mount, and must not be lost.
        self.body = Static(self._body(), id="confirm-body")

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box", classes="danger" if self.dangerous else ""):
            yield self.body

    def show_check(self, lines: list[str]) -> None:
        """What the backend said of the change before it is made (its dry run), replacing the last answer."""
        self.checked = lines
        self.body.update(self._body())

    def _body(self) -> Text:
        body = Text()
        body.append(sanitize_line(self.title_text) + "\n\n", style="bold")
        for line in [*self.lines, *self.checked]:
            body.append("  • " + sanitize_line(line) + "\n")  # plan and backend text: inert, never markup
        body.append("\nEnter confirms · Esc cancels", style="dim")
        return body

    def action_confirm(self) -> None:
        self.on_confirm()  # before the dialog closes: the command must not wait for the repaint
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
