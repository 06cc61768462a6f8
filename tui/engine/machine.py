"""The run as a pure state machine: transition(state, event) -> (state, effects).

Events and effects are plain dicts (JSON-serialisable): commands from operators, results of
effects, timers and guard breaches come in; effects for the driver come out. Nothing here does
I/O or reads a clock: time arrives in each event's "at". Replaying the same events rebuilds
the same state, which is what the journal relies on.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any

from backends.command import render_template
from tui.engine.identity import account_of
from tui.engine.plan import (
    BakeStep,
    GateStep,
    NotifyStep,
    Plan,
    ProbeStep,
    RunStep,
    ShiftStep,
    WaitStep,
    format_duration,
)

Event = dict[str, Any]
Effect = dict[str, Any]

COMMANDS = ("advance", "tick", "approve", "shift", "pause", "resume", "rollback", "abort", "take")
# Commands that move the night forward: refused while the guards are blind or the engine is faulty.
FORWARD = ("advance", "approve", "shift")
TERMINAL = ("completed", "rolled-back", "aborted")
# Step and phase states.
PENDING, RUNNING, WAITING, BAKING, PAUSED = "pending", "running", "waiting-gate", "baking", "paused"
DONE, FAILED, ROLLED_BACK = "done", "failed", "rolled-back"


@dataclass
class ChecklistState:
    text: str
    ticked_by: str | None = None
    ticked_at: float | None = None


@dataclass
class StepState:
    kind: str
    label: str
    spec: dict[str, Any]
    status: str = PENDING
    started_at: float | None = None
    ended_at: float | None = None
    detail: str = ""


@dataclass
class PhaseState:
    name: str
    owner: str
    steps: list[StepState]
    checklist: list[ChecklistState]
    status: str = PENDING
    started_at: float | None = None
    ended_at: float | None = None
    step: int = 0


@dataclass
class RunState:
    plan_name: str
    phases: list[PhaseState]
    status: str = PENDING  # pending | running | paused | rolling-back | completed | rolled-back | aborted
    phase: int = -1
    traffic: int | None = None  # green percent as last read back
    traffic_target: int | None = None
    waiting: str = ""  # what the run waits for, in words
    reason: str = ""  # why it is paused / rolled back / aborted
    started_at: float | None = None
    ended_at: float | None = None
    next_id: int = 1
    pending: dict[str, Effect] = field(default_factory=dict)  # effects in flight by id
    bake: dict[str, Any] | None = None  # {"timer": id, "ends_at": t} or {"remaining": s} while paused
    tripped: list[int] = field(default_factory=list)  # guards that fired
    blind: list[str] = field(default_factory=list)  # active guards with no data under `no_data: hold`
    awaiting: list[str] = field(default_factory=list)  # guards whose side has traffic but no data yet (in grace)
    no_traffic: list[str] = field(default_factory=list)  # guards whose side carries no traffic yet
    hold: dict[str, Any] | None = None  # {"kind", "reason", "since"}: why nothing moves forward, since when
    outside_window: str = ""  # the plan's window is not open now (set by the driver's clock): forward waits
    window_override: str = ""  # an operator's journalled reason to go on outside the window
    faults: list[str] = field(default_factory=list)  # engine parts that failed (journal, sampler, ...)
    drift: str = ""  # the last drift seen: the same drift again is not news
    traffic_by_hand: str | None = None  # the plan's manual traffic command template ("" without one)
    rollback_by_hand: str = ""  # with manual traffic: what the operator runs to roll back
    restarted: bool = False  # paused by a restart: the operator (or --yes) confirms before going on
    helm: str = ""  # who drives (user@host), journalled: a detached engine's screens follow it

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunState:
        """The inverse of to_dict: a screen attached to another process rebuilds the engine's state."""
        phases = [PhaseState(**{**p, "steps": [StepState(**st) for st in p["steps"]],
                                "checklist": [ChecklistState(**c) for c in p["checklist"]]}) for p in d["phases"]]
        return cls(**{**d, "phases": phases})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def current_phase(self) -> PhaseState | None:
        return self.phases[self.phase] if 0 <= self.phase < len(self.phases) else None

    @property
    def current_step(self) -> StepState | None:
        ph = self.current_phase
        return ph.steps[ph.step] if ph is not None and ph.step < len(ph.steps) else None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def hold_reason(self) -> str:
        """Why nothing may move forward now ('' when it may)."""
        if self.faults:
            return f"engine fault: {self.faults[-1]}; only rollback is allowed"
        if self.blind:
            return f"guard {', '.join(self.blind)} blind (no data; no_data: hold): forward actions wait"
        if self.outside_window and not self.window_override:
            return f"{self.outside_window}: forward actions need an override (with a reason)"
        return ""

    @property
    def evidence_wait(self) -> str:
        """Why bakes and forward shifts wait now ('' when they need not): what may not move forward at all, or
        guards whose side carries traffic with no data from it yet. Gates and steps that move no traffic go on."""
        if self.hold_reason or not self.awaiting:
            return self.hold_reason
        return (f"waiting for evidence: guard {', '.join(self.awaiting)} has no data yet from the traffic it "
                "gets; bakes and forward shifts wait")


