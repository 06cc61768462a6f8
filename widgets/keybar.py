"""The keys line at the bottom of the screen: what Textual's Footer shows, in one widget.

The Footer rebuilds one widget per key each time the bindings change, and they change on every run state
change and every focus move: tens of milliseconds at 160 columns, on the path of the key that caused it.
This line is built from the same bindings, repaints only when what it says changed, and a click on a key
presses it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.screen import Screen
from textual.widget import Widget


class KeyBar(Widget):
    ALLOW_SELECT = False
    COMPONENT_CLASSES = {"keybar--key", "keybar--description", "keybar--separator"}
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
        & > .keybar--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        & > .keybar--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
        & > .keybar--separator {
            color: $foreground 20%;
        }
    }
    """

    def __init__(self, *, pinned: tuple[str, ...] = (), label: Callable[[str, str], str] | None = None,
                 id: str | None = None) -> None:
        """`pinned`: binding ids shown whatever the width (help, quit), at the right; `label(id, description)`:
        what a key is called now (p Pause / p Resume)."""
        super().__init__(id=id)
        self.pinned = pinned
        self.label = label
        self._keys: tuple[Any, ...] = ()  # what the line says: (key, shown as, description, enabled, id)..., palette
        self.set_reactive(Widget.auto_links, False)  # keys are clicked, not underlined like links

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._update()  # the first frame has its keys (as the screen's bindings stand now)
        self.call_after_refresh(self._update)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[Any]) -> None:
        if screen is self.screen:
            self.call_after_refresh(self._update)  # the screen's active bindings are settled by then

    def _update(self) -> None:
        keys = self._entries()
        if keys != self._keys:
            self._keys = keys
            self.refresh()

    def _entries(self) -> tuple[Any, ...]:
        """(key, shown as, description, enabled, id) per action shown, in binding order; the palette's last."""
        app, seen = self.app, set()
        entries, palette = [], None
        for key, (_node, binding, enabled, _tooltip) in self.screen.active_bindings.items():
            description = self.label(binding.id or "", binding.description) if self.label else binding.description
            entry = (binding.key, app.get_key_display(binding), description, enabled, binding.id)
            if key == app.COMMAND_PALETTE_BINDING and app.ENABLE_COMMAND_PALETTE:
                palette = entry
            elif binding.show and binding.action not in seen:
                seen.add(binding.action)
                entries.append(entry)
        return (*entries, palette)

    def render(self) -> Text:
        key_style = self.get_component_rich_style("keybar--key")
        description_style = self.get_component_rich_style("keybar--description")

        def entry(key: str, shown: str, description: str, enabled: bool, _id: str | None = None) -> Text:
            click = Style.from_meta({"@click": f"app.simulate_key({key!r})" if enabled else "app.bell"})
            dim = Style() if enabled else Style(dim=True)
            return Text.assemble((f" {shown} ", key_style + dim + click),
                                 (f"{description} ", description_style + dim + click))

        if not self._keys:
            return Text()  # the bindings are not settled yet
        *keys, palette = self._keys
        separator = Text("▏", style=self.get_component_rich_style("keybar--separator"))
        pinned = [k for k in keys if k[4] in self.pinned]
        kept = Text().join(entry(*k) for k in pinned)  # help and quit never fall off, as in htop
        right = separator + entry(*palette)[1:] if palette else Text()
        room = max(0, self.size.width - right.cell_len - kept.cell_len)
        left = Text()
        for k in keys:  # whole keys only: a key cut to "p Pa" reads as a different one
            if k in pinned:
                continue
            shown = entry(*k)
            if left.cell_len + shown.cell_len > room:
                break
            left.append_text(shown)
        left.append_text(kept)
        left.pad_right(room + kept.cell_len - left.cell_len)
        return left + right
