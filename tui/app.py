"""ShipdeckApp: wires the engine to the screen. Sends commands, renders events; no business logic."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events
from textual.app import App, SystemCommand
from textual.message import Message
from textual.screen import Screen
from textual.theme import Theme

from backends.clock import Clock, RealClock
from tui import memory
from tui import viewmodel as vm
from tui.engine.identity import account_of
from tui.engine.plandata import format_duration
from tui.engine.state import exit_code, paused_by_guard, refusal, resume_command, traffic_words
from tui.keymap import ACTIONS, BY_ID, KeymapError, bindings, load_keymap
from tui.screens.command_center import CommandCenter
from tui.screens.confirm import ConfirmScreen
from tui.screens.help import HelpPanel
from tui.screens.prompt import OverridePrompt, ReasonPrompt, WeightPrompt
from tui.statusline import Seen, hint, status_line, waiting_line
from widgets.chartdata import ChartData
from widgets.guards import GuardPanel, bound
from widgets.keybar import KeyBar
from widgets.logpane import LogPane, LogRecord
from widgets.sanitize import sanitize_line
from widgets.splitbar import TrafficSplitBar
from widgets.timeline import PhaseTimeline
from widgets.units import format_value

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


class ShipdeckApp(App[int]):
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
        self._paint_due = False  # a paint is queued to run before the next tick
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

    @property
    def read_only(self) -> str:
        """Why this screen cannot drive ('' when it can): a watcher's screen must never look like the driver's."""
        return self.engine.read_only

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
        """An operator waits on this one: paint it now, not on the next tick. Log lines wait for the tick: under a
        burst, pushing and repainting them took a third of the time from key to frame."""
        self._dirty.add(what)
        if not self._paint_due:
            self._paint_due = True
            self.call_next(self._paint, False)

    def _paint(self, lines: bool = True) -> None:
        self._paint_due = False
        self._render_tick(lines)

    def _caught_up(self) -> None:
        """Paint all that is known now, lines included, not a tick later: once the command center is composed
        (its first frame holds what the engine already sent), once its charts are, and when an attach's catch-up
        is all in."""
        self._dirty.add("samples")
        self._paint()
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

    def _render_tick(self, lines: bool = True) -> None:
        """Render what changed since the last tick, and nothing else: no event, no work, no bytes."""
        if self._news:
            self._take_news()
        if not self._dirty and not (lines and self._pending_logs):
            return
        if not self.center.paintable:
            return  # still composing (it asks for a paint once it is), or torn down
        now = self.clock.now()
        dirty, self._dirty = self._dirty, set()
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

    def _render_status(self, now: float) -> None:
        seen = Seen(self.plan, now, self.health, read_only=self.read_only,
                    watcher=self.read_only.startswith("read-only"), detaches=self.engine.detaches,
                    engine_failed=self.engine_failed, link_dropped=self.link_dropped, gone=self.engine.ended,
                    autopilot=self.last_announcement if self.autopilot is not None and self.autopilot.active else None,
                    journal=str(self.engine.journal_path), connecting=getattr(self.engine, "connecting", False))
        self.center.set_status(status_line(self.state, seen), waiting_line(self.state, seen, self._keys, self.why_not),
                               vm.banner(self.state, self.engine_word if self.engine_failed else ""))

    def _key_label(self, binding_id: str, description: str) -> str:
        """A key's name on the keys line as things stand: p resumes while paused."""
        return "Resume" if binding_id == "pause" and self.state["status"] == "paused" else description

    def _keys(self, action_id: str) -> str:
        return self._keymap.get(action_id, BY_ID[action_id].keys).split(",")[0]

    def _log_line(self, source: str, level: str, text: str) -> None:
        self._keep_lines([{"ts": self.clock.now(), "source": source, "level": level, "text": text}])

    def _announce(self, text: str) -> None:
        self._log_line("autopilot", "info", text)
        self.last_announcement = text
        self._dirty.add("status")

    # ------------------------------------------------------------ state queries

    def _phase(self) -> dict[str, Any] | None:
        s = self.state
        return s["phases"][s["phase"]] if 0 <= s["phase"] < len(s["phases"]) else None

    def _current_step(self) -> dict[str, Any] | None:
        ph = self._phase()
        return ph["steps"][ph["step"]] if ph is not None and ph["step"] < len(ph["steps"]) else None

    def why_not(self, action_id: str) -> str | None:
        """Why an action is unavailable now (None: available). Greys it out in the footer.

        The engine's `refusal` is the rule table; this only maps keys to its commands."""
        s = self.engine.state
        command = _COMMANDS.get(action_id)
        if command is not None:  # what this screen may send at all (a watcher, a four-eyes gate...)
            why = self.engine.refuses("resume" if command == "pause" and s.status == "paused" else command)
            if why:
                return why
        if action_id == "take":
            return None
        if action_id == "close_help":
            return None if self.center.help_panel.display else "the help is not open"
        if self.engine.machine_broken and action_id in _COMMAND_ACTIONS:
            return f"ENGINE FAILED ({self.engine.failed}): only rollback works"
        if action_id in ("tick", "select_up", "select_down"):
            ph = s.current_phase
            return "the current phase has no checklist" if ph is None or not ph.checklist else refusal(s, "tick")
        if action_id == "shift_next":
            weight = vm.next_weight(self.plan, s.traffic)
            return "no higher weight in the plan" if weight is None else refusal(s, "shift", {"percent": weight})
        if action_id == "shift_to":  # a lower weight is always allowed, so only the run's status counts
            return None if s.status in ("running", "paused") else f"the run is {s.status}"
        if action_id == "pause":  # resuming past a red guard asks for its reason in the dialog
            return refusal(s, "resume", {"reason": "?"}) if s.status == "paused" else refusal(s, "pause")
        if action_id == "end":
            return refusal(s, "abort", {"reason": "?"})
        if action_id in ("advance", "approve"):
            return refusal(s, action_id, operator=self.engine.operator)
        if action_id == "notes":
            return None if self._phase_notes()[1] else "this phase has no notes"
        if action_id == "override":
            return refusal(s, "override", {"reason": "?"})
        return None

    def _phase_notes(self) -> tuple[str, list[str]]:
        """The current phase's notes, or the first phase's before the run starts."""
        idx = max(self.engine.state.phase, 0)
        phase = self.plan.phases[idx]
        return phase.name, list(phase.notes)

    def _with_reason(self, action_id: str, title: str, command: str, question: str, dangerous: bool = False) -> None:
        """An act that needs a reason: refused with why, or a prompt whose answer sends `command` with it."""
        why = self.why_not(action_id)
        if why is not None:
            self.notify(why, title=title, timeout=3)
            return

        def given(reason: str | None) -> None:
            if reason:
                self._submit(command, reason=reason)

        self.push_screen(ReasonPrompt(question, dangerous=dangerous), given)

    def action_override_window(self) -> None:
        self._take_helm()
        self._with_reason("override", "override", "override", f"{self.engine.state.outside_window}. Go on anyway? Why:")

    def action_notes(self) -> None:
        name, notes = self._phase_notes()
        if notes:
            from tui.screens.notes import NotesScreen  # Markdown is loaded when notes are first read

            self.push_screen(NotesScreen(name, notes))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The command palette offers every operator action, with why it is unavailable, and of Textual's own only
        what shipdeck does not do its own way (Textual's Quit would skip the quit dialog; its Keys, the ? panel)."""
        yield from (c for c in super().get_system_commands(screen) if c.title in ("Theme", "Screenshot"))
        for a in ACTIONS:
            if a.id in ("palette", "select_up", "select_down"):
                continue
            reason = self.why_not(a.id)
            help_text = f"{self._keys_text(a.id)} — " + (f"unavailable: {reason}" if reason else "available")
            method = getattr(self, f"action_{a.action.split('(')[0]}")
            yield SystemCommand(a.description, help_text, method if not reason else self._explain(reason))

    def _explain(self, reason: str) -> Callable[[], None]:
        return lambda: self.notify(sanitize_line(reason), title="not now", severity="warning", markup=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        action_id = _ACTION_IDS.get(action)
        if action_id is None:
            return True
        if action_id != "rollback" and self.screen is not self.center and action_id not in ("quit", "help"):
            return False  # a modal is open: its own keys go first
        return None if self.why_not(action_id) else True

    # ------------------------------------------------------------ actions

    def _take_helm(self) -> None:
        if self.autopilot is not None and self.autopilot.active:
            self.autopilot.stop()
            self.helm_taken = True
            self._paint_now("status")
            self._log_line("autopilot", "info", "hands over: you have the helm")
            self.notify("You have the helm. ? shows every key.", title="autopilot off", timeout=4)

    def on_key(self, event: events.Key) -> None:
        self._take_helm()
        if self.screen is not self.center:
            return
        binding = self.screen.active_bindings.get(event.key)
        if binding is not None and not binding.enabled and binding.binding.id in BY_ID:
            # A refused key says why and what would work, not just a bell.
            why = self.why_not(binding.binding.id) or "not available now"
            then = hint(self.state, self._keys, self.why_not)
            self.notify(sanitize_line(f"{self._keys_text(binding.binding.id)} refused: {why}" + (f" — {then}" if then else "")),
                        title="not now", severity="warning", timeout=6, markup=False)

    def _submit(self, name: str, **args: Any) -> None:
        self._take_helm()
        self.engine.submit(name, **args)

    def action_advance(self) -> None:
        self._take_helm()
        s = self.state
        step = self._current_step()
        if step is not None and step["status"] == "failed":
            lines = [f"retry: {step['label']}"]
            title = "Retry the failed step?"
        else:
            nxt = self.plan.phases[s["phase"] + 1]
            idx = s["phase"] + 1
            lines = [f"phase {nxt.name!r} (owner {nxt.owner or '—'})"]
            for st in self.state["phases"][idx]["steps"]:
                lines.append(st["label"])
                if st["kind"] == "shift":
                    lines += [f"   {x}" for x in self.engine.describe("shift", percent=st["spec"]["percent"])]
                elif st["kind"] == "run" and not st["spec"]["manual"]:
                    lines.append(f"   executes: {st['spec']['command']}")
            title = f"Start phase {nxt.name!r}?"
        screen = ConfirmScreen(title, [*self._red_guards(), *lines], lambda: self._submit("advance"))
        self.push_screen(screen)
        shifts = [st["spec"]["percent"] for st in self.state["phases"][s["phase"] + 1]["steps"]
                  if st["kind"] == "shift"] if title.startswith("Start") else []
        if shifts:  # the phase's first shift is checked against the live object now
            self._dry_run(screen, shifts[0])

    def action_tick(self) -> None:
        self._submit("tick", item=self.selected_item)

    def action_select(self, delta: int) -> None:
        ph = self._phase()
        if ph is not None and ph["checklist"]:
            self.selected_item = (self.selected_item + delta) % len(ph["checklist"])
            self._paint_now("state")

    def action_approve(self) -> None:
        self._submit("approve")

    def _confirm_shift(self, percent: int) -> None:
        lines = [*self._red_guards(), *self.engine.describe("shift", percent=percent)]
        title = f"Shift green to {percent}% (now {traffic_words(self.engine.state)})?"
        screen = ConfirmScreen(title, lines, lambda: self._submit("shift", percent=percent))
        self.push_screen(screen)
        self._dry_run(screen, percent)

    def _dry_run(self, screen: ConfirmScreen, percent: int) -> None:
        """Show the backend's own check of the shift (a server-side dry run) in the dialog when it answers."""
        pending = self.engine.preview(percent)
        if pending is not None:
            screen.show_check([f"dry run of {percent}%: asking the backend…"])
            self.run_worker(self._previewed(screen, percent, pending), group="preview")

    async def _previewed(self, screen: ConfirmScreen, percent: int,
                         pending: concurrent.futures.Future[list[str]]) -> None:
        try:
            answer = await asyncio.wait_for(asyncio.wrap_future(pending), self.plan.settings.timeout + 5)
            lines = [f"dry run of {percent}%:", *answer]
        except Exception as e:  # noqa: BLE001 - a refused dry run is what the operator must read
            lines = [f"DRY RUN of {percent}% REFUSED: {e}" if str(e) else f"dry run of {percent}%: no answer in time"]
        if screen.is_attached:
            screen.show_check(lines)

    def action_shift_next(self) -> None:
        self._take_helm()
        weight = vm.next_weight(self.plan, self.state["traffic"])
        if weight is not None:
            self._confirm_shift(weight)

    def action_shift_to(self) -> None:
        self._take_helm()

        def chosen(value: int | None) -> None:
            if value is not None:
                self._confirm_shift(value)

        self.push_screen(WeightPrompt(self.state["traffic"]), chosen)

    def action_pause(self) -> None:
        if not paused_by_guard(self.engine.state):
            self._submit("resume" if self.state["status"] == "paused" else "pause")
            return
        self._take_helm()  # resuming past a red guard is an act: the guard named, a reason, journalled

        def given(answer: tuple[str, float] | None) -> None:
            if answer:
                self._submit("resume", reason=answer[0], silence=answer[1])

        self.push_screen(OverridePrompt(self.engine.state.reason, self._red_guards()), given)

    def action_end_run(self) -> None:
        self._take_helm()
        self._with_reason("end", "end the run", "abort", (
            f"End the run here? Traffic stays where it is ({traffic_words(self.engine.state)}); nothing is rolled "
            "back, the run cannot be resumed and the engine leaves. Why:"), dangerous=True)

    def _red_guards(self) -> list[str]:
        """Guards breaching or tripped now, in words: every forward dialog says them."""
        out = []
        for g in vm.guard_views(self.plan, self.guards):
            if g.state in ("breaching", "tripped"):
                op = ">" if g.op == "above" else "<"
                out.append(f"RED GUARD {g.metric}[{g.side or 'all'}] {format_value(g.value, g.unit)} {op} "
                           f"{bound(g)} ({g.state})")
        for o in self.engine.state.overrides:
            out.append(f"overridden by {o['by']}: {o['reason']} ({o['breach']})")
        return out

    def action_rollback(self) -> None:
        self._take_helm()
        if isinstance(self.screen, ConfirmScreen) and self.screen.dangerous:
            return  # the rollback confirm is already open
        lines = [*self.engine.describe("rollback"), "cancels any shift in flight", "no guard, lock or pause blocks this"]
        self.push_screen(
            ConfirmScreen(f"ROLL BACK: all traffic to blue (now {traffic_words(self.engine.state)})?", lines,
                          lambda: self._submit("rollback"), dangerous=True))

    def action_filter_logs(self) -> None:
        self.center.query_one(LogPane).action_filter()

    def action_cycle_chart(self) -> None:
        name = self.center.cycle_chart()
        self._paint_now("samples")
        if name:
            self.notify(f"chart: {name}", timeout=1.5)

    def action_help(self) -> None:
        self.center.toggle_help(not self.center.help_panel.display)

    def action_close_help(self) -> None:
        self.center.toggle_help(False)

    def _keys_text(self, action_id: str) -> str:
        keys = self._keymap.get(action_id, BY_ID[action_id].keys)
        return keys.replace("question_mark", "?").replace("slash", "/").replace("escape", "Esc")

    def action_take_helm(self) -> None:
        self._with_reason("take", "take the helm", "take", f"{self.engine.state.helm or 'Nobody'} drives. Take the helm? Why:")

    def action_quit_app(self) -> None:
        s = self.engine.state
        if self.engine.detaches or s.status in ("pending", "completed", "rolled-back", "aborted") or self.read_only:
            self.run_worker(self._suspend_and_exit("operator quit the command center"), group="quit")
            return
        lines = ["the engine stops with this screen: NO GUARD WATCHES until someone resumes",
                 f"traffic stays where it is ({traffic_words(s)}): nothing is rolled back or shifted",
                 "a shift in flight finishes first; every step so far is in the journal",
                 f"resume: {self.resume_command()}"]

        def confirmed() -> None:
            self.run_worker(self._suspend_and_exit(f"operator quit the command center ({self.engine.operator})"),
                            group="quit")

        self.push_screen(ConfirmScreen(f"Quit with the run {s.status}?", lines, confirmed, dangerous=True))

    async def _hang_up(self, reason: str) -> None:
        # Whatever hangs on the way out (a backend thread, a dead tty), the process must not outlive its
        # terminal: four were found spinning at ~47% CPU each hours after their tmux was killed.
        watchdog = threading.Timer(self.plan.settings.timeout + 10.0, os._exit, [1])
        watchdog.daemon = True
        watchdog.start()
        await self._suspend_and_exit(reason)
        # No terminal is left to restore, and Textual's writer can block on it: once the run is
        # journalled and suspended, make sure the process goes.
        code = self.engine.exit_status if self.engine.ended else exit_code(self.engine.state)
        timer = threading.Timer(3.0, os._exit, [code])
        timer.daemon = True
        timer.start()

    def resume_command(self) -> str:
        if self.demo:
            return f"shipdeck demo --journal {self.engine.journal_path} --resume"
        return resume_command(self.engine.plan_path, self.engine.journal_path)

    async def _suspend_and_exit(self, reason: str) -> None:
        """Leave: an engine in this process is suspended (resumable); a detached one goes on guarding."""
        self.engine.detach(reason)
        deadline = time.monotonic() + self.plan.settings.timeout + 5
        while not self.engine.ended and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self.exit(self.engine.exit_status if self.engine.ended else exit_code(self.engine.state))


_ACTION_IDS = {a.action.split("(")[0]: a.id for a in BY_ID.values()}
# The engine command behind each key: what a screen must be allowed to send for the key to work.
_COMMANDS = {"advance": "advance", "approve": "approve", "tick": "tick", "select_up": "tick", "select_down": "tick",
             "shift_next": "shift", "shift_to": "shift", "pause": "pause", "override": "override",
             "rollback": "rollback", "take": "take", "end": "abort"}
# Keys an engine fault stops (rollback never; taking the helm changes nothing in the run).
_COMMAND_ACTIONS = tuple(a for a in _COMMANDS if a not in ("rollback", "take"))


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
