"""Engine data -> widget data. Pure functions: the screen renders what these return."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tui.engine.plandata import PlanData, format_duration, window_bounds
from widgets.chartdata import ChartData
from widgets.guards import GuardView
from widgets.splitbar import SplitData
from widgets.timeline import ChecklistView, PhaseView, StepView, TimelineData
from widgets.units import format_value

CHART_WINDOW_S = 900.0  # how much history a chart shows, in plan time


def hhmm(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%H:%M") if ts else ""


def hhmmss(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%H:%M:%S") if ts else ""


def window_left(plan: PlanData, now: float) -> str:
    """Time left in the plan's window ('1h12m left', 'window over 5m ago'), or '' without a window."""
    if plan.window is None:
        return ""
    start, end = window_bounds(plan.window, now)
    if now < start:
        return f"window opens in {format_duration(start - now)}"
    left = end - now
    return f"window: {format_duration(left)} left" if left >= 0 else f"window closed {format_duration(-left)} ago"


def planned_starts(plan: PlanData, run_start: float) -> list[str]:
    """A phase's planned start: its own `start`, else the previous one's plus its duration."""
    out: list[str] = []
    t = run_start
    for phase in plan.phases:
        if phase.start:
            out.append(phase.start)
            h, m = (int(x) for x in phase.start.split(":"))
            base = datetime.fromtimestamp(t).replace(hour=h, minute=m, second=0)
            t = base.timestamp()
        else:
            out.append(hhmm(t))
        t += phase.duration or 0
    return out


def timeline(plan: PlanData, state: dict[str, Any], now: float, selected: int | None) -> TimelineData:
    starts = planned_starts(plan, state.get("started_at") or now)
    phases = []
    for i, (spec, ph) in enumerate(zip(plan.phases, state["phases"], strict=True)):
        started, ended = ph["started_at"], ph["ended_at"]
        actual_dur = format_duration((ended or now) - started) if started else ""
        steps = [StepView(st["label"], st["status"], st["detail"]) for st in ph["steps"]]
        checklist = [
            ChecklistView(c["text"], c["ticked_by"], hhmm(c["ticked_at"])) for c in ph["checklist"]
        ]
        current_step = ph["step"] if i == state["phase"] and ph["step"] < len(steps) else None
        phases.append(
            PhaseView(
                name=ph["name"],
                owner=ph["owner"],
                status=ph["status"],
                planned_start=starts[i],
                planned_duration=format_duration(spec.duration) if spec.duration else "",
                actual_start=hhmm(started),
                actual_duration=actual_dur,
                steps=steps,
                current_step=current_step,
                checklist=checklist,
            )
        )
    current = state["phase"] if state["phase"] >= 0 else None
    return TimelineData(phases=phases, current=current, selected_item=selected)


def banner(state: dict[str, Any], engine: str) -> tuple[str, str]:
    """(word, colour) of the war-room banner; '' while the night runs normally. `engine`: what broke between
    this screen and the engine (ENGINE FAILED, LINK DROPPED), '' when nothing did."""
    if engine:
        return engine, "red"
    status, reason = state["status"], str(state.get("reason") or "")
    if status == "paused":
        return ("PAUSED BY GUARD" if reason.startswith("guard") else "PAUSED"), "yellow"
    return {"rolling-back": ("ROLLING BACK", "red"), "rolled-back": ("ROLLED BACK", "red"),
            "aborted": ("ABORTED", "red"), "completed": ("COMPLETED", "green")}.get(status, ("", "red"))


def split(state: dict[str, Any], busy: bool, health: dict[str, Any] | None = None, gone: bool = False) -> SplitData:
    """`health`: the traffic backend's last word; `gone`: no engine behind this screen (nothing is live then)."""
    green, target = state["traffic"], state["traffic_target"]
    last = f"last read back green {green}%" if green is not None else "never read back"
    if gone:
        return SplitData(green=green, target=None, status="unknown", detail=f"no engine: {last}")
    if health is not None and health.get("status") == "failed":
        return SplitData(green=green, target=target, status="failed", detail=f"{health.get('detail')}; {last}")
    if state["status"] == "rolling-back" or busy:
        status = "shifting"
    elif green is None:
        status = "unknown"
    else:
        status = "live"
    detail = "read back from the traffic backend" if green is not None else "not read yet"
    if state.get("traffic_by_hand") is not None:  # nothing reads it back: never shown as live
        status, detail = "unknown", "moved by hand: shipdeck cannot read the split back"
    return SplitData(green=green, target=target, status=status, detail=detail)


