"""The run's state: what the journal replays into and every screen shows, and the rules read off it alone:
what an operator may do now (`refusal`), what holds the run (`current_hold`).

Plain dataclasses, JSON both ways; nothing here changes a state (the machine does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tui.engine.identity import account_of
from tui.engine.plandata import format_duration

Event = dict[str, Any]
Subscriber = Callable[[Event], None]
Effect = dict[str, Any]

COMMANDS = ("advance", "tick", "approve", "shift", "pause", "resume", "rollback", "abort", "take", "release")


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
    overrides: list[dict[str, Any]] = field(default_factory=list)  # resumed past a red guard: who, why, silence

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
    if name in ("rollback", "take", "release"):
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
    elif name == "resume" and s.status == "paused" and paused_by_guard(s) and not str(args.get("reason") or "").strip():
        return ("resuming past a red guard is an override: say why (journalled and sent); it acts again if the "
                "breach lasts another full window")
    elif name == "abort" and not str(args.get("reason") or "").strip():
        return "ending a run: say why (journalled and sent)"
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


def bake_words(seconds: float, more: bool = False) -> str:
    """What a run waits for while it bakes; a screen says it again each second from the bake's end."""
    return f"baking {format_duration(seconds)}{' more' if more else ''} while guards watch"


# A hold's kind in the words every view uses.
HOLD_WORDS = {"fault": "engine fault", "blind": "guards blind", "evidence": "waiting for data",
              "guard": "paused by a guard", "drift": "traffic drift", "restart": "after a restart", "paused": "paused",
              "failed": "step failed", "window": "outside the window"}


def traffic_words(s: RunState) -> str:
    """What the traffic is, in words every line uses: read back, moved by hand, or not moved at all."""
    if s.traffic_by_hand is not None:
        return "traffic not moved yet (moved by hand)" if s.traffic is None else \
            f"green {s.traffic}% (moved by hand, not read back)"
    if s.traffic is not None:
        return f"green {s.traffic}% (read back)"
    shifts = any(st.kind == "shift" for ph in s.phases for st in ph.steps)
    return "green never read back" if shifts else "traffic not moved by this plan"


def paused_by_guard(s: RunState) -> bool:
    return s.status == "paused" and not s.restarted and s.reason.startswith("guard")


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


def exit_code(state: RunState) -> int:
    """0 completed (whatever the plan left the traffic at: it says so in words), 3 rolled back, 1 anything else."""
    if state.status == "completed":
        return 0
    if state.status == "rolled-back":
        return 3
    return 1


def resume_command(plan_path: str, journal: str | Path) -> str:
    """What continues a run after its engine stopped: said on screen, in alerts, after a detach."""
    return f"shipdeck run {plan_path} --journal {journal} --resume"
