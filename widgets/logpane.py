"""The log pane: many sources interleaved, coloured by level and source, filtered with `/`.

Lines are queued and written in one batch per tick; memory is bounded (max_lines kept, a
bounded queue that drops its oldest lines under a burst and says how many). Following stops
when the user scrolls up and resumes with End.
"""

from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import NamedTuple

from rich.cells import cell_len
from rich.highlighter import Highlighter
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Log

from widgets.sanitize import sanitize_line

FLUSH_INTERVAL = 0.1
SOURCE_WIDTH = 14
LEVELS = {"debug": "DEBUG", "info": "INFO ", "warning": "WARN ", "error": "ERROR"}
LEVEL_STYLES = {"DEBUG": "dim", "INFO ": "", "WARN ": "bold yellow", "ERROR": "bold red"}
SOURCE_PALETTE = ("cyan", "magenta", "bright_blue", "bright_green", "yellow", "bright_magenta", "bright_cyan")
PREFIX = 9 + SOURCE_WIDTH + 1  # "HH:MM:SS " + source + " "


class LogRecord(NamedTuple):  # thousands at once under a burst: no __dict__ each
    ts: float
    source: str
    level: str
    text: str


@lru_cache(maxsize=64)
def _clock(second: int) -> str:
    return datetime.fromtimestamp(second).strftime("%H:%M:%S")  # a burst's lines share a handful of seconds


def format_record(rec: LogRecord) -> str:
    """One fixed-layout line; the highlighter colours it by position, so data is never markup."""
    stamp = _clock(int(rec.ts))
    source = sanitize_line(rec.source)[:SOURCE_WIDTH].ljust(SOURCE_WIDTH)
    level = LEVELS.get(rec.level, "INFO ")
    return f"{stamp} {source} {level} {sanitize_line(rec.text)}"


class LineHighlighter(Highlighter):
    def highlight(self, text: Text) -> None:
        plain = text.plain
        if len(plain) < PREFIX + 5 or plain.startswith("…"):
            text.stylize("dim italic")
            return
        text.stylize("dim", 0, 8)
        source = plain[9 : 9 + SOURCE_WIDTH].strip()
        colour = SOURCE_PALETTE[zlib.crc32(source.encode()) % len(SOURCE_PALETTE)]
        text.stylize(colour, 9, 9 + SOURCE_WIDTH)
        level = plain[PREFIX : PREFIX + 5]
        style = LEVEL_STYLES.get(level, "")
        if style:
            text.stylize(style, PREFIX, PREFIX + 5)
            if level == "ERROR":
                text.stylize("red", PREFIX + 6)


class _Lines(Log):
    """Anchored: it follows the newest line until the operator scrolls up, and again from the end. Textual keeps an
    anchored widget at its bottom whatever the horizontal scrollbar takes; the Log's own "was it at the end" check
    does not, and stopped following for good once a line wider than the pane brought that bar (every 80x24 demo)."""

    BINDINGS = [Binding("end", "follow", "Follow", show=False)]

    def on_mount(self) -> None:
        self.anchor()

    def _update_size(self, updates: int, lines: list[str]) -> None:  # type: ignore[override]  # no worker
        """The widest new line, measured here. Textual's Log (pinned 8.2.8) measures each write in a thread worker of
        its own, and the executor's idle threads keep their last worker alive through its context, with the batch of
        lines it measured: after a 1,000,000-line burst, five batches of 5,000 copied lines (3-4 MB) stayed."""
        width = widest = self._width
        for line in lines:
            if 2 * len(line) > width or "\t" in line:  # a character takes at most two cells: shorter ones cannot widen
                widest = max(widest, cell_len(self._process_line(line)))
        if widest > width:
            self._update_maximum_width(updates, widest)

    @property
    def following(self) -> bool:
        return not self._anchor_released  # Textual's own word for "the operator scrolled away" (pinned 8.2.8)

    def action_follow(self) -> None:
        self.scroll_end(animate=False)
        pane = self.parent
        if isinstance(pane, LogPane):
            pane.update_hint()


