"""How a run moves by itself between events: one transition in progress (`Tx`), steps started and carried on
as far as they go without a human, bakes frozen and thawed, holds and rollbacks begun. The machine's command
handlers and its reactions to other events both use these; nothing here does I/O or reads a clock.
"""

from __future__ import annotations

from typing import Any

from backends.command import render_template
from tui.engine.plan import format_duration
from tui.engine.state import (
    BAKING,
    DONE,
    FAILED,
    PAUSED,
    PENDING,
    ROLLED_BACK,
    RUNNING,
    WAITING,
    Effect,
    Event,
    RunState,
    StepState,
    bake_words,
    beyond_evidence,
    current_hold,
    traffic_words,
)


class Tx:
    """One transition in progress: the copied state, the event's time and effects so far."""

    def __init__(self, state: RunState, event: Event) -> None:
        self.s = state
        self.now: float = float(event.get("at", 0.0))
        self.who: str = str(event.get("operator", ""))
        self.effects: list[Effect] = []

    def effect(self, kind: str, **data: Any) -> Effect:
        eid = f"e{self.s.next_id}"
        self.s.next_id += 1
        eff = {"kind": kind, "id": eid, **data}
        self.s.pending[eid] = eff
        self.effects.append(eff)
        return eff

    def notice(self, text: str, level: str = "warning") -> None:
        self.effects.append({"kind": "notice", "level": level, "text": text})

    def notify(self, event: str, message: str) -> None:
        ph = self.s.current_phase
        ctx = {"plan": self.s.plan_name, "phase": ph.name if ph else "", "traffic": self.s.traffic}
        self.effects.append({"kind": "notify", "event": event, "message": message, "context": ctx})


def update_hold(tx: Tx) -> None:
    s = tx.s
    hold = current_hold(s)
    was = s.hold
    if hold is None:
        if was is not None:
            s.hold = None
            if was["kind"] != "evidence":  # waiting for evidence after a shift is routine, and short
                tx.notify("hold-ended", f"the hold is over after {format_duration(tx.now - was['since'])}: "
                                        f"{was['reason']}")
        return
    kind, reason = hold
    if was is None or was["kind"] != kind:
        s.hold = {"kind": kind, "reason": reason, "since": tx.now}
    else:
        s.hold = {**was, "reason": reason}


def hold_run(tx: Tx, reason: str) -> None:
    s = tx.s
    if s.status != "running":
        tx.notice(f"pause: the run is {s.status}")
        return
    s.status = "paused"
    s.reason = reason
    freeze_bake(tx)
    step = s.current_step
    if step is not None and step.status == BAKING:
        step.status = PAUSED
        if s.bake and "remaining" in s.bake:  # what it said was the bake's time left when it began
            s.waiting = f"bake paused with {format_duration(s.bake['remaining'])} left"


def freeze_bake(tx: Tx, at: float | None = None) -> None:
    """Stop the bake clock, keeping what is left of it (as of `at`, default now)."""
    s = tx.s
    if s.bake and "timer" in s.bake:
        remaining = max(0.0, s.bake["ends_at"] - (tx.now if at is None else at))
        cancel_timer(tx)
        s.bake = {"remaining": remaining}


def thaw_bake(tx: Tx) -> None:
    """Restart a frozen bake, unless the run still may not go forward."""
    s = tx.s
    step = s.current_step
    if s.status != "running" or s.evidence_wait or not s.bake or "remaining" not in s.bake:
        return
    if step is not None and step.status in (BAKING, PAUSED):
        step.status = BAKING
        s.waiting = bake_words(s.bake["remaining"], more=True)
        start_timer(tx, float(s.bake["remaining"]))


def start_rollback(tx: Tx, reason: str) -> None:
    s = tx.s
    cancel_timer(tx)
    for eid, eff in list(s.pending.items()):
        if eff["kind"] == "shift":
            # A rollback supersedes any shift in flight.
            tx.effects.append({"kind": "cancel", "id": eid})
    s.status = "rolling-back"
    s.reason = reason
    s.waiting = "rolling back"
    s.traffic_target = 0
    if s.started_at is None:
        s.started_at = tx.now
    tx.notify("rollback", f"rollback: {reason}")
    if s.traffic_by_hand is not None:  # nobody but the operator can move it: say what to run, wait for them
        s.waiting = f"ROLL BACK BY HAND, then approve — {s.rollback_by_hand}"
        return
    tx.effect("rollback", reason=reason, operator=tx.who)


