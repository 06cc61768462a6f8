"""`?`: every action, its keys, and why it is unavailable right now.

A panel over the charts rather than a dialog: the keys stay live while it is open (the war room reads it
while the driver drives), and opening it repaints the panel, not the whole screen behind a backdrop.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui.keymap import ACTIONS
from widgets.sanitize import sanitize_line
from widgets.strips import RenderedOnce


class HelpPanel(VerticalScroll):
    def __init__(self, keys_for: Callable[[str], str], why_not: Callable[[str], str | None], *,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.keys_for = keys_for
        self.why_not = why_not
        self.table = Static()
        self._rows: list[tuple[str, str | None]] = []  # keys and reason per action, as last shown

    def compose(self) -> ComposeResult:
        yield self.table
        yield Static(Text(
            "\nRemap keys in ~/.config/shipdeck/config.toml, e.g.\n  [keys]\n  rollback = \"ctrl+r\"\n"
            "? or Esc closes this help, arrows and page keys scroll it; every other key works as usual.",
            style="dim",
        ))

    def show_keys(self) -> None:
        """Fill in the table as things stand now: called on opening and on each change while open."""
        rows = [(self.keys_for(a.id), self.why_not(a.id)) for a in ACTIONS]
        if rows == self._rows:
            return  # no relayout for a tick that changed nothing here
        self._rows = rows
        table = Table(title="shipdeck keys", expand=True, show_lines=False)
        table.add_column("keys", no_wrap=True)
        table.add_column("action")
        table.add_column("now")
        for a, (keys, reason) in zip(ACTIONS, rows, strict=True):
            name = Text(a.description, style="bold red" if a.dangerous else "")
            table.add_row(keys, name, Text(sanitize_line(reason or "available"), style="dim" if reason else "green"))
        self.table.update(RenderedOnce(table))
