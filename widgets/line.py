"""A line of text whose changes repaint that line only.

`Static.update` asks for a new layout every time (its size might change), so a status line refreshed once
a second would relayout the whole screen. A line's size never depends on its text: it only repaints, and
only when the text differs. A wrapping line (an alarm that must be read whole) grows to `max_rows` rows
and asks for a layout only when its number of rows changes.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.geometry import Size
from textual.widget import Widget


class Line(Widget):
    DEFAULT_CSS = "Line { height: 1; }"

    def __init__(self, *, wrap: bool = False, max_rows: int = 3, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.text = Text()
        self.wrap = wrap
        self.max_rows = max_rows
        self._drawn: list[Callable[[], object]] = []
        if wrap:
            self.styles.height = "auto"

    def set(self, text: Text, drawn: Callable[[], object] | None = None) -> None:
        """`drawn`: called once the frame holding this text has gone to the terminal (at once if nothing changed)."""
        if text != self.text:
            relayout = self.relayouts(text)
            self.text = text
            self.refresh(layout=relayout)
            if drawn is not None:
                self._drawn.append(drawn)
        elif drawn is not None:
            drawn()

    def relayouts(self, text: Text) -> bool:
        """Whether showing `text` changes this line's height, and so the layout of all below it."""
        return self.wrap and text != self.text and self._rows(text) != self._rows(self.text)

    def _rows(self, text: Text, width: int | None = None) -> int:
        width = width or self.size.width
        if not self.wrap or width <= 0:
            return 1
        return max(1, min(self.max_rows, len(text.wrap(self.app.console, width))))

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self._rows(self.text, width)

    def render(self) -> Text:
        # Drawn inside the compositor's frame: a call posted now runs once that frame is written.
        for drawn in self._drawn:
            self.call_after_refresh(drawn)
        self._drawn.clear()
        if not self.wrap:
            return self.text
        lines = self.text.wrap(self.app.console, max(1, self.size.width))
        return Text("\n").join(lines[: self.max_rows])
