"""`shipdeck rehearse PLAN --last 24h`: the plan's guards judged on its metrics' past, before the night.

The history comes from the plan's own metrics sources (Prometheus range queries at the plan's sample
interval, in chunks Prometheus accepts) and goes through the engine's GuardSet: windows, the no-data rule and
actions as on the night. Each guard is judged on the service as a whole (its `series`, else all), since the
past rarely has a canary in it. Per guard: the trips and when, the closest approach, the longest breach, the
stretches without data, and a threshold that would not have tripped on this history, with its margin.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from backends import registry
from backends.base import BackendContext, Backfillable, NoData, RealClock, Sample
from tui.engine.guards import GuardSet
from tui.engine.plan import Guard, LoadedPlan, format_duration
from tui.engine.rehearse import RehearseError, measured, rule_words
from widgets.units import format_value

MAX_POINTS = 10_000  # Prometheus answers at most 11,000 points a series per range query


@dataclass
class GuardHistory:
    guard: Guard
    unit: str
    trips: list[float] = field(default_factory=list)
    peak: float | None = None  # the worst single value (highest for `above`)
    peak_at: float = 0.0
    longest: float = 0.0  # the longest breach, against the window
    gaps: list[tuple[float, float]] = field(default_factory=list)  # stretches with nothing to judge
    sustained: float | None = None  # the worst level held for a whole window
    points: list[tuple[float, float | None]] = field(default_factory=list)
    note: str = ""  # why it had nothing to judge, in the engine's words, when that was the last word

    def suggestion(self, margin: float) -> float | None:
        """A threshold this history would not have tripped, `margin` past the worst level it held a window."""
        if self.sustained is None or self.guard.relative:
            return None
        room = abs(self.sustained) * margin  # past the level, whatever its sign
        return self.sustained + room if self.guard.op == "above" else self.sustained - room


async def fetch(loaded: LoadedPlan, start: float, end: float, step: float,
                progress: Callable[[str], None]) -> dict[float, dict[str, Sample]]:
    """ts -> metric -> sample, from every metrics source the plan's metrics use."""
    plan = loaded.plan
    ctx = BackendContext(clock=RealClock(), plan_dir=".", shared={}, emit_log=lambda _line: None)
    by_ts: dict[float, dict[str, Sample]] = {}
    configs = {c.name or c.type: c for c in loaded.backends.get("metrics", [])}
    for source, queries in plan.queries_by_source().items():
        backend = registry.create("metrics", configs[source], ctx)
        try:
            if not isinstance(backend, Backfillable) or not hasattr(backend, "backfill"):
                raise RehearseError(f"metrics source {source!r} ({configs[source].type}) keeps no history to rehearse on")
            t = start
            while t < end:
                hi = min(end, t + step * MAX_POINTS)
                try:
                    part = await backend.backfill(queries, t, hi, step)
                except Exception as e:  # noqa: BLE001 - said with the source's words, never a traceback
                    raise RehearseError(f"metrics source {source!r} did not give its history: {e}") from None
                for name, samples in part.items():
                    for s in samples:
                        by_ts.setdefault(round(s.ts, 3), {})[name] = s
                progress(f"{source}: {format_duration(hi - start)} of {format_duration(end - start)} read")
                t = hi + step
        finally:
            if hasattr(backend, "aclose"):
                await backend.aclose()
    return by_ts


async def rehearsal(loaded: LoadedPlan, start: float, end: float, progress: Callable[[str], None]
                    ) -> list[GuardHistory]:
    """The plan's guards judged on its metrics' history from `start` to `end`, at its sample interval."""
    measured(loaded.plan, list(loaded.plan.guards), "the plan measures")
    step = loaded.plan.settings.sample_interval
    return judge(loaded, await fetch(loaded, start, end, step, progress), start, end, step)