@dataclass
class SeriesStore:
    """Recent samples per metric, trimmed to the chart window (a deque per metric)."""

    window: float = CHART_WINDOW_S
    points: dict[str, deque[tuple[float, dict[str, float]]]] = field(default_factory=dict)
    first_ts: float = 0.0
    last: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_ts: float = 0.0

    def add(self, ts: float, values: dict[str, dict[str, Any]]) -> None:
        self.first_ts = min(self.first_ts, ts) if self.first_ts else ts
        self.last_ts = ts
        for name, v in values.items():
            self.last[name] = v
            q = self.points.setdefault(name, deque())
            if v.get("value") is not None:
                # a colour with no reading: NaN in process and in journals, null over the socket
                series = {k: x for k, x in (v.get("series") or {}).items() if x is not None}
                series["all"] = v["value"]
                q.append((ts, series))
            while q and q[0][0] < ts - self.window:
                q.popleft()


def chart(plan: PlanData, name: str, store: SeriesStore, now: float, stale_after: float, judged: str = "") -> ChartData:
    """`judged`: the side its guard judges (green, blue, all): the chart plots that series under the threshold."""
    metric = plan.metrics[name]
    series: dict[str, list[tuple[float, float]]] = {}
    for ts, per in store.points.get(name, ()):
        for colour, value in per.items():
            series.setdefault(colour, []).append((ts, value))
    if ("blue" in series or "green" in series) and judged != "all":
        series.pop("all", None)
    guard = next((g for g in plan.guards if g.metric == name), None)
    last = store.last.get(name, {})
    if last.get("down"):
        status, detail = "down", str(last.get("nodata", "source down"))
    elif store.last_ts and now - store.last_ts > stale_after:
        status, detail = "stale", f"no sample for {format_duration(now - store.last_ts)}"
    elif not store.last_ts:
        status, detail = "stale", "waiting for the first sample"
    elif last.get("value") is None and last:
        status, detail = "stale", str(last.get("nodata", "no data"))
    else:
        status, detail = "live", ""
    label, threshold = "", guard.threshold if guard else None
    if guard is not None:
        on = f" on {judged}" if judged else ""
        bound = format_value(guard.threshold, metric.unit)
        if guard.relative:  # the line follows blue, made worse by the margin
            baseline = (last.get("series") or {}).get("blue")
            threshold = guard.limit(baseline) if baseline is not None else None
            bound = guard.margin_words()
        label = f"{'>' if guard.op == 'above' else '<'} {bound}{on} → {guard.action}"
    return ChartData(
        title=metric.label or name,
        unit=metric.unit,
        series=series,
        threshold=threshold,
        threshold_label=label,
        status=status,
        status_detail=detail,
        now=now,
        # Grow the x axis with the run (1 to 10 minutes) so early samples are not squeezed right.
        window_s=min(600.0, max(60.0, now - (store.first_ts or now))),
    )


def guard_views(plan: PlanData, guards: list[dict[str, Any]], stale: str = "",
                last: dict[str, dict[str, Any]] | None = None) -> list[GuardView]:
    """`stale`: why what the guards last said is no longer news (no sample for a while, no engine): every row
    says so instead of a verdict. `last`: the latest readings, which give a relative guard read back from a
    journal (which keeps its rule, not blue's value every sample) its bound."""
    out = []
    for g in guards:
        if g.get("relative") and g.get("baseline") is None and last is not None and g["metric"] in plan.metrics:
            blue = (last.get(g["metric"], {}).get("series") or {}).get("blue")
            i = g.get("index")
            rule = plan.guards[i] if isinstance(i, int) and 0 <= i < len(plan.guards) else None
            if blue is not None and rule is not None and rule.relative:
                g = {**g, "baseline": blue, "limit": rule.limit(blue)}
        unit = plan.metrics[g["metric"]].unit if g["metric"] in plan.metrics else ""
        if stale:
            g = {**g, "state": "stale", "note": f"STALE: {stale}"}
        out.append(
            GuardView(
                metric=g["metric"],
                op=g["op"],
                threshold=g["threshold"],
                unit=unit,
                value=g["value"],
                breach_for_s=g["breach_for"],
                window_s=g["window"],
                state=g["state"],
                action=g["action"],
                side=g.get("side", ""),
                note=g.get("note", ""),
                relative=g.get("relative", ""),
                baseline=g.get("baseline"),
                limit=g.get("limit"),
            )
        )
    return out


def initial_guards(plan: PlanData) -> list[dict[str, Any]]:
    out = []
    for g in plan.guards:
        measures = plan.metrics[g.metric].measures if g.metric in plan.metrics else "all"
        out.append({"metric": g.metric, "op": g.op, "threshold": g.threshold, "value": None, "breach_for": 0.0,
                    "window": g.for_, "state": "inactive", "action": g.action,
                    "side": g.series or ("" if measures == "all" else measures), "note": "",
                    **({"relative": g.margin_words()} if g.relative else {})})
    return out


def next_weight(plan: PlanData, current: int | None) -> int | None:
    """The plan's next shift weight above the live one (what `shift next` moves to)."""
    weights = sorted({s.shift for p in plan.phases for s in p.steps if hasattr(s, "shift")})
    cur = current or 0
    return next((w for w in weights if w > cur), None)
