"""ShipdeckApp: wires the engine to the screen. Renders the engine's events; its keys, and the commands they send,
are in tui.actions (OperatorKeys). No business logic: the rules are the engine's."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
from collections import deque
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.message import Message
from textual.theme import Theme

from backends.clock import Clock, RealClock
from tui import memory
from tui import viewmodel as vm
from tui.actions import OperatorKeys
from tui.engine.identity import account_of
from tui.engine.plandata import format_duration
from tui.jobcontrol import take_job_control
from tui.keymap import KeymapError, bindings, load_keymap
from tui.screens.command_center import CommandCenter
from tui.screens.help import HelpPanel
from tui.statusline import Seen, status_line, waiting_line
from widgets.chartdata import ChartData
from widgets.guards import GuardPanel
from widgets.keybar import KeyBar
from widgets.logpane import LogPane, LogRecord
from widgets.sanitize import sanitize_line
from widgets.splitbar import TrafficSplitBar
from widgets.timeline import PhaseTimeline

if TYPE_CHECKING:
    from tui.engine.autopilot import Autopilot
    from tui.engine.handle import EngineHandle
    from tui.engine.plan import LoadedPlan

NOTIFY_GRACE = 12.0  # the engine's last alerts may take this long after the run stops
RENDER_INTERVAL = 0.2  # seconds between screen refreshes: events are batched in between
AUTOPILOT_DELAY = 1.2

HIGH_CONTRAST = Theme(
    name="shipdeck-contrast",
    primary="#FFFF00",
    secondary="#00FFFF",
    accent="#FF00FF",
    foreground="#FFFFFF",
    background="#000000",
    surface="#000000",
    panel="#1A1A1A",
    success="#00FF00",
    warning="#FFFF00",
    error="#FF3030",
    dark=True,
)


class EngineNews(Message):
    """The engine has news for the screen: ShipdeckApp takes all of it from its inbox, in order."""


class ShipdeckApp(OperatorKeys):
    CSS_PATH = "shipdeck.tcss"
    TITLE = "shipdeck"
    BINDINGS = bindings()  # type: ignore[assignment]

    def __init__(
        self,
        engine: EngineHandle,
        clock: Clock | None = None,
        demo: bool = False,
        manual: bool = False,
        keymap: dict[str, str] | None = None,
        theme_name: str | None = None,
        autopilot_delay: float = AUTOPILOT_DELAY,
    ) -> None:
        super().__init__()
        self.plan = engine.plan  # plain data, as the engine validated it: this process never imports pydantic
        self.clock = clock or RealClock()
        # The engine handle (tui.engine.handle): in this process, a detached engine's socket, or a journal
        # followed read-only. The screen never builds an engine itself.
        self.engine: EngineHandle = engine
        # Events arrive from the engine's thread: as Messages, so a failing handler never stops the engine.
        self.engine.subscribe(self._from_engine)
        self.demo = demo
        self.autopilot: Autopilot | None = None
        if demo and not manual:
            from tui.engine.autopilot import Autopilot

            self.autopilot = Autopilot(self.engine, delay=autopilot_delay,
                                       on_action=lambda text: self._from_engine({"type": "announce", "text": text}))
            self.engine.alongside(self.autopilot.run)
        self._keymap = keymap or {}
        self._theme_name = theme_name
        self.state: dict[str, Any] = self.engine.state.to_dict()
        self.series = vm.SeriesStore()
        self.guards: list[dict[str, Any]] = vm.initial_guards(self.plan)
        self.health: dict[str, dict[str, Any]] = {}
        self.selected_item = 0
        # Lines as the engine sent them, LogRecords only at the paint: under a burst only the newest the pane
        # keeps are ever built; the rest are counted, and the pane says how many it never showed.
        self._pending_logs: deque[dict[str, Any]] = deque(maxlen=self.plan.settings.max_log_lines)
        self._logs_dropped = 0
        self._after_bursts = memory.AfterBursts(self.plan.settings.max_log_lines)
        self._logs_lock = threading.Lock()  # lines land from the engine's thread, the paint takes them
        self._news: list[dict[str, Any]] = []  # the engine's other events, from its thread, in order
        self._news_lock = threading.Lock()
        self._news_told = False  # an EngineNews is on its way to take them
        self._dirty = {"state", "samples", "status"}
        self._waited_on: set[str] = set()  # what the paint queued to run before the next tick is for
        self.last_announcement = ""
        self.helm_taken = False
        self.engine_failed = ""  # what broke between this screen and the engine ('' while nothing did)
        self.link_dropped = False  # what broke is the link: the engine guards on, this screen no longer reaches it
        self._charts_due: list[int] = []
        self._terminal: int | None = None  # stdin's fd while it is this process's controlling terminal
        self._terminal_gone = False
        self.center = CommandCenter(list(self.plan.metrics), self.plan.settings.max_log_lines,
                                    HelpPanel(self._keys_text, self.why_not, id="help"),
                                    KeyBar(pinned=("help", "quit"), label=self._key_label), on_ready=self._caught_up)

    # ------------------------------------------------------------ lifecycle

    def run(self, *args: Any, **kwargs: Any) -> int | None:
        """The CLI's way in (tests use run_test)."""
        memory.keep_for_good()
        return super().run(*args, **kwargs)

    def on_mount(self) -> None:
        self.register_theme(HIGH_CONTRAST)
        if self._theme_name:
            self.theme = self._theme_name
        if self._keymap:
            self.set_keymap(self._keymap)
        self.call_later(self._open_center)
        self.engine.start()
        shared = self.engine.operator != account_of(self.engine.operator)
        if shared and any(getattr(st, "four_eyes", False) for ph in self.plan.phases for st in ph.steps):
            self._log_line("shipdeck", "warning", (
                f"four eyes cannot be verified from this screen: it acts as the OS account "
                f"{account_of(self.engine.operator)} (SHIPDECK_OPERATOR names you, nothing proves it); a four-eyes "
                "gate is approved by someone logged in as another OS user"))
        if self.autopilot is not None:
            self._announce("is flying this demo")
        self._ticker = self.set_interval(RENDER_INTERVAL, self._render_tick)
        self.set_interval(1.0, self._clock_tick)
        self._terminal = None if self.is_headless else _controlling_terminal()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            # The terminal went away (SSH drop): leave the run journalled and resumable, then go.
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._terminal_lost, "SIGHUP")
        take_job_control(self)

    def _open_center(self) -> None:
        """Pushed once Textual's mount batch is over: a frame rendered inside it is thrown away, and the first one
        written after it was a partial one, without the status line (the full frame came ~60 ms later). With
        nothing to draw yet (an engine still starting), the charts and the log's lines come a frame after the plan;
        an engine that answered (an attach: its history is on its way) has them in the first frame."""
        self._take_news()
        self.center.at_once = bool(self.series.last_ts) or not getattr(self.engine, "connecting", False)
        self.push_screen(self.center)

    async def on_unmount(self) -> None:
        """The screen is closing (quit, a test ending): an engine in this process stops with it, resumable;
        a detached one goes on guarding."""
        self.engine.detach("the command center closed")
        await asyncio.to_thread(self.engine.join, self.plan.settings.timeout + NOTIFY_GRACE)

    def _from_engine(self, event: dict[str, Any]) -> None:
        """Called from the handle's thread. Lines go straight to the bounded pending lines, never through the
        message queue: under a burst faster than the screen paints, queued batches were the screen's memory
        (20 MB of decoded lines at 50,000 lines/s), and the newest max_log_lines are all a paint shows."""
        if event["type"] == "logs":
            self._keep_lines(event["lines"])
            return
        with self._news_lock:
            self._news.append(event)
            told, self._news_told = self._news_told, True
        if not told:
            self.post_message(EngineNews())

    def _keep_lines(self, lines: list[dict[str, Any]]) -> None:
        with self._logs_lock:
            self._logs_dropped += max(0, len(self._pending_logs) + len(lines) - self.plan.settings.max_log_lines)
            self._pending_logs.extend(lines)

    def on_engine_news(self, _message: EngineNews) -> None:
        self._take_news()

    def _take_news(self) -> None:
        """On the wake-up, and first thing in every paint: the app's queue waits while a screen composes, and an
        attaching screen's first frame should hold what the engine already sent."""
        with self._news_lock:
            news, self._news, self._news_told = self._news, [], False
        if not self.screen_stack:
            return  # the screen is closing: news the engine sent on its way out has nowhere to go
        for event in news:
            self._on_engine_event(event)

    def _on_engine_event(self, ev: dict[str, Any]) -> None:
        """Each event the engine sent but log lines, in order (from `_take_news`): store it, render on the next
        tick."""
        kind = ev["type"]
        if kind == "state":
            self.state = ev["state"]
            self._paint_now("state")
            self.refresh_bindings()
            if self.state["status"] in ("completed", "rolled-back", "aborted") and self.autopilot is not None:
                self.autopilot.stop()
        elif kind == "samples":
            self.series.add(ev["ts"], ev["values"])
            self.guards = ev["guards"]
            self._dirty.add("samples")
        elif kind == "history":
            for ts, values in ev["points"]:
                self.series.add(ts, values)
            self._dirty.add("samples")
        elif kind == "replayed":
            self._dirty.add("samples")
            self.call_next(self._caught_up)
        elif kind == "notice":
            self.notify(sanitize_line(ev["text"]), severity=_SEVERITY.get(ev["level"], "warning"),
                        markup=False)
        elif kind == "backend":
            self.health[ev["name"]] = ev
            self._dirty.add("status")
        elif kind == "engine":
            self.engine_failed = "" if ev.get("status") == "ok" else ev["reason"]
            self.link_dropped = ev.get("status") == "dropped"
            self._dirty.update({"status", "state"})  # every live claim (split, guards, countdown) follows at once
            self.refresh_bindings()
            if self.engine_failed:
                self.notify(sanitize_line(f"{self.engine_word}: {ev['reason']}"), title="engine", severity="error",
                            timeout=30, markup=False)
            else:
                self.notify("the engine works again", title="engine", timeout=10)
        elif kind == "announce":
            self._announce(ev["text"])
        elif kind == "journal":
            self._log_line("shipdeck", "info", f"journal: {ev['path']}")
        elif kind == "end":
            self._log_line("shipdeck", "info", f"run {ev['status']}: {ev.get('words') or ev['traffic']} — journal: "
                                               f"{ev['journal']}")
            if ev.get("spilled"):
                self._log_line("shipdeck", "error", ev["spilled"])

    def _paint_now(self, what: str) -> None:
        """An operator waits on this one: paint it now, not on the next tick, and only it. Log lines, samples and the
        clock that came meanwhile wait for the tick (at most RENDER_INTERVAL): under a burst, pushing the lines took
        1.5-7 ms of a 10-20 ms key-to-frame, and a sample's guards and charts or the second's clock 10-14 ms more."""
        self._dirty.add(what)
        if not self._waited_on:
            self.call_next(self._paint_waited_on)
        self._waited_on.add(what)

    def _paint_waited_on(self) -> None:
        """The status line first, alone in its frame: the run's new status is the answer to an operator's command,
        and a frame of that one row is drawn in a third of the time of one that also holds the timeline and the
        alarm line (a trace under the burst at 160x50: 2.5 against 7 ms). The rest follows once it is written.
        Behind a dialog, all in one frame."""
        waited_on, self._waited_on = self._waited_on, set()
        stack = self.screen_stack  # empty while the app closes
        on_top = bool(stack) and stack[-1] is self.center
        if waited_on & {"state", "status"} and on_top and self.center.paintable:
            self.center.show_status(status_line(self.state, self._seen(self.clock.now())),
                                    drawn=partial(self._render_tick, waited_on))
        else:
            self._render_tick(only=waited_on)

    def _caught_up(self) -> None:
        """Paint all that is known now, lines included, not a tick later: once the command center is composed
        (its first frame holds what the engine already sent), once its charts are, and when an attach's catch-up
        is all in."""
        self._dirty.add("samples")
        self._render_tick()
        if self.center.paintable:
            self.center.query_one(LogPane).flush()

    def _clock_tick(self) -> None:
        self._dirty.add("clock")  # the clock, countdowns and elapsed times move once a second, not faster
        if self._terminal is not None:
            try:
                os.tcgetpgrp(self._terminal)
            except OSError:
                # The terminal is gone and its SIGHUP never came (seen after `tmux kill-server`): Textual's input
                # thread would spin on the dead tty and the process outlive its terminal.
                self._terminal_lost("the terminal is gone")

    def _terminal_lost(self, how: str) -> None:
        if self._terminal_gone:
            return
        self._terminal_gone, self._terminal = True, None
        self.run_worker(self._hang_up(f"operator disconnected ({how})"), group="quit")

    def _render_tick(self, only: set[str] | None = None) -> None:
        """Render what changed since the last tick, and nothing else: no event, no work, no bytes. `only`: of what
        changed, these, and no log lines (the rest stays for the next tick)."""
        if self._news:
            self._take_news()
        lines = only is None
        dirty = self._dirty if only is None else self._dirty & only
        if not dirty and not (lines and self._pending_logs):
            return
        if not self.center.paintable:
            return  # still composing (it asks for a paint once it is), or torn down
        now = self.clock.now()
        self._dirty = self._dirty - dirty
        with self.batch_update():
            if lines and self._pending_logs:
                with self._logs_lock:
                    batch, dropped = list(self._pending_logs), self._logs_dropped
                    self._pending_logs.clear()
                    self._logs_dropped = 0
                self._after_bursts.came(len(batch) + dropped)
                self.center.query_one(LogPane).push(
                    [LogRecord(x["ts"], x["source"], x["level"], x["text"]) for x in batch], dropped=dropped)
            if dirty & {"state", "clock"}:
                self._render_state(now)
            if dirty & {"samples", "clock", "status"}:
                self.center.query_one(GuardPanel).update_guards(vm.guard_views(self.plan, self.guards,
                                                                               self._stale(now), self.series.last))
            if dirty & {"samples", "clock"}:
                shown = [i for i, chart in enumerate(self.center.charts()) if chart.display]
                self._charts_due += [i for i in shown if i not in self._charts_due]  # queued, never restarted
            if self._charts_due and not self.center.holding:
                charts = self.center.charts()
                for index in self._charts_due:
                    charts[index].update_chart(self._chart_data(index, now))
                self._charts_due = []
            elif self._charts_due and dirty & {"samples", "clock"}:
                # Held behind a dialog, a chart still changes when its source goes stale or down (or comes
                # back): even dimmed, a dead source is never shown as live.
                charts = self.center.charts()
                for index in list(self._charts_due):
                    chart, data = charts[index], self._chart_data(index, now)
                    if chart.data is None or chart.data.status != data.status:
                        chart.update_chart(data)
                        self._charts_due.remove(index)
            if self._charts_due:
                self._dirty.add("charts")
            if dirty & {"state", "status", "clock", "samples"}:
                self._render_status(now)
            if dirty & {"state", "status"} and self.center.help_panel.display:
                self.center.help_panel.show_keys()  # its 'now' column

    # ------------------------------------------------------------ rendering

    def _render_state(self, now: float) -> None:
        s = self.state
        ph = s["phases"][s["phase"]] if s["phase"] >= 0 else None
        if ph is not None and ph["checklist"]:
            self.selected_item = min(self.selected_item, len(ph["checklist"]) - 1)
        sel = self.selected_item if ph is not None and ph["checklist"] else None
        self.center.query_one(PhaseTimeline).update_timeline(vm.timeline(self.plan, s, now, sel))
        traffic = self.health.get("traffic")
        busy = traffic is not None and traffic.get("status") == "busy"
        self.center.query_one(TrafficSplitBar).update_split(vm.split(s, busy, traffic, self._engine_gone))

    @property
    def engine_word(self) -> str:
        """The status line's and banner's word for what broke between this screen and the engine."""
        return "LINK DROPPED" if self.link_dropped else "ENGINE FAILED"

    @property
    def _stale_after(self) -> float:
        return max(3 * self.plan.settings.sample_interval, 3.0 * _speed(self.clock))

    @property
    def _engine_gone(self) -> bool:
        """No engine behind this screen any more (it left, it was lost, or the link dropped): nothing is live."""
        return self.engine.ended or self.link_dropped

    def _stale(self, now: float) -> str:
        """Why the guards' last word is no longer news ('' while it is)."""
        if self._engine_gone:
            return "the link to the engine dropped" if self.link_dropped else "no engine behind this screen"
        last = self.series.last_ts
        if last and now - last > self._stale_after:
            return f"no sample for {format_duration(now - last)}"
        return ""

    def _chart_data(self, index: int, now: float) -> ChartData:
        name = list(self.plan.metrics)[index]
        judged = next((str(g.get("side") or "") for g in self.guards if g["metric"] == name), "")
        return vm.chart(self.plan, name, self.series, now, self._stale_after, judged)

    def _seen(self, now: float) -> Seen:
        return Seen(self.plan, now, self.health, read_only=self.read_only,
                    watcher=self.read_only.startswith("read-only"), detaches=self.engine.detaches,
                    engine_failed=self.engine_failed, link_dropped=self.link_dropped, gone=self.engine.ended,
                    autopilot=self.last_announcement if self.autopilot is not None and self.autopilot.active else None,
                    journal=str(self.engine.journal_path), connecting=getattr(self.engine, "connecting", False))

    def _render_status(self, now: float) -> None:
        seen = self._seen(now)
        self.center.set_status(status_line(self.state, seen), waiting_line(self.state, seen, self._keys, self.why_not),
                               vm.banner(self.state, self.engine_word if self.engine_failed else ""))

    def _log_line(self, source: str, level: str, text: str) -> None:
        self._keep_lines([{"ts": self.clock.now(), "source": source, "level": level, "text": text}])

    def _announce(self, text: str) -> None:
        self._log_line("autopilot", "info", text)
        self.last_announcement = text
        self._dirty.add("status")


