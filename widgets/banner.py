"""The run's state across the whole width when it is one a war room must not miss.

ROLLED BACK, PAUSED BY GUARD, ENGINE FAILED, COMPLETED: three rows of colour with the word spaced out, readable
from across a room on a shared screen; one row on a small terminal. Hidden while the night runs normally.
"""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

STYLES = {"red": "bold white on dark_red", "yellow": "bold black on yellow", "green": "bold black on green3"}


class StateBanner(Widget):
    DEFAULT_CSS = "StateBanner { height: 3; display: none; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.word = ""
        self.colour = "red"

    def show(self, word: str, colour: str = "red") -> None:
        """`word` '' hides the banner. Repaints (and relayouts) only when it changes."""
        if (word, colour) == (self.word, self.colour) and self.display == bool(word):
            return
        self.word, self.colour = word, colour
        self.display = bool(word)
        self.refresh()

    def relayouts(self, word: str) -> bool:
        """Whether showing `word` makes the banner appear or go, and so moves everything below it."""
        return self.display != bool(word)

    def render(self) -> Text:
        style = STYLES.get(self.colour, STYLES["red"])
        width = max(1, self.size.width)
        spaced = "   ".join(" ".join(part) for part in self.word.split(" "))
        if len(spaced) > width:
            spaced = self.word
        middle = spaced.center(width)[:width]
        rows = [middle] if self.size.height < 3 else [" " * width, middle, " " * width]
        return Text("\n".join(rows), style=style, no_wrap=True, overflow="crop")
