"""A post-deploy report (Markdown) built from a journal alone."""

from __future__ import annotations

from typing import Any

from tui.engine.guards import evidence_kind, evidence_words
from tui.engine.initial import initial_state
from tui.engine.journal import plan_of
from tui.engine.machine import transition
from tui.engine.plan import format_duration
from tui.engine.state import RunState, traffic_words
from widgets.units import format_value


def _t(rec: dict[str, Any]) -> str:
    return str(rec["ts"])[11:19]


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def build_report(records: list[dict[str, Any]], warnings: list[str] | None = None) -> str:
    plan = plan_of(records)
    state = initial_state(plan)
    for rec in records:
        if rec["kind"] == "event":
            state, _ = transition(state, rec["data"])
    start = next((r for r in records if r["kind"] == "run-start"), records[0])
    end = next((r for r in reversed(records) if r["kind"] == "run-end"), None)
    out = [f"# Deploy report: {plan.name}", ""]
    out.append(f"- Outcome: **{state.status}**" + (f" — {state.reason}" if state.reason else ""))
    out.append(f"- Traffic at the end: {traffic_words(state)}")
    out.append(f"- Journal: {start['data'].get('journal', '')} ({len(records)} records, started {start['ts']}"
               + (f", ended {end['ts']})" if end else ", no end record: the run was cut off)"))
    for w in warnings or []:
        out.append(f"- Warning: {w}")
    out += ["", "## Phases", "", "| phase | owner | planned | actual | status |", "|---|---|---|---|---|"]
    for spec, ph in zip(plan.phases, state.phases, strict=True):
        actual = ""
        if ph.started_at:
            actual = format_duration((ph.ended_at or ph.started_at) - ph.started_at)
        planned = format_duration(spec.duration) if spec.duration else ""
        out.append(f"| {_cell(ph.name)} | {_cell(ph.owner)} | {planned} | {actual} | {ph.status} |")
    out += ["", "## What happened", "", "| time (UTC) | who | what |", "|---|---|---|"]
    units: dict[str, str] = {name: m.unit for name, m in plan.metrics.items()}
    evidence: dict[int, str] = {}
    live = initial_state(plan)  # the run as it was at each record: a tick names its item
    for rec in records:
        for line in [_describe(rec, live), *_evidence_changes(rec, evidence, units)]:
            if line:
                out.append(f"| {_t(rec)} | {_cell(rec['operator'])} | {_cell(line)} |")
        if rec["kind"] == "event":
            live, _ = transition(live, rec["data"])
    breaches = [r for r in records if r["kind"] == "event" and r["data"].get("type") == "guard"]
    if breaches:
        out += ["", "## Guard breaches", ""]
        for r in breaches:
            d = r["data"]
            values = ", ".join(format_value(v, str(d.get("unit") or "")) if isinstance(v, float) else "no data"
                               for _, v in d.get("values", [])[-12:])
            out.append(f"- {_t(r)} {d.get('summary')}; last samples: {values}")
    near = _near_misses(records, units)
    if near:
        out += ["", "## Breaches that did not last their window", "", *near]
    checklist = [(ph.name, c) for ph in state.phases for c in ph.checklist]
    if checklist:
        out += ["", "## Checklists", ""]
        for name, c in checklist:
            mark = "x" if c.ticked_by else " "
            who = f" — {c.ticked_by}" if c.ticked_by else ""
            out.append(f"- [{mark}] {name}: {c.text}{who}")
    return "\n".join(out) + "\n"


def effect_text(eff: dict[str, Any]) -> str:
    """An effect (a backend call) in the operator's words: headless output and reports."""
    kind = eff["kind"]
    if kind == "shift" and "percent" in eff:
        return f"shift green to {eff['percent']}%"
    if kind == "run" and "command" in eff:
        return f"run `{eff['command']}`"
    if kind == "probe" and "url" in eff:
        return f"probe {eff['url']}"
    if kind == "wait" and "deployment" in eff:
        return f"wait for {eff['deployment']} {eff.get('ready', 100)}% ready"
    if kind == "rollback" and eff.get("reason"):
        return f"rollback ({eff['reason']})"
    return str(kind)


def _evidence_changes(rec: dict[str, Any], seen: dict[int, str], units: dict[str, str]) -> list[str]:
    """A guard's evidence when it changes (no traffic yet, waiting for data, blind, has data), from samples."""
    if rec["kind"] != "sample":
        return []
    out = []
    for i, g in enumerate(rec["data"].get("guards") or []):
        evidence = evidence_kind(g)
        if evidence != seen.get(i, "inactive" if evidence == "value" else "value"):
            out.append(f"guard {evidence_words(g, units.get(str(g.get('metric')), ''))[1]}")
        seen[i] = evidence
    return out


def _near_misses(records: list[dict[str, Any]], units: dict[str, str]) -> list[str]:
    """Per guard, the breaches its window outlasted (a flapping canary's spikes): how many, the longest, the
    worst value. A night's report shows them even when no guard acted."""
    runs: dict[int, list[tuple[float, float]]] = {}  # guard -> (breach_for, worst value) of each ended episode
    open_: dict[int, tuple[float, float]] = {}
    guards: dict[int, dict[str, Any]] = {}
    for rec in records:
        if rec["kind"] != "sample":
            continue
        for i, g in enumerate(rec["data"].get("guards") or []):
            guards[i] = g
            value = g.get("value")
            if g.get("state") == "breaching" and isinstance(value, int | float):
                worst = open_.get(i, (0.0, value))[1]
                worst = max(worst, value) if g.get("op") == "above" else min(worst, value)
                open_[i] = (float(g.get("breach_for") or 0.0), worst)
            elif i in open_ and g.get("state") != "breaching":
                episode = open_.pop(i)
                if g.get("state") != "tripped":
                    runs.setdefault(i, []).append(episode)
    out = []
    for i, episodes in sorted(runs.items()):
        g = guards[i]
        unit = units.get(str(g.get("metric")), "")
        longest = max(e[0] for e in episodes)
        values = [e[1] for e in episodes]
        worst = max(values) if g.get("op") == "above" else min(values)
        past = g.get("relative") or format_value(g.get("threshold"), unit)  # a relative guard: "blue +20%"
        out.append(f"- {g.get('metric')}[{g.get('side') or 'all'}]: {len(episodes)} time(s) past "
                   f"{past} without tripping; longest {format_duration(longest)} "
                   f"of {format_duration(float(g.get('window') or 0))}, worst {format_value(worst, unit)}")
    return out


def _describe(rec: dict[str, Any], live: RunState) -> str:
    d = rec["data"]
    kind = rec["kind"]
    if kind == "event" and d.get("type") == "command":
        args = dict(d.get("args") or {})
        ph = live.current_phase
        item = args.get("item")
        if d["name"] == "tick" and ph is not None and isinstance(item, int) and 0 <= item < len(ph.checklist):
            return f"tick “{ph.checklist[item].text}”"
        return f"{d['name']} {' '.join(f'{k}={v}' for k, v in args.items())}".strip()
    if kind == "event" and d.get("type") == "guard":
        return str(d.get("summary"))
    if kind == "event" and d.get("type") == "traffic" and d.get("drift"):
        return f"drift: {d['drift']}"
    if kind == "intent":
        return f"→ {effect_text(d)}"
    if kind == "outcome":
        data = d.get("data") or {}
        if d.get("ok"):
            return f"← {d['kind']} ok {data.get('detail', '')}".strip()
        return f"← {d['kind']} FAILED: {d.get('error')}"
    return ""
