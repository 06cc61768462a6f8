"""`o`: the notes of the current phase (rollback procedure, contacts, decision points), to read mid-night.

Runbook notes are Markdown as people write it: rendered (headings, lists, emphasis, code), never Rich markup,
with every escape sequence made inert first.
"""

from __future__ import annotations

import re

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Markdown, Static

from tui.screens.dialog import Dialog
from widgets.sanitize import sanitize_line

_LIST = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s")


def as_markdown(notes: list[str]) -> str:
    """A phase's notes, one per line as the plan keeps them, as one Markdown document: a `[Section]` or `— Part`
    line is a heading, list items stay one list, other lines are paragraphs of their own."""
    out: list[str] = []
    for raw in notes:
        note = sanitize_line(raw)
        heading = re.fullmatch(r"\[(.+)\]|— (.+)", note.strip())
        if heading:
            note = f"#### {heading.group(1) or heading.group(2)}"
        joiner = "\n" if out and _LIST.match(note) and _LIST.match(out[-1]) else "\n\n"
        out.append(f"{joiner}{note}" if out else note)
    return "".join(out)


class NotesScreen(Dialog[None]):
    BINDINGS = [Binding("escape,o,q", "close", "Close", id="notes.close")]

    def __init__(self, phase: str, notes: list[str]) -> None:
        super().__init__()
        self.phase = phase
        self.notes = notes

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="notes-box"):
            yield Static(f"Notes of phase {sanitize_line(self.phase)!r}", markup=False, classes="notes-title")
            yield Markdown(as_markdown(self.notes), open_links=False)
            yield Static("Esc closes the notes.", markup=False, classes="notes-hint")

    def action_close(self) -> None:
        self.dismiss(None)
