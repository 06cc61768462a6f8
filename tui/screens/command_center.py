"""The one screen: status, traffic split, timeline, charts, guards, logs."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import Screen
from textual.widget import Widget

from tui.screens.confirm import ConfirmScreen
from tui.screens.help import HelpPanel
from tui.screens.prompt import WeightPrompt
from widgets.banner import StateBanner
from widgets.guards import GuardPanel
from widgets.keybar import KeyBar
from widgets.line import Line
from widgets.logpane import LogPane
from widgets.splitbar import TrafficSplitBar
from widgets.timeline import PhaseTimeline

if TYPE_CHECKING:
    from widgets.chart import MetricChart

COMPACT_WIDTH, COMPACT_HEIGHT = 120, 36


class CommandCenter(Screen[None]):
    def __init__(self, metrics: list[str], max_log_lines: int, help_panel: HelpPanel, keybar: KeyBar,
                 on_ready: Callable[[], None] | None = None) -> None:
        """`on_ready`: called once the screen is composed, before its first frame, and again once its charts are
        (to paint what is known)."""
        super().__init__()
        self.on_ready = on_ready
        self._composed = False
        self.at_once = False  # the charts and the log's lines in the first frame, or a frame after the plan
        self._charts_mounted = False
        self.help_panel = help_panel
        self.keybar = keybar
        self.metrics = metrics
        self.max_log_lines = max_log_lines
        self.chart_index = 0
        self.holding = False  # a dialog waits for a decision: charts and logs hold still behind it
        self._focus_before_help: Widget | None = None
        self._later_waiting: Text | None = None  # the alarm line and the banner, when they wait a frame
        self._later_banner: tuple[str, str] | None = None

    def on_screen_suspend(self) -> None:
        # Every repaint behind a dialog re-renders the whole dimmed backdrop, and the operator's Enter waits
        # behind it. Status line, banner and guards stay live; charts and logs catch up when it closes.
        self._hold(isinstance(self.app.screen, (ConfirmScreen, WeightPrompt)))

    def on_screen_resume(self) -> None:
        self._hold(False)

    def _hold(self, on: bool) -> None:
        self.holding = on
        if self.paintable:  # not while it composes, nor once an app that quit at once tears it down
            self.query_one(LogPane).held = on

    def compose(self) -> ComposeResult:
        self._set_compact()  # before its widgets are styled: a class set after styles the whole tree again
        yield Line(id="status")
        yield Line(wrap=True, id="waiting")  # an alarm is read whole, never cut mid-sentence
        yield StateBanner(id="banner")
        yield TrafficSplitBar(id="split")
        with Vertical(id="body"):
            with Horizontal(id="middle"):
                yield PhaseTimeline(id="timeline")
                with Grid(id="charts"):
                    if self.at_once:
                        yield from self._new_charts()
            yield GuardPanel(id="guards")
            yield LogPane(max_lines=self.max_log_lines, lines_later=not self.at_once, id="logs")
            yield self.help_panel  # over the body: the status lines, the split and the keys stay in view
        yield self.keybar

    @property
    def paintable(self) -> bool:
        """Its widgets are all mounted and none is being removed: a closing screen loses them one by one (Textual
        8's `_pruning` marks them, the Textual version is pinned)."""
        return self._composed and self.is_attached and not self._pruning

    def on_mount(self) -> None:
        self._composed = True
        self._charts_mounted = self.at_once
        self._apply_size()
        if self.on_ready is not None:
            self.call_next(self.on_ready)  # ahead of the first refresh
        if not self._charts_mounted:
            # Five charts are more than half the screen's widgets, and plotext's import: with nothing to draw yet,
            # the plan, the status and the keys are on screen first, the charts a frame later.
            self.call_after_refresh(self._mount_charts)

    def _new_charts(self) -> list[MetricChart]:
        from widgets.chart import MetricChart  # plotext, ~25 ms: not before the first frame of a run

        charts = [MetricChart(id=f"chart-{i}", classes="chart") for i in range(len(self.metrics))]
        for i, chart in enumerate(charts):
            chart.display = self._chart_shown(i)
        return charts

    async def _mount_charts(self) -> None:
        if not self.paintable:
            return
        await self.query_one("#charts", Grid).mount_all(self._new_charts())
        self._charts_mounted = True
        if self.on_ready is not None:
            self.on_ready()

    def toggle_help(self, on: bool) -> None:
        """Open or close the keys panel. Open, it has the focus, so arrows and page keys scroll it (80x24
        shows part of it); every other key reaches the command center as usual."""
        if on == self.help_panel.display:
            return
        self.help_panel.display = on
        if on:
            self.help_panel.show_keys()
            self._focus_before_help = self.focused
            self.help_panel.focus()
        else:
            self.set_focus(self._focus_before_help)

    def on_resize(self) -> None:
        self._apply_size()

    def _set_compact(self) -> bool:
        size = self.size if self.size.area else self.app.size
        compact = size.width < COMPACT_WIDTH or size.height < COMPACT_HEIGHT
        self.set_class(compact, "compact")
        return compact

    def _apply_size(self) -> None:
        if not self.paintable:  # a resize while the screen composes or is torn down (an engine that never started)
            return
        self.query_one(PhaseTimeline).compact = self._set_compact()
        self._show_charts()

    def _show_charts(self) -> None:
        for i, chart in enumerate(self.charts()):
            chart.display = self._chart_shown(i)

    def _chart_shown(self, index: int) -> bool:
        return not self.has_class("compact") or index == self.chart_index % max(1, len(self.metrics))

    def charts(self) -> list[MetricChart]:
        """One chart per metric, in plan order (the grid holds nothing else); none before they are mounted."""
        if not self._charts_mounted:
            return []
        return cast("list[MetricChart]", list(self.query_one("#charts", Grid).children))

    def cycle_chart(self) -> str:
        self.chart_index = (self.chart_index + 1) % max(1, len(self.metrics))
        self._show_charts()
        return self.metrics[self.chart_index] if self.metrics else ""

    def set_status(self, status: Text, waiting: Text, banner: tuple[str, str] = ("", "red")) -> None:
        """Each part repaints only if it changed. A change that moves the rows below (the banner coming or
        going, the alarm line growing or shrinking) relayouts the screen and redraws every chart, 40-80 ms at
        160x50: it follows one frame later, so an operator's key answers on the status line at once."""
        self.show_status(status)
        line, flag = self.query_one("#waiting", Line), self.query_one(StateBanner)
        if line.relayouts(waiting):
            self._later_waiting = waiting
        else:
            self._later_waiting = None  # the newest wins: an older deferred text never lands after it
            line.set(waiting)
        if flag.relayouts(banner[0]):
            self._later_banner = banner
        else:
            self._later_banner = None
            flag.show(*banner)
        if self._later_waiting is not None or self._later_banner is not None:
            self.call_after_refresh(self._settle)  # each time: one lost with a screen that closed is made good

    def show_status(self, status: Text, drawn: Callable[[], object] | None = None) -> None:
        """`drawn`: called once the status line's frame is written."""
        self.query_one("#status", Line).set(status, drawn)

    def _settle(self) -> None:
        if not self.paintable:  # not into a screen being torn down
            return
        if self._later_waiting is not None:
            self.query_one("#waiting", Line).set(self._later_waiting)
        if self._later_banner is not None:
            self.query_one(StateBanner).show(*self._later_banner)
        self._later_waiting = self._later_banner = None
