"""A past night replayed under other guards, offline: would it have rolled back, earlier, later, or not at all?

The journal holds every sample the guards saw and every event that moved the night. The replay feeds the
same samples, with the traffic and phase the night had at each one, to the engine's own GuardSet built from
the changed guards. The recorded night's own guard decisions are not replayed: where one of them rolled the
night back, what the journal holds after it is a night already rolled back, so the replay gives no verdict
past that moment and says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from backends.base import NoData, Sample
from tui.engine.guards import GuardSet
from tui.engine.initial import initial_state
from tui.engine.journal import parse_iso, plan_of
from tui.engine.machine import transition
from tui.engine.plan import Guard, Plan, format_duration
from widgets.units import format_value

GUARD_TEXT = re.compile(r"^\s*(?P<metric>[A-Za-z_][\w.]*)\s+(?P<op>above|below|>|<)\s+(?P<value>-?\d+(?:\.\d+)?)"
                        r"\s+for\s+(?P<window>\S+)(?:\s+(?:action\s+)?(?P<action>rollback|pause|alert))?\s*$", re.I)


class RehearseError(ValueError):
    pass


def parse_guard(text: str) -> Guard:
    """'error_rate above 0.02 for 2m [rollback|pause|alert]' as a guard (rollback unless said)."""
    m = GUARD_TEXT.match(text)
    if m is None:
        raise RehearseError(f"--guard {text!r}: write it as 'METRIC above|below VALUE for DURATION [ACTION]', "
                            "e.g. 'error_rate above 0.02 for 2m'")
    op = {">": "above", "<": "below"}.get(m.group("op"), m.group("op").lower())
    try:
        return Guard.model_validate({"metric": m.group("metric"), op: float(m.group("value")),
                                     "for": m.group("window"), "action": (m.group("action") or "rollback").lower()})
    except ValueError as e:
        raise RehearseError(f"--guard {text!r}: {e.errors()[0]['msg'] if hasattr(e, 'errors') else e}") from None


def rule_words(g: Guard, unit: str) -> str:
    """'above 2% for 2m → rollback', 'above blue +20% for 1m → pause': a guard's rule as a reviewer reads it."""
    bound = g.margin_words() if g.relative else format_value(g.threshold, unit)
    return f"{g.op} {bound} for {format_duration(g.for_)} → {g.action}"


def measured(plan: Plan, guards: list[Guard], said: str) -> None:
    """Guards given on the command line judge only what the plan measures; else the error names what it does."""
    for g in guards:
        if g.metric not in plan.metrics:
            raise RehearseError(f"--guard on {g.metric!r}: {said} {', '.join(plan.metrics)}")


@dataclass
class Trip:
    at: float
    metric: str
    side: str
    action: str
    summary: str


@dataclass
class Replay:
    start: float
    end: float  # the last moment with a verdict: the night's end, or where its own guard rolled it back
    original: tuple[float, str] | None  # when and why the recorded night's guard rolled it back
    trips: list[Trip] = field(default_factory=list)
    breaching: list[str] = field(default_factory=list)  # windows under way where the verdict ends

    @property
    def rollback(self) -> Trip | None:
        return next((t for t in self.trips if t.action == "rollback"), None)


def _reading(r: dict[str, Any], ts: float) -> Sample | NoData:
    if r.get("value") is None:
        return NoData(str(r.get("nodata", "")), ts, source_down=bool(r.get("down")), answered=not r.get("down"))
    return Sample(float(r["value"]), ts, dict(r.get("series") or {}))


def replay(records: list[dict[str, Any]], guards: list[Guard]) -> Replay:
    plan: Plan = plan_of(records)
    measured(plan, guards, "the night measured")
    watched = GuardSet(plan.model_copy(update={"guards": guards}))
    state = initial_state(plan)
    times = [parse_iso(r["ts"]) for r in records]
    original = next(((ts, str(r["data"].get("summary", ""))) for r, ts in zip(records, times, strict=True)
                     if r["kind"] == "event" and (r.get("data") or {}).get("type") == "guard"
                     and r["data"].get("action") == "rollback"), None)
    out = Replay(times[0] if times else 0.0, times[-1] if times else 0.0, original)
    last: dict[str, Sample | NoData] = {}

    def look(samples: dict[str, Sample | NoData], ts: float) -> None:
        phase = state.current_phase.name if state.current_phase else None
        for st in watched.observe(samples, ts, phase, state.status in ("running", "paused")):
            out.trips.append(Trip(ts, st.metric, st.side, st.action, st.summary(plan.metrics[st.metric].unit)))

    for rec, ts in zip(records, times, strict=True):
        # A window that ends between samples acts when it ends, as the engine's deadline check does.
        due = watched.next_deadline()
        if last and due is not None and due <= ts:
            look(last, due)
        if out.rollback is not None:
            out.end = out.rollback.at
            break
        data = rec.get("data") or {}
        if rec["kind"] == "event" and data.get("type") == "guard":
            if data.get("action") == "rollback":
                out.end = ts  # past here the journal is of a night rolled back by its own guard
                break
            continue  # the recorded guards' pauses and alerts are theirs, not the replayed ones'
        if rec["kind"] == "event":
            state, _ = transition(state, data)
            watched.set_traffic(state.traffic, ts)
        elif rec["kind"] == "sample" and "values" in data:
            last = {m: _reading(r, ts) for m, r in data["values"].items()}
            look(last, ts)
    if out.rollback is not None:
        out.end = out.rollback.at
    out.breaching = [st.summary(plan.metrics[st.metric].unit) for st in watched.status if st.state == "breaching"]
    return out


def verdict(r: Replay, guards: list[Guard], plan: Plan) -> list[str]:
    """What a reviewer reads: the guards, each trip, and the answer against the recorded night."""
    def at(ts: float) -> str:
        return f"{format_duration(ts - r.start)} into the night"

    lines = ["guards replayed: " + "; ".join(f"{g.metric} {rule_words(g, plan.metrics[g.metric].unit)}"
                                             for g in guards)]
    for t in r.trips:
        lines.append(f"  {at(t.at)}: {t.action}: {t.summary}")
    mine = r.rollback
    if r.original is not None:
        lines.append(f"recorded night: its guard rolled back {at(r.original[0])} ({r.original[1]})")
    if mine is not None and r.original is not None:
        delta = r.original[0] - mine.at
        step = max(plan.settings.sample_interval, 1.0)  # the engine acts on the tick after a window ends
        when = f"at the same moment as (within {format_duration(step * 2)})" if abs(delta) <= step * 2 else (
            f"{format_duration(abs(delta))} {'earlier' if delta > 0 else 'later'} than")
        lines.append(f"verdict: rolls back {at(mine.at)}, {when} the recorded night")
    elif mine is not None:
        lines.append(f"verdict: rolls back {at(mine.at)}; the recorded night did not roll back")
    elif r.original is not None:
        lines.append(f"verdict: no rollback up to {at(r.end)}, where the recorded night rolled back; the journal "
                     "after it is of a night already rolled back, so there is no verdict past it")
        lines += [f"  breaching then: {b}" for b in r.breaching]
    else:
        lines.append(f"verdict: no rollback over the whole night ({format_duration(r.end - r.start)}), as recorded")
    return lines
