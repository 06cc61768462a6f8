"""The operator's keys: what each may do now and why not, the dialog it opens, the command it sends, and leaving.
ShipdeckApp is an OperatorKeys; it holds the engine, the run's state and the screen these read, and paints."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from textual import events
from textual.app import App, SystemCommand
from textual.screen import Screen

from tui import viewmodel as vm
from tui.engine.state import exit_code, paused_by_guard, refusal, resume_command, traffic_words
from tui.keymap import ACTIONS, BY_ID
from tui.screens.confirm import ConfirmScreen
from tui.screens.prompt import OverridePrompt, ReasonPrompt, WeightPrompt
from tui.statusline import hint
from widgets.guards import bound
from widgets.logpane import LogPane
from widgets.sanitize import sanitize_line
from widgets.units import format_value

if TYPE_CHECKING:
    from tui.engine.autopilot import Autopilot
    from tui.engine.handle import EngineHandle
    from tui.engine.plandata import PlanData
    from tui.screens.command_center import CommandCenter


class OperatorKeys(App[int]):
    """Every key's action and its rule; the rule table itself is the engine's (`refusal`)."""

    engine: EngineHandle
    plan: PlanData
    state: dict[str, Any]  # the run's state as the engine last sent it
    guards: list[dict[str, Any]]
    center: CommandCenter
    autopilot: Autopilot | None
    demo: bool
    selected_item: int
    helm_taken: bool
    _keymap: dict[str, str]

    def _paint_now(self, what: str) -> None:
        raise NotImplementedError

    def _log_line(self, source: str, level: str, text: str) -> None:
        raise NotImplementedError

    @property
    def read_only(self) -> str:
        """Why this screen cannot drive ('' when it can): a watcher's screen must never look like the driver's."""
        return self.engine.read_only

    def _key_label(self, binding_id: str, description: str) -> str:
        """A key's name on the keys line as things stand: p resumes while paused."""
        return "Resume" if binding_id == "pause" and self.state["status"] == "paused" else description

    def _keys(self, action_id: str) -> str:
        return self._keymap.get(action_id, BY_ID[action_id].keys).split(",")[0]

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