def judge(loaded: LoadedPlan, by_ts: dict[float, dict[str, Sample]], start: float, end: float, step: float
          ) -> list[GuardHistory]:
    plan = loaded.plan
    guards = [g.model_copy(update={"phases": None, "series": g.series or ("green" if g.relative else "all")})
              for g in plan.guards]
    watched = GuardSet(plan.model_copy(update={"guards": guards}))
    watched.set_traffic(50, start - watched.grace - step)  # both sides long in use: no warm-up to wait for
    out = [GuardHistory(g, plan.metrics[g.metric].unit) for g in guards]
    gap_from: list[float | None] = [None] * len(guards)
    n = max(0, math.ceil((end - start) / step))  # grid points before the end
    samples: dict[str, Sample | NoData] = {}
    for k in range(n):
        ts = round(start + k * step, 3)
        # A window that ends between samples acts when it ends, as the engine's deadline check does.
        due = watched.next_deadline()
        if samples and due is not None and due < ts:
            for st in watched.observe(samples, due, None, True):
                out[st.index].trips.append(due)
        got = by_ts.get(ts, {})
        samples = {m: got.get(m) or NoData("no data in the history", ts) for m in plan.metrics}
        fired = {st.index for st in watched.observe(samples, ts, None, True)}
        for i, (st, h) in enumerate(zip(watched.status, out, strict=True)):
            h.points.append((ts, st.value))
            if i in fired:
                h.trips.append(ts)
            if st.value is None:
                gap_from[i] = ts if gap_from[i] is None else gap_from[i]
            else:
                if gap_from[i] is not None:
                    h.gaps.append((gap_from[i], ts))  # type: ignore[arg-type]
                    gap_from[i] = None
                worse = h.peak is None or (st.value > h.peak if st.op == "above" else st.value < h.peak)
                if worse:
                    h.peak, h.peak_at = st.value, ts
            h.longest = max(h.longest, st.breach_for)
            h.note = st.note
    for i, h in enumerate(out):
        if gap_from[i] is not None:
            h.gaps.append((gap_from[i], end))  # type: ignore[arg-type]
        h.sustained = sustained(h.points, h.guard.for_, h.guard.op)
    return out


def sustained(points: list[tuple[float, float | None]], window: float, op: str) -> float | None:
    """The worst level held for a whole window: the highest minimum over any `window` of samples (`above`),
    or the lowest maximum (`below`). A gap ends a window, as a guard under `hold` never completes one blind."""
    sign = 1 if op == "above" else -1
    best: float | None = None
    run: deque[tuple[float, float]] = deque()  # candidates for the window's minimum, increasing
    seg_start: float | None = None
    for ts, v in points:
        if v is None:
            run.clear()
            seg_start = None
            continue
        if seg_start is None:
            seg_start = ts
        x = sign * v
        while run and run[-1][1] >= x:
            run.pop()
        run.append((ts, x))
        while run[0][0] < ts - window:
            run.popleft()
        if ts - seg_start >= window:
            level = run[0][1]
            best = level if best is None else max(best, level)
    return None if best is None else sign * best


def g_step(h: GuardHistory) -> float:
    return h.points[1][0] - h.points[0][0] if len(h.points) > 1 else 0.0


