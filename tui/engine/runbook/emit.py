"""Stage 6, emit: the draft as plan YAML, every item with its runbook line and rule, and the summary."""

from __future__ import annotations

import json
from pathlib import Path

from tui.engine.plan import Guard, format_duration
from tui.engine.review import guard_yaml, step_yaml
from tui.engine.runbook.criteria import GuardOut
from tui.engine.runbook.draft import Draft, Review, StepOut


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def render(d: Draft, repair: str | None) -> tuple[str, list[str]]:
    out = [f"# Imported by `shipdeck import` from {Path(d.file).name}.",
           "# Review before a real night. Commands are `manual: true` (shown, never executed) and traffic is",
           "# moved by hand until you enable it; metrics are not connected until you point them at a source."]
    if repair:
        out.append(f"# Encoding repaired: {repair}.")
    traffic = "{type: command, manual: true"
    if d.traffic_template:
        traffic += f", shift: {_q(d.traffic_template)}"
    if d.rollback_command:
        traffic += f", rollback: {_q(d.rollback_command.replace('{', '{{').replace('}', '}}'))}"
    why = ("the runbook's own traffic command, shown and run by hand until you set manual: false"
           if d.traffic_template else "no traffic command in the runbook: each shift is done by hand")
    out += ["version: 1", f"name: {_q(d.name)}", "", "backends:", f"  traffic: {traffic}}}  # {why}"]
    proposed = [r.guard for r in d.review if r.guard is not None]
    if d.guards or proposed:
        out.append("  metrics: [{name: runbook, type: unconnected}]  # no metrics source in the runbook")
        out += ["", "metrics:"]
        for name in dict.fromkeys(g.metric for g in [*d.guards, *proposed]):
            unit = next(g.unit for g in [*d.guards, *proposed] if g.metric == name)
            out.append(f"  {name}: {{source: runbook, unit: {_q(unit)}}}")
    out += ["", "guards:" if d.guards else "guards: []"]
    for g in d.guards:
        out.append(f"  # from: {g.source_text}")
        out.append(f"  - {_guard(g)}  # runbook line {g.line} · action from {g.rule}")
    if d.review:
        out += ["", "# Not sure enough to act: each waits for a person (`shipdeck review PLAN`) to accept, edit or",
                "# drop it. Only an accepted guard watches the night; only an accepted step joins its phase.",
                "review:"]
        for r in d.review:
            guard = f", guard: {_guard(r.guard)}" if r.guard is not None else ""
            out.append(f"  - {{line: {r.line}, kind: {r.kind}, status: pending, why: {_q(r.why)}, rule: {_q(r.rule)}, "
                       f"text: {_q(r.excerpt)}{guard}{_in_phase(r)}}}  # runbook line {r.line}")
    out += ["", "phases:"]
    for ph in d.phases:
        out.append(f"  - name: {_q(ph.name)}  # runbook line {ph.line}")
        if ph.owner:
            out.append(f"    owner: {_q(ph.owner)}")
        if ph.start:
            out.append(f"    start: {_q(ph.start)}")
        if ph.duration:
            out.append(f"    duration: {format_duration(ph.duration)}")
        if ph.checklist:
            out.append("    checklist:")
            for text, done in ph.checklist:
                out.append(f"      - {{text: {_q(text)}, done: true}}" if done else f"      - {_q(text)}")
        if any(not st.review for st in ph.steps):
            out.append("    steps:")
            for st in ph.steps:
                if st.review:
                    continue
                at = (f"line {st.line}" if st.line else "") + (f" · {st.rule}" if st.rule else "")
                said = f": {st.description[:100]}" if st.kind in ("shift", "bake") else ""
                out.append(f"      - {_step(st)[1:-1]}  # {at}{said}")
        if ph.notes:
            out.append("    notes:")
            out += [f"      - {_q(n)}" for n in ph.notes]
    summary = [f"{len(d.phases)} phases: " + ", ".join(f"{p.name} (line {p.line})" for p in d.phases)]
    for ph in d.phases:
        kinds: dict[str, int] = {}
        for s in ph.steps:
            kind = f"{s.kind} in review" if s.review else s.kind
            kinds[kind] = kinds.get(kind, 0) + 1
        parts = [f"{len(ph.checklist)} checklist items"] + [f"{n} {k}" for k, n in kinds.items()]
        parts.append(f"{len(ph.notes)} lines kept as notes")
        if ph.owner or ph.start:
            parts.append(f"schedule: {ph.start or '?'} +{format_duration(ph.duration) if ph.duration else '?'} "
                         f"owner {ph.owner or '?'}")
        summary.append(f"phase {ph.name!r}: " + ", ".join(parts))
    for g in d.guards:
        summary.append(f"guard (line {g.line}, {g.action}, from {g.rule}): {g.metric} {g.op} {g.value:g} "
                       f"for {format_duration(g.window or 0)}  ← {g.source_text!r}")
    if d.guards:
        summary.append(f"guards are NOT CONNECTED: no metrics source in the runbook; point metrics at one "
                       f"(backends.metrics) before trusting them ({len(d.guards)} guards)")
    for r in d.review:
        proposal = (f" → proposed {r.guard.metric} {r.guard.op} {r.guard.value:g} for "
                    f"{format_duration(r.guard.window or 60)}{'' if r.guard.window else ' (a guess)'}, {r.guard.action}"
                    if r.guard else "")
        if r.step is not None and r.phase is not None:
            v = r.step.value
            said = (f"`{str(v).splitlines()[0][:80]}`" if r.step.kind == "run" else f"to {v}%"
                    if r.step.kind == "shift" else format_duration(float(v)) if r.step.kind == "bake" else str(v))
            proposal = f" → proposed {r.step.kind} {said} in phase {r.phase.name!r}"
        summary.append(f"review (line {r.line}, {r.kind}): {r.why}{proposal}  ← {r.excerpt!r}")
    for text, line in d.gates:
        summary.append(f"gate (line {line}, not measurable): {text!r}")
    if d.traffic_template:
        summary.append(f"traffic: the runbook's command, by hand until enabled: {d.traffic_template}")
    elif any(s.kind == "shift" for p in d.phases for s in p.steps):
        summary.append("traffic: no traffic command in the runbook: each shift is done by hand and confirmed")
    if repair:
        summary.append(f"encoding: {repair}")
    head = 4 if repair else 3  # the summary goes right after the header comment, before the plan
    out[head:head] = ["# Import summary:", *[f"#   {s}" for s in summary], ""]
    return "\n".join(out) + "\n", summary


def _step(st: StepOut) -> str:
    if st.kind == "run":
        spec: dict[str, object] = {"command": str(st.value), "manual": True}
        if st.description:
            spec["description"] = st.description
        return step_yaml({"run": spec})
    return step_yaml({st.kind: float(st.value) if st.kind == "bake" else st.value})


def _in_phase(r: Review) -> str:
    """Where an accepted step goes: before the phase's `position`-th active step, as in the runbook."""
    if r.step is None or r.phase is None:
        return ""
    here = next(i for i, st in enumerate(r.phase.steps) if st is r.step)
    position = sum(1 for st in r.phase.steps[:here] if not st.review)
    return f", phase: {_q(r.phase.name)}, position: {position}, step: {_step(r.step)}"


def _guard(g: GuardOut) -> str:
    """Written as a review decision writes a guard back: every value exactly (1,234,567 stays 1234567)."""
    window = format_duration(g.window or 60.0, exact=True)
    return guard_yaml(Guard.model_validate({"metric": g.metric, g.op: g.value, "for": window, "action": g.action,
                                            "no_data": "ignore"}))
