"""Ready-made strips as a Textual visual, a Rich renderable rendered once per width, and a dimmed copy of a
screen's strips (a dialog's backdrop)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from rich.console import RenderableType
from rich.segment import Segment
from rich.style import Style as RichStyle
from textual._context import active_app
from textual.color import Color
from textual.css.styles import RulesMap
from textual.strip import Strip
from textual.style import Style
from textual.visual import RenderOptions, Visual


class StripsVisual(Visual):
    """Strips painted as they are: no Rich console pass, no re-wrapping."""

    def __init__(self, strips: list[Strip]) -> None:
        self.strips = strips

    def render_strips(self, width: int, height: int | None, style: Style, options: RenderOptions) -> list[Strip]:
        blank = style.rich_style
        lines = self.strips if height is None else (self.strips + [Strip.blank(width, blank)] * height)[:height]
        return [strip.adjust_cell_length(width, blank) for strip in lines]

    def get_optimal_width(self, rules: RulesMap, container_width: int) -> int:
        return max((strip.cell_length for strip in self.strips), default=0)

    def get_height(self, rules: RulesMap, width: int) -> int:
        return len(self.strips)


class RenderedOnce(Visual):
    """A Rich renderable (a table) rendered once per width and base style. Textual renders one again for
    each height query and each paint: a 20-row table, several times per relayout."""

    def __init__(self, renderable: RenderableType) -> None:
        self.renderable = renderable
        self._cache: dict[tuple[int, Any], list[Strip]] = {}

    def _lines(self, width: int, style: RichStyle | None = None) -> list[Strip]:
        key = (width, style)
        if key not in self._cache:
            app = active_app.get()
            options = app.console_options.update(highlight=False, width=width, height=None)
            segments = app.console.render(self.renderable, options)
            if style:
                segments = Segment.apply_style(segments, style)
            self._cache[key] = [Strip(line) for line in Segment.split_and_crop_lines(
                segments, width, include_new_lines=False, pad=False)]
        return self._cache[key]

    def render_strips(self, width: int, height: int | None, style: Style, options: RenderOptions) -> list[Strip]:
        return self._lines(width, style.rich_style)[:height]

    def get_optimal_width(self, rules: RulesMap, container_width: int) -> int:
        return container_width

    def get_height(self, rules: RulesMap, width: int) -> int:
        return len(self._lines(width))


def dimmed(strips: list[Strip], tint: Color) -> list[Strip]:
    """The strips under a translucent tint, as Textual's own dialog backdrop blends them (links and
    click targets dropped), each distinct style blended once instead of once per segment."""
    return [Strip([segment if segment.control else Segment(segment.text, _tinted(segment.style, tint))
                   for segment in strip], strip.cell_length) for strip in strips]


@lru_cache(maxsize=4096)
def _tinted(style: RichStyle | None, tint: Color) -> RichStyle:
    style = RichStyle() if style is None else style.clear_meta_and_links()
    if tint.a == 0:
        return style
    fg = None if style.color is None else (Color.from_rich_color(style.color) + tint).rich_color
    bg = None if style.bgcolor is None else (Color.from_rich_color(style.bgcolor) + tint).rich_color
    return style + RichStyle.from_color(fg, bg)
