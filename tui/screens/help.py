"""`?`: every action, its keys, and why it is unavailable right now."""

from __future__ import annotations

from collections.abc import Callable

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.keymap import ACTIONS
from widgets.sanitize import sanitize_line


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", id="help.close")]

    def __init__(self, keys_for: Callable[[str], str], why_not: Callable[[str], str | None]) -> None:
        super().__init__()
        self.keys_for = keys_for
        self.why_not = why_not

    def compose(self) -> ComposeResult:
        table = Table(title="shipdeck keys", expand=True, show_lines=False)
        table.add_column("keys", no_wrap=True)
        table.add_column("action")
        table.add_column("now")
        for a in ACTIONS:
            reason = self.why_not(a.id)
            name = Text(a.description, style="bold red" if a.dangerous else "")
            table.add_row(self.keys_for(a.id), name, Text(sanitize_line(reason or "available"), style="dim" if reason else "green"))
        note = Text(
            "\nRemap keys in ~/.config/shipdeck/config.toml, e.g.\n  [keys]\n  rollback = \"ctrl+r\"\n"
            "Esc closes this help.",
            style="dim",
        )
        with VerticalScroll(id="help-box"):
            yield Static(table)
            yield Static(note)

    def action_close(self) -> None:
        self.dismiss(None)
