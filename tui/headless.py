"""Headless runs: the engine with an autopilot and one printed line per event."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from backends.base import Clock
from tui.engine.autopilot import Autopilot
from tui.engine.driver import Driver
from tui.engine.guards import evidence_words
from tui.engine.plan import LoadedPlan, format_duration
from tui.engine.report import effect_text
from tui.engine.state import exit_code, resume_command, traffic_words
from widgets.sanitize import sanitize_line
from widgets.units import format_value

LIFTS_BY_ITSELF = ("blind", "evidence", "fault", "window")


class EventPrinter:
    """Turns engine events into one human line each; quiet about what did not change."""

    def __init__(self, clock: Clock, out: Callable[[str], None], units: dict[str, str] | None = None) -> None:
        self.units = units or {}  # metric -> unit, so values print as on screen (6.16%, not 0.0616)
        self.clock = clock
        self.out = out
        self.prev: dict[str, Any] | None = None
        self.samples = 0
        self.evidence: dict[int, str] = {}  # guard -> the kind of evidence it last had
        self.noticed = ""

    def line(self, text: str) -> None:
        stamp = datetime.fromtimestamp(self.clock.now()).strftime("%H:%M:%S")
        self.out(f"{stamp}  {sanitize_line(text)}")

    def __call__(self, ev: dict[str, Any]) -> None:
        kind = ev["type"]
        if kind == "state":
            self._state(ev["state"], ev.get("cause") or {})
        elif kind == "effect":
            eff = ev["effect"]
            what = effect_text(eff)
            if ev["phase"] == "start":
                self.line(f"→ {what}")
            else:
                result = "ok" if ev["ok"] else f"FAILED: {ev['error']}"
                detail = ev.get("data", {}).get("detail", "")
                self.line(f"← {what}: {result}" + (f" ({detail})" if detail and ev["ok"] else ""))
        elif kind == "notice":
            self.line(f"! {ev['text']}")
            self.noticed = ev["text"]  # the engine logs its notices too: one line, not two
        elif kind == "samples":
            self.samples += 1
            for i, g in enumerate(ev["guards"]):  # what a guard has to judge, said when it changes
                evidence, words = evidence_words(g, self.units.get(g["metric"], ""))
                if evidence != self.evidence.get(i, "inactive" if evidence == "value" else "value"):
                    self.line(f"guard {words}")
                self.evidence[i] = evidence
            hot = [g for g in ev["guards"] if g["state"] in ("breaching", "tripped")]
            if hot or self.samples % 12 == 1:
                self.line("metrics " + _samples_text(ev["values"], ev["guards"], self.units))
        elif kind == "logs":
            for ln in ev["lines"]:
                said = ln["source"] == "shipdeck" and ln["text"] == self.noticed
                if ln["level"] in ("error", "warning") and ln["source"] in ("run", "shipdeck", "notify") and not said:
                    self.line(f"[{ln['source']}] {ln['text']}")
        elif kind == "engine":
            self.line(f"ENGINE FAILED: {ev['reason']}" if ev.get("status") != "ok" else "engine works again")
        elif kind == "backend" and ev["status"] in ("failed", "down"):
            self.line(f"backend {ev['name']} {ev['status']}: {ev['detail']}")

    def _state(self, s: dict[str, Any], cause: dict[str, Any]) -> None:
        prev = self.prev
        self.prev = s
        if cause.get("type") == "command":
            self.line(f"{cause.get('operator')}: {cause.get('name')} {_args(cause.get('args'))}".rstrip())
        elif cause.get("type") == "guard":
            self.line(f"GUARD {cause.get('summary')}")
        if prev is None or prev["status"] != s["status"]:
            self.line(f"run {s['status']}" + (f" — {s['reason']}" if s["reason"] else ""))
        for i, ph in enumerate(s["phases"]):
            old = prev["phases"][i] if prev else None
            if (old is None or old["status"] != ph["status"]) and ph["status"] != "pending":
                self.line(f"phase “{ph['name']}” {ph['status']}")
            for j, st in enumerate(ph["steps"]):
                ost = old["steps"][j] if old else None
                if (ost is None or ost["status"] != st["status"]) and st["status"] != "pending":
                    self.line(f"  step {st['label']}: {st['status']}" + (f" ({st['detail']})" if st["detail"] else ""))
        if prev and prev["waiting"] != s["waiting"] and s["waiting"]:
            self.line(f"waiting: {s['waiting']}")


def _args(args: Any) -> str:
    return " ".join(f"{k}={v}" for k, v in (args or {}).items())


def _samples_text(values: dict[str, Any], guards: list[dict[str, Any]], units: dict[str, str]) -> str:
    parts = []
    for name, v in values.items():
        shown = format_value(v["value"], units.get(name, "")) if v.get("value") is not None else "no-data"
        parts.append(f"{name}={shown}")
    for g in guards:
        if g["state"] in ("breaching", "tripped"):
            parts.append(f"[{g['metric']} {g['state']} {g['breach_for']:.0f}s/{g['window']:.0f}s]")
    return " ".join(parts)


async def run_headless(
    loaded: LoadedPlan,
    journal_path: Path,
    clock: Clock,
    yes: bool,
    shared: dict[str, Any] | None = None,
    resume: bool = False,
    out: Callable[[str], None] = click.echo,
) -> int:
    driver = Driver(loaded, journal_path, clock=clock, shared=shared, resume=resume)

    def say(text: str) -> None:  # every line, the engine's and this function's own, with secrets masked
        out(driver.redact.text(text))

    printer = EventPrinter(clock, say, {name: m.unit for name, m in loaded.plan.metrics.items()})
    driver.subscribe(printer)
    say(f"journal: {journal_path}")
    pilot = Autopilot(driver, approve=yes)

    def stop_on_hold(ev: dict[str, Any]) -> None:
        # Nobody is there to answer: stop, leaving traffic as it is and the run resumable.
        if ev["type"] != "state":
            return
        s = driver.state
        step = s.current_step
        if s.terminal:
            return
        if s.restarted and not yes:
            why = "a resumed run waits for an operator; run it again with --resume --yes to let it go on"
        elif s.status == "paused" and not (s.restarted and yes):
            why = s.reason
        elif (step is not None and step.status == "failed") or (
                not yes and s.status == "running" and s.waiting.startswith(("gate", "checklist", "run by hand"))):
            why = s.waiting
        elif step is not None and step.status == "waiting-gate" and step.spec.get("four_eyes"):
            why = f"{s.waiting}: four eyes, a second operator approves (run it attached, without --headless)"
        else:
            watch_hold(s.hold)
            return
        give_up(why)

    def give_up(why: str) -> None:
        if driver.suspending:
            return
        say(f"headless run cannot continue ({why}); stopping with traffic where it is: {traffic_words(driver.state)}")
        driver.suspend(f"headless: {why}")

    limit = loaded.plan.settings.hold_limit
    timing: dict[str, Any] = {}  # the hold being timed: {"since": t, "task": its expiry}

    def watch_hold(hold: dict[str, Any] | None) -> None:
        # A hold that may lift by itself (blind, waiting for evidence, an engine fault, a closed window) gets
        # `hold_limit`: nobody is here to lift it otherwise, so then the run stops, resumable.
        lifts = hold is not None and hold["kind"] in LIFTS_BY_ITSELF and "(opens)" not in hold["reason"]
        since = hold["since"] if hold is not None and lifts else None
        if timing.get("since") == since:
            return
        if timing:
            timing.pop("task").cancel()
            timing.clear()
        if hold is not None and since is not None:
            timing.update(since=since, task=asyncio.create_task(expire(hold)))

    async def expire(hold: dict[str, Any]) -> None:
        await clock.sleep(hold["since"] + limit - clock.now())
        now = driver.state.hold
        if now is not None and now["since"] == hold["since"]:
            give_up(f"held {format_duration(limit)} (settings.hold_limit) with nobody to lift it: {now['reason']}")

    driver.subscribe(stop_on_hold)
    pilot_task = asyncio.create_task(pilot.run())
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):
        # A signal leaves the run resumable, never half-applied: see Driver.suspend.
        for sig, why in ((signal.SIGINT, "interrupted (Ctrl-C)"), (signal.SIGTERM, "terminated"),
                         (signal.SIGHUP, "operator disconnected (SIGHUP)")):
            loop.add_signal_handler(sig, driver.suspend, why)
    try:
        state = await driver.run()
    finally:
        if timing:
            timing["task"].cancel()
        pilot.stop()
        pilot_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pilot_task
    if state.terminal:
        say(f"run {state.status}: {traffic_words(state)} — journal: {journal_path}")
    else:
        say(f"run {state.status}, not finished, {traffic_words(state)}; continue with: "
            f"{resume_command(loaded.path, journal_path)}")
    if driver.spilled:
        say(driver.spilled)  # the last word: journal records that are not in the journal, and where they are
    return exit_code(state)
