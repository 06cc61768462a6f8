"""`o`: the notes of the current phase (rollback procedure, contacts, decision points), to read mid-night."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui.screens.dialog import Dialog
from widgets.sanitize import sanitize_line


class NotesScreen(Dialog[None]):
    BINDINGS = [Binding("escape,o,q", "close", "Close", id="notes.close")]

    def __init__(self, phase: str, notes: list[str]) -> None:
        super().__init__()
        self.phase = phase
        self.notes = notes

    def compose(self) -> ComposeResult:
        body = Text()
        body.append(f"Notes of phase {sanitize_line(self.phase)!r}\n\n", style="bold")
        for note in self.notes:  # runbook text: inert, never markup
            style = "bold" if note.startswith(("[", "—")) else ""
            body.append(sanitize_line(note) + "\n", style=style)
        body.append("\nEsc closes the notes.", style="dim")
        with VerticalScroll(id="notes-box"):
            yield Static(body)

    def action_close(self) -> None:
        self.dismiss(None)