def refusal(state: RunState, name: str, args: dict[str, Any] | None = None, operator: str = "") -> str | None:
    """Why `name` is not allowed now, or None. The one rule table: machine, keys, help and palette use it.

    `operator`: who asks, for the rules that depend on it (a four-eyes gate)."""
    s = state
    args = args or {}
    if name in ("rollback", "take"):
        return None  # never blocked
    if s.terminal:
        return f"the run is {s.status}"
    pct = args.get("percent")
    shrinking = name == "shift" and isinstance(pct, int) and pct <= (s.traffic or 0)
    if name in FORWARD and s.hold_reason and not shrinking:  # moving traffic back towards blue is always allowed
        return s.hold_reason
    if name == "shift" and isinstance(pct, int) and not shrinking and s.evidence_wait:
        return s.evidence_wait
    if name == "shift" and isinstance(pct, int) and not shrinking and (why := beyond_evidence(s, pct)):
        return why
    if name in ("advance", "shift") and s.status == "rolling-back":
        return "a rollback is in progress"
    if name == "advance":
        if s.status == "paused":
            return "paused: resume first"
        ph, step = s.current_phase, s.current_step
        retry = step is not None and step.status == FAILED
        if ph is not None and ph.status != DONE and not retry:
            return f"phase {ph.name!r} is not finished ({s.waiting or ph.status})"
        if s.phase + 1 >= len(s.phases) and not retry:
            return "no phase left"
    elif name == "override":
        if not s.outside_window:
            return "the plan's window is open: nothing to override"
        if not str(args.get("reason") or "").strip():
            return "say why (the reason is journalled and sent)"
    elif name == "approve":
        step = s.current_step
        if s.status == "rolling-back" and s.traffic_by_hand is not None:
            return None  # the operator confirms a rollback done by hand
        if step is None or step.status != WAITING:
            return "nothing is waiting for approval"
        if step.spec.get("four_eyes") and operator and (operator in (s.helm, "autopilot") or not s.helm):
            return (f"four eyes: someone other than the driver ({s.helm or 'nobody drives yet'}) approves this gate "
                    "— they attach with `shipdeck attach` and press the approve key")
        if step.spec.get("four_eyes") and operator and account_of(operator) == account_of(s.helm):
            return (f"four eyes cannot be verified: you and the driver ({s.helm}) both act as the OS account "
                    f"{account_of(operator)}, and a SHIPDECK_OPERATOR name is not proof; someone logged in as "
                    "another OS user approves this gate")
    elif name == "shift":
        if s.status == "pending":
            return "the run has not started"
    elif name == "pause" and s.status != "running":
        return f"the run is {s.status}"
    elif name == "resume" and s.status != "paused":
        return f"the run is {s.status}, not paused"
    elif name == "tick" and s.current_phase is None:
        return "no phase has started"
    return None


