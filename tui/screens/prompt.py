"""Ask for a traffic weight (0..100), or a reason that will be journalled."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Static

from tui.engine.plandata import parse_duration
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

    def __init__(self, question: str, dangerous: bool = False) -> None:
        super().__init__()
        self.question = question
        self.dangerous = dangerous

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box", classes="danger" if self.dangerous else ""):
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


class OverridePrompt(Dialog[tuple[str, float] | None]):
    """Resume past a red guard: the guard and its value named, a reason (journalled and sent), and for how long
    it should not act again (empty: it acts again if the breach lasts another full window)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="override.cancel")]

    def __init__(self, breach: str, red: list[str]) -> None:
        super().__init__()
        self.breach = breach
        self.red = red

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box", classes="danger"):
            yield Static(f"RESUME PAST A RED GUARD?\n{self.breach}", markup=False)
            yield Static("\n".join(f"  • {line}" for line in self.red), markup=False)
            yield Input(placeholder="why (journalled and sent to every notifier)", id="reason")
            yield Input(placeholder="silence it for (e.g. 10m; empty: it acts again after another full window)",
                        id="silence")
            yield Static("", id="prompt-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        reason = self.query_one("#reason", Input).value.strip()
        silence = self.query_one("#silence", Input).value.strip()
        error = self.query_one("#prompt-error", Static)
        if not reason:
            error.update("Say why: resuming past a red guard is journalled and sent.")
            self.query_one("#reason", Input).focus()
            return
        if event.input.id == "reason" and not silence:
            self.query_one("#silence", Input).focus()  # Enter on the reason goes to the silence, then confirms
            error.update("Enter again to resume; the guard acts again if the breach lasts another full window.")
            return
        try:
            seconds = parse_duration(silence) if silence else 0.0
        except ValueError as e:
            error.update(str(e))
            return
        self.dismiss((reason, seconds))

    def action_cancel(self) -> None:
        self.dismiss(None)
