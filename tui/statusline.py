"""The two lines at the top of the command center: what the run is (status) and what it waits for, what
holds it and which key does what about it (waiting). Pure: the screen hands in what it knows.

Failures come first in the status line, so a narrow terminal cuts the plan's name, not the alarm; a screen
whose engine is gone claims nothing live (no bake countdown, no backend ticks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text

from tui import viewmodel as vm
from tui.engine.plandata import PlanData, format_duration
from tui.engine.state import HOLD_WORDS, bake_words
from widgets.sanitize import sanitize_line

RUN_STYLES = {"running": "bold green", "paused": "bold yellow", "rolling-back": "bold red",
              "rolled-back": "bold red", "completed": "bold green", "aborted": "bold red"}
OVER = ("completed", "rolled-back", "aborted")


@dataclass
class Seen:
    """What this screen knows besides the run's state."""

    plan: PlanData
    now: float
    health: dict[str, dict[str, Any]] = field(default_factory=dict)
    read_only: str = ""  # why this screen cannot drive ('' when it can)
    watcher: bool = False  # --read-only (never drives), not an operator who simply lacks the helm
    detaches: bool = False  # the engine runs on its own: who drives matters
    engine_failed: str = ""
    link_dropped: bool = False
    gone: bool = False  # no engine behind this screen any more
    connecting: bool = False  # the engine has not answered yet: what shows is the plan's file, not the run
    autopilot: str | None = None  # what the autopilot last did, while it flies
    journal: str = ""


def status_line(s: dict[str, Any], seen: Seen) -> Text:
    status = Text()
    status.append(" shipdeck ", style="bold reverse")
    word = "LINK DROPPED" if seen.link_dropped else "ENGINE FAILED"
    if seen.engine_failed:  # never RUNNING over an engine that stopped working or a link that broke
        status.append(f" {word} ", style="bold reverse red")
    for name, h in sorted(seen.health.items()):  # failures first: they survive a narrow terminal
        if h["status"] in ("failed", "down") and not seen.gone:
            status.append(f" {name} ✗ {sanitize_line(h['detail'][:40])} ", style="bold reverse red")
    if seen.connecting:
        status.append(" CONNECTING ", style="bold reverse yellow")
    elif seen.read_only:  # a watcher's screen must never look like the driver's
        status.append(" READ-ONLY " if seen.watcher else " NOT DRIVING ", style="bold reverse magenta")
    if seen.detaches and not seen.connecting:
        helm = s.get("helm") or ""
        status.append(f" helm: {sanitize_line(helm) if helm else 'nobody (T takes it)'} ", style="bold")
    status.append(f" {sanitize_line(seen.plan.name)} ", style="bold")
    status.append(f"│ {vm.hhmmss(seen.now)} ")
    left = vm.window_left(seen.plan, seen.now)
    if left:
        status.append(f"│ {left} ", style="bold red" if "closed" in left else "")
    status.append("│ ")
    if seen.connecting:  # the run may be under way (a resume): its state is the engine's to say
        status.append("the plan from its file", style="dim")
    elif not seen.engine_failed:
        status.append(s["status"].upper(), style=RUN_STYLES.get(s["status"], ""))
    hold = s.get("hold")
    if hold and not seen.engine_failed:  # a hold has an age: it ends, or someone acts
        style = "bold reverse red" if hold["kind"] in ("blind", "fault") else "bold reverse yellow"
        status.append(f" HELD {format_duration(max(0.0, seen.now - hold['since']))}: "
                      f"{HOLD_WORDS.get(hold['kind'], hold['kind'])} ", style=style)
    if s["phase"] >= 0:
        ph = s["phases"][s["phase"]]
        step = ph["steps"][ph["step"]]["label"] if ph["step"] < len(ph["steps"]) else "checklist"
        status.append(f" │ {sanitize_line(ph['name'])} › {sanitize_line(step)}")
    bake = s.get("bake") or {}
    if "ends_at" in bake and not seen.gone:  # a countdown is a claim that the engine's clock runs
        status.append(f" ({format_duration(max(0.0, bake['ends_at'] - seen.now))} left)")
    for name, h in sorted(seen.health.items()):
        if h["status"] in ("failed", "down") or seen.gone:
            continue
        if h["status"] == "busy":
            status.append(f" │ {name} ⏳ {h['detail']} {format_duration(seen.now - h['since'])}", style="yellow")
        else:
            status.append(f" │ {name} ✓", style="dim")
    return status