class LogPane(Vertical):
    DEFAULT_CSS = """
    LogPane > Input { dock: top; height: 3; display: none; }
    LogPane.filtering > Input { display: block; }
    LogPane > _Lines { height: 1fr; overflow-x: auto; }
    """
    BINDINGS = [Binding("escape", "clear_filter", "Clear filter", show=False)]

    def __init__(self, max_lines: int = 5000, queue_cap: int | None = None, *, lines_later: bool = False,
                 id: str | None = None) -> None:
        """`lines_later`: the lines widget is mounted after the pane's first frame (lines queue until then)."""
        super().__init__(id=id)
        self.lines_later = lines_later
        self.max_lines = max_lines
        self.queue_cap = queue_cap or max_lines
        self.kept: deque[str] = deque(maxlen=max_lines)
        self.queue: deque[LogRecord] = deque()  # formatted at flush: lines dropped under a burst cost nothing
        self.dropped = 0
        self.writes = 0
        self.held = False  # nothing is drawn while held (lines queue, bounded as under a burst)
        self.filter_text = ""
        self.border_title = "logs"

    def compose(self) -> ComposeResult:
        if not self.lines_later:
            yield self._new_lines()

    def _new_lines(self) -> _Lines:
        log = _Lines(max_lines=self.max_lines, highlight=True, id="log-lines")
        log.highlighter = LineHighlighter()
        return log

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Esc clears a filter only while there is one: otherwise it goes on to the app (closing the help).
        return action != "clear_filter" or self.has_class("filtering") or bool(self.filter_text)

    def on_mount(self) -> None:
        self.set_interval(FLUSH_INTERVAL, self.flush)
        if self.lines_later:
            # A Log and its scrollbar are a tenth of a screen's first frame: an empty pane's border comes first.
            self.call_after_refresh(self._mount_lines)

    async def _mount_lines(self) -> None:
        if not self.is_attached:
            return  # its screen closed first
        await self.mount(self._new_lines())
        self.lines_later = False
        self.flush()

    @property
    def lines_widget(self) -> _Lines:
        return self.query_one(_Lines)

    @property
    def following(self) -> bool:
        return self.lines_later or self.lines_widget.following

    @property
    def line_count(self) -> int:
        return 0 if self.lines_later else self.lines_widget.line_count

    def push(self, records: Sequence[LogRecord], dropped: int = 0) -> None:
        """Queue lines; nothing is drawn until the next flush. `dropped`: older lines the caller already let go,
        counted as the pane's own."""
        self.queue.extend(records)
        self.dropped += dropped
        excess = len(self.queue) - self.queue_cap
        if excess > 0:
            # Back-pressure: under a burst the newest lines matter more than the oldest queued.
            for _ in range(excess):
                self.queue.popleft()
            self.dropped += excess

    def flush(self) -> None:
        if self.held or self.lines_later or (not self.queue and not self._pending_drop_notice):
            return
        records = list(self.queue)
        self.queue.clear()
        if self._pending_drop_notice and len(records) >= self.max_lines:
            cut = len(records) - self.max_lines + 1  # room for the notice, or the pane would drop it at once
            records, self.dropped = records[cut:], self.dropped + cut
        batch = [format_record(r) for r in records]
        if self._pending_drop_notice:
            n = self.dropped - self._reported_drops
            batch.insert(0, f"… {n} older line{'s' * (n != 1)} not shown: more arrived between two paints than "
                            "the pane keeps")
            self._reported_drops = self.dropped
        self.kept.extend(batch)
        shown = [ln for ln in batch if self._matches(ln)]
        if shown:
            log = self.lines_widget
            log.write_lines(shown)
            # Textual 8's Log stops repainting once max_lines is reached: force it.
            log.refresh()
            self.writes += 1
        self.update_hint()

    _reported_drops = 0

    @property
    def _pending_drop_notice(self) -> bool:
        return self.dropped > self._reported_drops

    def _matches(self, line: str) -> bool:
        return not self.filter_text or self.filter_text.lower() in line.lower()

    def update_hint(self) -> None:
        parts = []
        if self.filter_text:
            parts.append(f"filter: {sanitize_line(self.filter_text)}")
        if not self.following:
            parts.append("paused — End to follow")
        self.border_subtitle = " · ".join(parts)

    def action_filter(self) -> None:
        box = next(iter(self.query(Input)), None)
        if box is None:
            # Made on first use, not in every screen's first frame (an Input is a twentieth of its work).
            box = Input(placeholder="filter logs (Esc clears)", id="log-filter")
            self.mount(box, before=0)
        self.add_class("filtering")
        box.disabled = False
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.apply_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if not self.lines_later:
            self.lines_widget.focus()

    def apply_filter(self, text: str) -> None:
        self.filter_text = text
        if self.lines_later:
            return  # the first flush writes what the filter keeps
        log = self.lines_widget
        log.clear()
        log.write_lines([ln for ln in self.kept if self._matches(ln)], scroll_end=True)
        log.refresh()
        self.update_hint()

    def action_clear_filter(self) -> None:
        for box in self.query(Input):  # none when a filter was set without one (apply_filter)
            box.value = ""
            box.disabled = True  # while hidden, so it never takes the focus (and the keys) from the screen
        self.remove_class("filtering")
        self.apply_filter("")
        if not self.lines_later:
            self.lines_widget.focus()