def first_canary(s: RunState) -> int:
    """The plan's first canary weight: the first shift to green (10% when the plan shifts nothing itself)."""
    return next((st.spec["percent"] for ph in s.phases for st in ph.steps
                 if st.kind == "shift" and st.spec["percent"] > 0), 10)


def beyond_evidence(s: RunState, percent: int) -> str:
    """Why green may not go to `percent` yet: guards that have seen no traffic allow the first canary weight
    only (that shift is what makes their evidence), never more. '' when it may."""
    if not s.no_traffic or percent <= max(s.traffic or 0, first_canary(s)):
        return ""
    return (f"no evidence yet: guard {', '.join(s.no_traffic)} has seen no traffic; the first shift goes to "
            f"{first_canary(s)}% at most (the plan's first canary weight) and the guards judge what it brings")


# A hold's kind in the words every view uses.
HOLD_WORDS = {"fault": "engine fault", "blind": "guards blind", "evidence": "waiting for data",
              "guard": "paused by a guard", "drift": "traffic drift", "restart": "after a restart", "paused": "paused",
              "failed": "step failed", "window": "outside the window"}


def current_hold(s: RunState) -> tuple[str, str] | None:
    """(kind, reason) of what keeps the run from moving by itself, beyond waiting for its plan (a bake, a gate,
    a step in flight, the next phase): None when nothing does. A hold has an age, and ends or escalates."""
    if s.terminal or s.status == "rolling-back":
        return None
    step = s.current_step
    if s.faults:
        return "fault", s.hold_reason
    if s.blind:
        return "blind", s.hold_reason
    if s.status == "paused":
        if s.restarted:
            return "restart", s.reason
        kind = "guard" if s.reason.startswith("guard") else "drift" if s.reason.startswith("traffic drift") else "paused"
        return kind, s.reason
    if s.status == "running" and step is not None and step.kind in ("shift", "bake") and step.status in (
            PENDING, BAKING) and s.evidence_wait:
        return "evidence", s.evidence_wait
    if step is not None and step.status == FAILED:
        return "failed", s.waiting
    if s.outside_window and not s.window_override:
        return "window", s.hold_reason
    return None


def _update_hold(tx: _Tx) -> None:
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


def step_label(step: Any) -> tuple[str, str, dict[str, Any]]:
    if isinstance(step, RunStep):
        r = step.run
        label = ("by hand: " if r.manual else "run: ") + (r.description or r.command)
        return "run", label, r.model_dump()
    if isinstance(step, ProbeStep):
        return "probe", f"probe {step.probe.url} → {step.probe.expect_status}", step.probe.model_dump()
    if isinstance(step, WaitStep):
        w = step.wait
        return "wait", f"wait: {w.deployment} {w.ready}% ready", w.model_dump()
    if isinstance(step, ShiftStep):
        return "shift", f"shift green → {step.shift}%", {"percent": step.shift}
    if isinstance(step, BakeStep):
        return "bake", f"bake {format_duration(step.bake)}", {"seconds": step.bake}
    if isinstance(step, GateStep):
        label = f"gate: {step.gate}" + (" (four eyes)" if step.four_eyes else "")
        return "gate", label, {"question": step.gate, "four_eyes": step.four_eyes}
    assert isinstance(step, NotifyStep)
    return "notify", f"notify: {step.notify}", {"message": step.notify}


def initial_state(plan: Plan) -> RunState:
    phases = []
    for p in plan.phases:
        steps = [StepState(*step_label(s)) for s in p.steps]
        checklist = [ChecklistState(c.text, "runbook" if c.done else None) for c in p.checklist]
        phases.append(PhaseState(p.name, p.owner, steps, checklist))
    traffic = plan.backends.traffic
    extra = traffic.model_extra or {}
    by_hand = str(extra.get("shift") or "") if traffic.type == "command" and extra.get("manual") is True else None
    back = str(extra.get("rollback") or by_hand or "")
    return RunState(plan.name, phases, traffic_by_hand=by_hand,
                    rollback_by_hand=render_template(back, 0) if back else "your traffic switch")


# ---------------------------------------------------------------- transition


class _Tx:
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