def waiting_line(s: dict[str, Any], seen: Seen, keys: Callable[[str], str],
                 why_not: Callable[[str], str | None]) -> Text:
    waiting = Text()
    if seen.engine_failed and seen.link_dropped:
        waiting.append(f"✗ LINK DROPPED: {sanitize_line(seen.engine_failed)}  ", style="bold reverse red")
    elif seen.engine_failed:
        no_rollback = why_not("rollback")  # an engine that is gone takes no rollback either
        rollback = f"rollback: {no_rollback}" if no_rollback else f"{keys('rollback')} still rolls back"
        waiting.append(f"✗ ENGINE FAILED: {sanitize_line(seen.engine_failed)} — forward actions stopped; "
                       f"{sanitize_line(rollback)}  ", style="bold reverse red")
    if seen.connecting and not seen.engine_failed:
        waiting.append(f"⏳ {sanitize_line(seen.read_only)}", style="bold yellow")
        return waiting
    if seen.autopilot is not None:
        waiting.append(" AUTOPILOT ", style="bold reverse magenta")
        waiting.append(f" {sanitize_line(seen.autopilot)} · any key takes the helm  ")
    if s["reason"] and s["status"] in ("paused", "rolling-back", *OVER):
        waiting.append(f"⚠ {sanitize_line(s['reason'])}  ", style="bold red")
    hold = s.get("hold")
    if hold and not s["waiting"] and not seen.engine_failed:  # held before anything waits (not started yet)
        waiting.append(f"⏸ held: {sanitize_line(hold['reason'])}  ", style="bold yellow")
    if seen.gone:  # what the run waited for is the engine's to say, and no key here reaches it
        if s["status"] in OVER:
            waiting.append(f"run over: {s['status']} (journal: {seen.journal}) — {keys('quit')} quits", style="bold")
        return waiting
    if s["waiting"]:
        bake = s.get("bake") or {}
        if "ends_at" in bake and s["status"] == "running":  # the engine's words hold the time left when said
            waiting.append(f"⏳ {bake_words(max(0.0, bake['ends_at'] - seen.now), more=True)}", style="bold yellow")
        else:
            waiting.append(f"⏳ {sanitize_line(s['waiting'])}", style="bold yellow")
    if s["status"] in OVER:
        waiting.append(f"  run over: {s['status']} (journal: {seen.journal})", style="bold")
    said = hint(s, keys, why_not)
    if said:
        waiting.append(f" — {said}" if waiting else said, style="dim" if waiting else "bold")
    return waiting


def hint(s: dict[str, Any], keys: Callable[[str], str], why_not: Callable[[str], str | None]) -> str:
    """Which keys do something about the run now, each named, and only those that work now."""
    ph = s["phases"][s["phase"]] if 0 <= s["phase"] < len(s["phases"]) else None
    step = ph["steps"][ph["step"]] if ph is not None and ph["step"] < len(ph["steps"]) else None
    waiting, status = s["waiting"], s["status"]
    offers: list[tuple[str, str]] = []
    if status in OVER:
        offers.append(("quit", "quits"))
    elif status == "pending":
        offers.append(("advance", "starts the run"))
    elif status == "paused":
        reason = str(s.get("reason") or "")
        offers.append(("pause", "resumes past the guard (with a reason)" if reason.startswith("guard") else "resumes"))
        offers.append(("rollback", "rolls back"))
    elif step is not None and step["status"] == "failed":
        offers += [("advance", "retries"), ("rollback", "rolls back")]
    elif step is not None and step["status"] == "waiting-gate":
        offers.append(("approve", "approves"))
    elif waiting.startswith("checklist"):
        offers.append(("tick", "ticks the selected item"))
    elif waiting.startswith("advance"):
        offers.append(("advance", "advances"))
    elif s.get("hold"):
        offers.append(("rollback", "rolls back"))
    return " · ".join(f"{keys(action)} {words}" for action, words in offers if not why_not(action))
