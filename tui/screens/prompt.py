"""Ask for a traffic weight (0..100), or a reason that will be journalled."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Static

from tui.screens.dialog import Dialog


class WeightPrompt(Dialog[int | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="prompt.cancel")]

    def __init__(self, current: int | None) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box"):
            yield Static(f"Shift green to what percentage? (live: {self.current if self.current is not None else '?'}%)")
            yield Input(placeholder="0..100", type="integer", id="weight")
            yield Static("", id="prompt-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text.isdigit() or not 0 <= int(text) <= 100:
            self.query_one("#prompt-error", Static).update("Enter a whole number from 0 to 100.")
            return
        self.dismiss(int(text))

    def action_cancel(self) -> None:
        self.dismiss(None)


class ReasonPrompt(Dialog[str | None]):
    """A reason for an exceptional action (journalled and sent): empty is not a reason."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="reason.cancel")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box"):
            yield Static(self.question, markup=False)
            yield Input(placeholder="why (journalled and sent to every notifier)", id="reason")
            yield Static("", id="prompt-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            self.query_one("#prompt-error", Static).update("Say why: the reason is journalled.")
            return
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