def transition(state: RunState, event: Event) -> tuple[RunState, list[Effect]]:
    tx = _Tx(copy.deepcopy(state), event)
    kind = event.get("type")
    handler = _EVENTS.get(str(kind))
    if kind == "command":
        _command(tx, str(event.get("name")), dict(event.get("args") or {}))
    elif handler is not None:
        handler(tx, event)
    else:
        tx.notice(f"ignored unknown event type {kind!r}")
    _update_hold(tx)
    return tx.s, tx.effects


def _command(tx: _Tx, name: str, args: dict[str, Any]) -> None:
    s = tx.s
    if name == "rollback":  # never blocked
        _start_rollback(tx, str(args.get("reason") or f"rollback by {tx.who}"))
        return
    if name == "take":
        _take(tx, args)
        return
    if s.terminal:
        tx.notice(f"{name}: the run is over ({s.status})")
        return
    why = refusal(s, name, args, tx.who)
    if why is not None and name not in ("pause", "resume"):
        tx.notice(f"{name}: {why}")
        return
    handler = {
        "advance": _advance,
        "tick": _tick,
        "approve": _approve,
        "shift": _shift,
        "pause": _pause,
        "resume": _resume,
        "abort": _abort,
        "override": _override,
    }.get(name)
    if handler is None:
        tx.notice(f"unknown command {name!r}")
        return
    handler(tx, args)


def _advance(tx: _Tx, args: dict[str, Any]) -> None:
    s = tx.s
    if s.status == "pending":
        s.status = "running"
        s.started_at = tx.now
    ph = s.current_phase
    step = s.current_step
    if ph is not None and ph.status != DONE and step is not None and step.status == FAILED:
        step.status = PENDING
        step.detail = f"retried by {tx.who}"
        ph.status = RUNNING
        _continue(tx)
        return
    s.phase += 1
    ph = s.phases[s.phase]
    ph.status = RUNNING
    ph.started_at = tx.now
    tx.notify("phase-start", f"phase {ph.name!r} started by {tx.who}")
    _continue(tx)


def _tick(tx: _Tx, args: dict[str, Any]) -> None:
    ph = tx.s.current_phase
    assert ph is not None  # refusal() checked a phase has started
    idx = args.get("item")
    if not isinstance(idx, int) or not 0 <= idx < len(ph.checklist):
        tx.notice(f"tick: no checklist item {idx!r} in phase {ph.name!r}")
        return
    item = ph.checklist[idx]
    if item.ticked_by is None:
        item.ticked_by, item.ticked_at = tx.who, tx.now
    else:
        item.ticked_by, item.ticked_at = None, None
    _continue(tx)


def _take(tx: _Tx, args: dict[str, Any]) -> None:
    before, reason = tx.s.helm, str(args.get("reason") or "").strip()
    tx.s.helm = tx.who
    if before and before != tx.who:
        text = f"{tx.who} took the helm from {before}: {reason}"
        tx.notice(text)  # on every screen, in the log pane too
        tx.notify("helm", text)
    else:
        tx.notice(f"{tx.who} drives" + (f": {reason}" if reason else ""), level="info")


def _approve(tx: _Tx, args: dict[str, Any]) -> None:
    if tx.s.status == "rolling-back":  # rolled back by hand (refusal() allows it only then)
        tx.s.traffic = 0
        _rolled_back(tx)
        return
    step = tx.s.current_step
    assert step is not None  # refusal() checked it waits
    step.status = DONE
    step.ended_at = tx.now
    step.detail = ("confirmed" if step.kind == "run" else "approved") + f" by {tx.who}"
    if step.kind == "shift":  # moved by hand: the operator's word, not a read-back
        tx.s.traffic = int(step.spec["percent"])
        step.detail = f"moved by hand, confirmed by {tx.who} (not read back)"
    _continue(tx)


