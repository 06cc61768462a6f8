"""One line of text whose changes repaint that line only.

`Static.update` asks for a new layout every time (its size might change), so a status line refreshed once
a second would relayout the whole screen. A line's size never depends on its text: it only repaints, and
only when the text differs.
"""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget


class Line(Widget):
    DEFAULT_CSS = "Line { height: 1; }"

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.text = Text()

    def set(self, text: Text) -> None:
        if text != self.text:
            self.text = text
            self.refresh()

    def render(self) -> Text:
        return self.text
