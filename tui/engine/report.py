"""A post-deploy report (Markdown) built from a journal alone."""

from __future__ import annotations

from typing import Any

from tui.engine.guards import evidence_words
from tui.engine.journal import plan_of, replay
from tui.engine.plan import format_duration
from widgets.units import format_value


def _t(rec: dict[str, Any]) -> str:
    return str(rec["ts"])[11:19]


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def build_report(records: list[dict[str, Any]], warnings: list[str] | None = None) -> str:
    plan = plan_of(records)
    state = replay(records)
    start = next((r for r in records if r["kind"] == "run-start"), records[0])
    end = next((r for r in reversed(records) if r["kind"] == "run-end"), None)
    out = [f"# Deploy report: {plan.name}", ""]
    out.append(f"- Outcome: **{state.status}**" + (f" — {state.reason}" if state.reason else ""))
    traffic = "never read back" if state.traffic is None else f"green {state.traffic}%"
    out.append(f"- Traffic at the end: {traffic}")
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
    for rec in records:
        for line in [_describe(rec), *_evidence_changes(rec, evidence, units)]:
            if line:
                out.append(f"| {_t(rec)} | {_cell(rec['operator'])} | {_cell(line)} |")
    breaches = [r for r in records if r["kind"] == "event" and r["data"].get("type") == "guard"]
    if breaches:
        out += ["", "## Guard breaches", ""]
        for r in breaches:
            d = r["data"]
            values = ", ".join(format_value(v, str(d.get("unit") or "")) if isinstance(v, float) else "no data"
                               for _, v in d.get("values", [])[-12:])
            out.append(f"- {_t(r)} {d.get('summary')}; last samples: {values}")
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
        evidence, words = evidence_words(g, units.get(str(g.get("metric")), ""))
        if evidence != seen.get(i, "inactive" if evidence == "value" else "value"):
            out.append(f"guard {words}")
        seen[i] = evidence
    return out


def _describe(rec: dict[str, Any]) -> str:
    d = rec["data"]
    kind = rec["kind"]
    if kind == "event" and d.get("type") == "command":
        args = " ".join(f"{k}={v}" for k, v in (d.get("args") or {}).items())
        return f"{d['name']} {args}".strip()
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