def _shift(tx: _Tx, args: dict[str, Any]) -> None:
    s = tx.s
    pct = args.get("percent")
    if not isinstance(pct, int) or isinstance(pct, bool) or not 0 <= pct <= 100:
        tx.notice(f"shift: {pct!r} is not a percentage 0..100")
        return
    s.traffic_target = pct
    tx.effect("shift", percent=pct, step=None, operator=tx.who)
    tx.notify("shift", f"{tx.who} shifts green to {pct}%")


def _pause(tx: _Tx, args: dict[str, Any]) -> None:
    reason = str(args.get("reason") or f"paused by {tx.who}")
    if tx.s.status == "running":
        tx.notify("paused", reason)
    _hold(tx, reason)


def _hold(tx: _Tx, reason: str) -> None:
    s = tx.s
    if s.status != "running":
        tx.notice(f"pause: the run is {s.status}")
        return
    s.status = "paused"
    s.reason = reason
    _freeze_bake(tx)
    step = s.current_step
    if step is not None and step.status == BAKING:
        step.status = PAUSED


def _resume(tx: _Tx, args: dict[str, Any]) -> None:
    s = tx.s
    if s.status != "paused":
        tx.notice(f"resume: the run is {s.status}, not paused")
        return
    s.status = "running"
    s.reason = ""
    s.restarted = False
    _thaw_bake(tx)
    _continue(tx)


def _freeze_bake(tx: _Tx, at: float | None = None) -> None:
    """Stop the bake clock, keeping what is left of it (as of `at`, default now)."""
    s = tx.s
    if s.bake and "timer" in s.bake:
        remaining = max(0.0, s.bake["ends_at"] - (tx.now if at is None else at))
        _cancel_timer(tx)
        s.bake = {"remaining": remaining}


def _thaw_bake(tx: _Tx) -> None:
    """Restart a frozen bake, unless the run still may not go forward."""
    s = tx.s
    step = s.current_step
    if s.status != "running" or s.evidence_wait or not s.bake or "remaining" not in s.bake:
        return
    if step is not None and step.status in (BAKING, PAUSED):
        step.status = BAKING
        s.waiting = f"baking {format_duration(s.bake['remaining'])} more while guards watch"
        _start_timer(tx, float(s.bake["remaining"]))


def _abort(tx: _Tx, args: dict[str, Any]) -> None:
    s = tx.s
    _cancel_timer(tx)
    for eid in list(s.pending):
        tx.effects.append({"kind": "cancel", "id": eid})
    s.status = "aborted"
    s.reason = str(args.get("reason") or f"aborted by {tx.who}")
    s.ended_at = tx.now
    s.waiting = ""
    tx.notify("abort", s.reason)


def _start_rollback(tx: _Tx, reason: str) -> None:
    s = tx.s
    _cancel_timer(tx)
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


def _rolled_back(tx: _Tx) -> None:
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


def _start_timer(tx: _Tx, seconds: float) -> None:
    eff = tx.effect("timer", seconds=seconds)
    tx.s.bake = {"timer": eff["id"], "ends_at": tx.now + seconds}


def _cancel_timer(tx: _Tx) -> None:
    s = tx.s
    if s.bake and "timer" in s.bake:
        s.pending.pop(s.bake["timer"], None)
        tx.effects.append({"kind": "cancel", "id": s.bake["timer"]})
    s.bake = None


# ---------------------------------------------------------------- steps


def _continue(tx: _Tx) -> None:
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
                tx.notify("completed", f"run completed with green at {s.traffic}%")
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
        _start_step(tx, step)


def _start_step(tx: _Tx, step: StepState) -> None:
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
        s.waiting = f"baking {format_duration(spec['seconds'])} while guards watch"
        _start_timer(tx, float(spec["seconds"]))
    elif step.kind == "gate":
        step.status = WAITING
        s.waiting = f"gate: {spec['question']}"
        tx.notify("gate-waiting", f"gate waiting: {spec['question']}")
    else:  # notify: fire and forget
        tx.notify("message", spec["message"])
        step.status = DONE
        step.ended_at = tx.now


def _step_at(s: RunState, loc: Any) -> StepState | None:
    """The step an effect was for, if it is still the current one."""
    if not isinstance(loc, dict) or loc.get("phase") != s.phase:
        return None
    step = s.current_step
    ph = s.current_phase
    if ph is None or step is None or ph.step != loc.get("step"):
        return None
    return step