def rolled_back(tx: Tx) -> None:
    s = tx.s
    s.status = "rolled-back"
    s.ended_at = tx.now
    s.waiting = ""
    ph = s.current_phase
    if ph is not None and ph.status != DONE:
        ph.status = ROLLED_BACK
        ph.ended_at = tx.now
        step = s.current_step
        if step is not None and step.status not in (DONE, FAILED):
            step.status = ROLLED_BACK
            step.ended_at = tx.now


def start_timer(tx: Tx, seconds: float) -> None:
    eff = tx.effect("timer", seconds=seconds)
    tx.s.bake = {"timer": eff["id"], "ends_at": tx.now + seconds}


def cancel_timer(tx: Tx) -> None:
    s = tx.s
    if s.bake and "timer" in s.bake:
        s.pending.pop(s.bake["timer"], None)
        tx.effects.append({"kind": "cancel", "id": s.bake["timer"]})
    s.bake = None


def continue_run(tx: Tx) -> None:
    """Carry the run forward as far as it goes without a human or a pending effect."""
    s = tx.s
    while s.status == "running":
        ph = s.current_phase
        if ph is None or ph.status == DONE:
            nxt = s.phases[s.phase + 1].name if s.phase + 1 < len(s.phases) else None
            s.waiting = f"advance to start {nxt!r}" if nxt else ""
            return
        step = s.current_step
        if step is None:
            open_items = [c.text for c in ph.checklist if c.ticked_by is None]
            if open_items:
                ph.status = WAITING
                s.waiting = f"checklist: {len(open_items)} item(s) to tick"
                return
            if s.hold_reason:
                s.waiting = f"holding: {s.hold_reason}"
                return
            ph.status = DONE
            ph.ended_at = tx.now
            tx.notify("phase-end", f"phase {ph.name!r} done")
            if s.phase + 1 >= len(s.phases):
                s.status = "completed"
                s.ended_at = tx.now
                s.waiting = ""
                tx.notify("completed", f"run completed: {traffic_words(s)}")
                return
            continue
        if step.status == DONE:
            ph.step += 1
            continue
        if step.status == FAILED:
            s.waiting = f"step failed: {step.detail}; advance retries, rollback reverts"
            return
        if step.status != PENDING:
            return  # running, baking or waiting: an effect or a human moves it on
        why = s.hold_reason
        if step.kind == "bake" or (step.kind == "shift" and step.spec["percent"] > (s.traffic or 0)):
            why = why or s.evidence_wait or (beyond_evidence(s, step.spec["percent"]) if step.kind == "shift" else "")
        if why:
            s.waiting = f"holding: {why}"
            return
        start_step(tx, step)


def start_step(tx: Tx, step: StepState) -> None:
    s = tx.s
    step.started_at = tx.now
    spec = step.spec
    loc = {"phase": s.phase, "step": s.current_phase.step if s.current_phase else 0}
    s.waiting = ""
    if step.kind == "run" and spec["manual"]:
        step.status = WAITING
        s.waiting = f"run by hand, then confirm: {spec['command']}"
        tx.notify("gate-waiting", f"manual step waiting: {spec['command']}")
    elif step.kind == "run":
        step.status = RUNNING
        tx.effect("run", command=spec["command"], timeout=spec["timeout"], cwd=spec["cwd"], step=loc)
    elif step.kind in ("probe", "wait"):
        step.status = RUNNING
        tx.effect(step.kind, **spec, step=loc)
    elif step.kind == "shift" and s.traffic_by_hand is not None:
        step.status = WAITING
        how = render_template(s.traffic_by_hand, spec["percent"]) if s.traffic_by_hand else "your traffic switch"
        s.waiting = f"by hand: move green to {spec['percent']}%, then approve — {how}"
        tx.notify("gate-waiting", s.waiting)
    elif step.kind == "shift":
        step.status = RUNNING
        s.traffic_target = spec["percent"]
        tx.effect("shift", percent=spec["percent"], step=loc, operator=tx.who)
        tx.notify("shift", f"shifting green to {spec['percent']}%")
    elif step.kind == "bake":
        step.status = BAKING
        s.waiting = bake_words(spec["seconds"])
        start_timer(tx, float(spec["seconds"]))
    elif step.kind == "gate":
        step.status = WAITING
        s.waiting = f"gate: {spec['question']}"
        tx.notify("gate-waiting", f"gate waiting: {spec['question']}")
    else:  # notify: fire and forget
        tx.notify("message", spec["message"])
        step.status = DONE
        step.ended_at = tx.now


def step_at(s: RunState, loc: Any) -> StepState | None:
    """The step an effect was for, if it is still the current one."""
    if not isinstance(loc, dict) or loc.get("phase") != s.phase:
        return None
    step = s.current_step
    ph = s.current_phase
    if ph is None or step is None or ph.step != loc.get("step"):
        return None
    return step