def table(results: list[GuardHistory], start: float, margin: float) -> list[str]:
    """One paragraph a guard: what it would have done, how close it came, where it saw nothing, what to set."""
    out = []
    for h in results:
        g, unit = h.guard, h.unit
        out.append(f"{g.metric}[{g.series}] {rule_words(g, unit)}")
        if all(v is None for _, v in h.points):
            why = "the history has no green series to set against blue" if g.relative else h.note
            out.append(f"  nothing to judge in this history: {why}")
            continue
        if h.trips:
            when = ", ".join("+" + format_duration(t - start) for t in h.trips[:8]) + (" …" if len(h.trips) > 8 else "")
            out.append(f"  would have tripped {len(h.trips)} time(s), at {when}")
        else:
            out.append("  would not have tripped")
        if h.peak is not None:
            out.append(f"  closest approach: {format_value(h.peak, unit)} at +{format_duration(h.peak_at - start)}; "
                       f"longest breach {format_duration(h.longest)} of {format_duration(g.for_)}")
        gaps = [(a, b) for a, b in h.gaps if b - a >= 2 * g_step(h)]
        for a, b in gaps[:5]:
            out.append(f"  no data from +{format_duration(a - start)} to +{format_duration(b - start)} "
                       f"({format_duration(b - a)})")
        if len(gaps) > 5:
            out.append(f"  … and {len(gaps) - 5} more stretches without data")
        if (s := h.suggestion(margin)) is not None and h.sustained is not None:
            out.append(f"  suggested: {g.op} {format_value(s, unit)} for {format_duration(g.for_)}, the tightest that "
                       f"clears this history by {margin:.0%} (the worst it held for a whole window: "
                       f"{format_value(h.sustained, unit)})")
    return out


def markdown(results: list[GuardHistory], start: float, end: float, margin: float, plan_name: str) -> str:
    lines = [f"# Rehearsal of {plan_name}", "",
             f"History: {format_duration(end - start)}; margin for suggestions: {margin:.0%}.", "",
             "| guard | trips | closest approach | longest breach | no data | suggested |",
             "| --- | --- | --- | --- | --- | --- |"]
    for h in results:
        g, unit = h.guard, h.unit
        rule = f"{g.metric} {rule_words(g, unit)}"
        s = h.suggestion(margin)
        lines.append(f"| {rule} | {len(h.trips)} | {format_value(h.peak, unit) if h.peak is not None else '—'} | "
                     f"{format_duration(h.longest)} | {format_duration(sum(b - a for a, b in h.gaps))} | "
                     f"{format_value(s, unit) if s is not None else '—'} |")
    for h in results:  # each guard's chart, as the terminal shows it
        if any(v is not None for _, v in h.points):
            lines += ["", f"## {h.guard.metric}", "", "```text", chart(h, start, width=100).rstrip(), "```"]
    return "\n".join(lines) + "\n"


def chart(h: GuardHistory, start: float, width: int = 0, height: int = 16) -> str:
    """The guard's series over the history, its threshold drawn in and its would-be trips marked."""
    import shutil

    import plotext as plt

    width = width or min(100, shutil.get_terminal_size((100, 24)).columns)  # 80 columns over SSH
    xs = [(t - start) / 60 for t, v in h.points if v is not None]
    ys = [v for _, v in h.points if v is not None]
    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("clear")
    if xs:
        plt.plot(xs, ys, marker="braille")
    if not h.guard.relative:
        plt.horizontal_line(h.guard.threshold)
    trips = [((t - start) / 60, h.guard.threshold if not h.guard.relative else ys[0] if ys else 0) for t in h.trips]
    if trips:
        plt.scatter([x for x, _ in trips], [y for _, y in trips], marker="x")
    plt.title(f"{h.guard.metric}: history, threshold, would-be trips (x)")
    plt.xlabel("minutes")
    text: str = plt.uncolorize(plt.build())  # plain text: it goes to files and pipes too
    return text


def rehearse_text(loaded: LoadedPlan, results: list[GuardHistory], start: float, end: float, margin: float,
                  charts: bool = True) -> str:
    out = [f"rehearsal of {loaded.plan.name!r} on {format_duration(end - start)} of history"]
    out += table(results, start, margin)
    if charts:
        out += [chart(h, start) for h in results if any(v is not None for _, v in h.points)]
    return "\n".join(out) + "\n"


def parse_margin(text: str) -> float:
    try:
        value = float(text.strip().rstrip("%")) / (100 if text.strip().endswith("%") else 1)
    except ValueError:
        raise RehearseError(f"--margin {text!r}: write it like 20%") from None
    if not 0 <= value < 1:
        raise RehearseError(f"--margin {text!r}: between 0% and 100%")
    return value