def _result(tx: _Tx, event: Event) -> None:
    s = tx.s
    eff = s.pending.pop(str(event.get("id")), None)
    if eff is None:
        return  # superseded (cancelled timer, replaced bake)
    ok = bool(event.get("ok"))
    data = event.get("data") or {}
    error = str(event.get("error") or "")
    kind = eff["kind"]
    if kind in ("shift", "rollback") and isinstance(data.get("green"), int):
        s.traffic = data["green"]
    if kind == "rollback":
        if ok:
            _rolled_back(tx)
        else:
            s.waiting = f"ROLLBACK FAILED: {error}; press rollback to retry"
            tx.notice(f"rollback failed: {error}", "error")
        return
    step = _step_at(s, eff.get("step"))
    if kind == "shift" and step is None:  # an operator's ad-hoc shift
        if not ok:
            tx.notice(f"shift to {eff['percent']}% failed: {error}", "error")
        return
    if step is None or step.status != RUNNING:
        return
    step.ended_at = tx.now
    if ok:
        step.status = DONE
        step.detail = str(data.get("detail", ""))
    else:
        step.status = FAILED
        step.detail = error or "failed"
        ph = s.current_phase
        if ph is not None:
            ph.status = FAILED
        tx.notify("step-failed", f"step failed: {step.label}: {step.detail}")
    _continue(tx)


def _timer(tx: _Tx, event: Event) -> None:
    s = tx.s
    tid = str(event.get("id"))
    if tid not in s.pending or not s.bake or s.bake.get("timer") != tid:
        return
    s.pending.pop(tid)
    s.bake = None
    step = s.current_step
    if step is not None and step.status == BAKING:
        step.status = DONE
        step.ended_at = tx.now
        step.detail = "baked clean"
    _continue(tx)


def _guard(tx: _Tx, event: Event) -> None:
    s = tx.s
    if s.status not in ("running", "paused"):
        return
    idx = int(event.get("guard", -1))
    action = str(event.get("action"))
    desc = str(event.get("summary", f"guard {idx} breached"))
    if idx not in s.tripped:
        s.tripped.append(idx)
    tx.notify("guard-breach", desc)
    if action == "rollback":
        _start_rollback(tx, desc)
    elif action == "pause":
        if s.status == "running":
            _hold(tx, desc)
            s.waiting = "guard breached: resume or roll back"
    else:
        tx.notice(desc, "error")


def _observed(tx: _Tx, event: Event) -> None:
    """A read-back of the live split outside any shift: at start, or someone else's change."""
    s = tx.s
    green = event.get("green")
    if isinstance(green, int):
        s.traffic = green  # the screen shows what the backend says
    drift = str(event.get("drift") or "")
    if not drift or drift == s.drift:
        return  # one alert per drift, not one per sample
    s.drift = drift
    tx.notify("drift", drift)
    if s.status == "paused" and s.restarted:  # not a restart hold any more: a human must look
        s.restarted = False
        s.reason = f"traffic drift after a restart: {drift}"
        s.waiting = "traffic changed while nobody drove: check, then resume or roll back"
    elif s.status == "running":
        _hold(tx, f"traffic drift: {drift}")
        s.waiting = "traffic changed outside shipdeck: check, then resume or roll back"
    else:
        tx.notice(f"traffic drift: {drift}", "error")


def _blind(tx: _Tx, event: Event) -> None:
    """The guards' evidence changed: which are blind (the run holds), which wait for data from traffic their
    side just got (bakes and forward shifts wait), which have seen no traffic yet (green goes no further than
    the first canary weight)."""
    s = tx.s
    names = sorted({str(n) for n in event.get("guards") or []})
    awaiting = sorted({str(n) for n in event.get("awaiting") or []})
    no_traffic = sorted({str(n) for n in event.get("no_traffic") or []})
    if (names, awaiting, no_traffic) == (s.blind, s.awaiting, s.no_traffic):
        return
    was, s.blind, s.awaiting, s.no_traffic = s.blind, names, awaiting, no_traffic
    if names and not was:
        tx.notify("no-data", f"guards blind, the run holds: no data for {', '.join(names)}")
        tx.notice(f"guard {', '.join(names)} blind: forward actions wait", "error")
    if s.status == "running" and s.evidence_wait:
        _freeze_bake(tx)
        if s.bake is not None:
            s.waiting = f"bake paused: {s.evidence_wait}"
    if s.status == "running":
        _thaw_bake(tx)
        _continue(tx)


