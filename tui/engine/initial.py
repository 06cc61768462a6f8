"""The state a plan starts in: every phase and step pending, each step labelled as screens and reports show it."""

from __future__ import annotations

from typing import Any

from backends.command import render_template
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
from tui.engine.state import ChecklistState, PhaseState, RunState, StepState


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