_SEVERITY: dict[str, Any] = {"error": "error", "info": "information"}


def _controlling_terminal() -> int | None:
    try:
        fd = sys.__stdin__.fileno()  # type: ignore[union-attr]
        os.tcgetpgrp(fd)  # fails unless it is our controlling terminal (a pipe, a browser, a test)
    except (AttributeError, OSError, ValueError):
        return None
    return fd


def _speed(clock: Clock) -> float:
    return float(getattr(clock, "speed", 1.0))


def before_the_plan() -> None:
    """What a screen's process can do before it has its plan (`run` reads the plan in a child meanwhile, and the
    child is still at it in about one start of three): the screen's imports, the terminal driver's module (App
    would import it), the one arena."""
    import textual.drivers.linux_driver  # noqa: F401

    import tui.engine.connecting  # noqa: F401
    import tui.engine.spawn  # noqa: F401

    memory.one_arena()


def make_app(
    loaded: LoadedPlan | None, journal_path: str | Path, keymap: dict[str, str] | None = None, **options: Any
) -> ShipdeckApp:
    """The one factory the CLI and the tests use; options are ShipdeckApp's. Without an `engine` handle the
    engine runs in this process (a Driver on its own thread, on `loaded`) and stops with the screen."""
    memory.one_arena()  # before any of the screen's threads start
    if keymap is None:
        try:
            keymap = load_keymap()
        except KeymapError as e:
            raise SystemExit(f"shipdeck: {e}") from e
    if options.get("engine") is None:
        from tui.engine.driver import Driver
        from tui.engine.local import LocalEngine

        assert loaded is not None, "an engine in this process needs the plan it runs"
        local: EngineHandle = LocalEngine(Driver(
            loaded, journal_path, clock=options.get("clock"), backends=options.pop("backends", None),
            operator=options.pop("operator", None), shared=options.pop("shared", None),
            resume=options.pop("resume", False)))
        options["engine"] = local
    for unused in ("backends", "operator", "shared", "resume"):
        options.pop(unused, None)
    return ShipdeckApp(keymap=keymap, **options)  # engine is in options