def _window(tx: _Tx, event: Event) -> None:
    """The plan's window opened or closed (the driver's clock says so): forward moves wait outside it."""
    s = tx.s
    outside = str(event.get("outside") or "")
    if outside == s.outside_window:
        return
    s.outside_window = outside
    if outside and not s.window_override and not s.terminal:
        tx.notify("window", f"{outside}: forward actions wait for an override")
        tx.notice(f"{outside}: forward actions need an override", "error")
    if s.status == "running":
        _continue(tx)


def _override(tx: _Tx, args: dict[str, Any]) -> None:
    s = tx.s
    s.window_override = f"{str(args['reason']).strip()} (by {tx.who})"
    tx.notify("window-override", f"window overridden by {tx.who}: {str(args['reason']).strip()}")
    if s.status == "running":
        _continue(tx)


def _fault(tx: _Tx, event: Event) -> None:
    """A part of the engine failed (journal, sampler, ...): forward actions stop, rollback stays."""
    s = tx.s
    text = str(event.get("text") or "engine fault")
    if text in s.faults:
        return
    s.faults.append(text)
    tx.notify("engine-fault", f"ENGINE FAULT: {text}; forward actions stopped, rollback still works")
    tx.notice(f"engine fault: {text}", "error")
    if s.status == "running":  # a bake counts only while the engine works
        _freeze_bake(tx)
        if s.bake is not None:
            s.waiting = f"bake paused: {s.hold_reason}"


def _recovered(tx: _Tx, event: Event) -> None:
    """A failed part of the engine works again: its fault ends, and the run goes on if nothing else holds it."""
    s = tx.s
    part = f"{event.get('part')}:"
    left = [f for f in s.faults if not f.startswith(part)]
    if left == s.faults:
        return
    s.faults = left
    tx.notice(f"{event.get('part')} recovered: {event.get('text') or 'it works again'}", "info")
    if s.status == "running":
        _thaw_bake(tx)
        _continue(tx)


def _restart(tx: _Tx, event: Event) -> None:
    """The engine came back after a crash: finish a rollback in flight, otherwise wait for a human."""
    s = tx.s
    live = event.get("live")
    said = f"green reads {live}%" if isinstance(live, int) else "traffic could not be read back"
    if s.terminal or s.status == "pending":
        return
    if s.status == "rolling-back":
        for eid, eff in list(s.pending.items()):
            if eff["kind"] == "rollback":
                s.pending.pop(eid)
        tx.effect("rollback", reason=f"{s.reason} (sent again after a restart)", operator=tx.who)
        tx.notify("restart", f"engine restarted during a rollback; rollback sent again ({said})")
        return
    crashed_at = event.get("crashed_at")
    if s.status == "running":
        step = s.current_step
        _freeze_bake(tx, float(crashed_at) if isinstance(crashed_at, int | float) else None)
        if s.bake is not None and step is not None and step.kind == "bake":  # never more than the whole bake
            s.bake["remaining"] = min(s.bake["remaining"], float(step.spec["seconds"]))
        _hold(tx, f"resumed after a restart ({said}): check, then resume")
        s.restarted = True
        s.waiting = "resumed after a restart: nothing moves until an operator resumes"
    tx.notify("restart", f"engine restarted; {said}; the run waits for an operator")


# Events other than commands, by type.
_EVENTS = {"result": _result, "timer": _timer, "guard": _guard, "traffic": _observed, "blind": _blind,
           "fault": _fault, "recovered": _recovered, "restart": _restart, "window": _window}
