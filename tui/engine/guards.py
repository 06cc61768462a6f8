"""Guards: sustained-breach windows, judged on evidence.

Each sample, a guard's reading is one of: a value (healthy or a breach); *no traffic yet* (the source
answered, but the series of the side it judges is empty or NaN while that side carries no traffic);
*waiting for data* (that side has carried traffic for less than `settings.no_data_grace`); *blind* (the
source failed, or the series stayed empty past the grace). `for: 5m` means every sample of the last five
minutes breached: one healthy sample resets the window, so a flap never fires. Blind follows the guard's
no-data rule: hold (keep the window as it is; the run holds), fail (a breach), ignore (healthy).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from backends.base import NoData, Sample
from tui.engine.plan import Guard, Plan, format_duration
from widgets.units import format_value, relative_bound

# What a guard has to judge this sample.
VALUE, NO_TRAFFIC, AWAITING, BLIND = "value", "no-traffic", "awaiting", "blind"
# Display states: a value's verdict, or the evidence that is missing, or not judged in this phase.
OK, BREACHING, TRIPPED, INACTIVE = "ok", "breaching", "tripped", "inactive"
MAX_BREACH_VALUES = 600


@dataclass
class GuardStatus:
    index: int
    metric: str
    op: str
    threshold: float
    window: float
    action: str
    no_data: str
    side: str = "all"  # what it judges: green, blue or all
    value: float | None = None
    state: str = INACTIVE  # ok | breaching | tripped | no-traffic | awaiting | blind | inactive
    evidence: str = VALUE
    note: str = ""  # the evidence in words when there is no value
    valued: float | None = None  # the start of its side's traffic when it last had a value: no grace after that
    silenced_until: float | None = None  # an operator's override: it judges, but does not act, until then
    breach_since: float | None = None
    breach_for: float = 0.0
    relative: str = ""  # a relative guard's rule in words ("blue +20%"); threshold is then its margin
    baseline: float | None = None  # blue's value this sample, for a relative guard
    limit: float | None = None  # the bound it was judged against this sample (blue made worse by the margin)
    # The samples of the current breach, newest last, kept for the journal.
    breach_values: list[tuple[float, float | None]] = field(default_factory=list)

    def summary(self, unit: str = "") -> str:
        """'error_rate[green] 6.16% > 1% for 5m of 5m': in the metric's unit, as on screen. A relative guard:
        'latency_p95[green] 260ms > 216ms (blue 180ms +20%) for 2m of 2m'."""
        op = ">" if self.op == "above" else "<"
        val = "no data" if self.value is None else format_value(self.value, unit)
        bound = format_value(self.threshold, unit)
        if self.relative:
            bound = relative_bound(self.relative, self.baseline, self.limit, unit)
        return f"{self.metric}{_judged(self.side)} {val} {op} {bound} for {format_duration(self.breach_for)} of " \
            f"{format_duration(self.window)}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "metric": self.metric,
            "op": self.op,
            "threshold": self.threshold,
            "window": self.window,
            "action": self.action,
            "side": self.side,
            "value": self.value,
            "state": self.state,
            "note": self.note,
            "breach_for": self.breach_for,
            "silenced_until": self.silenced_until,
            **({"relative": self.relative, "baseline": self.baseline, "limit": self.limit} if self.relative else {}),
        }


def _judged(side: str) -> str:
    return f"[{side}]"


class GuardSet:
    """The plan's guards and what each one sees. `set_traffic` tells it the live split: a side's grace for
    data starts when it starts carrying traffic."""

    def __init__(self, plan: Plan) -> None:
        self.guards: list[Guard] = list(plan.guards)
        self.grace = plan.settings.grace
        self._sides = [g.series or _measured(plan, g.metric) for g in self.guards]
        self.status = [
            GuardStatus(i, g.metric, g.op, g.threshold, g.for_, g.action, g.no_data, side=side or "all",
                        relative=g.margin_words() if g.relative else "")
            for i, (g, side) in enumerate(zip(self.guards, self._sides, strict=True))
        ]
        self._pairs: list[list[tuple[float, float, float]]] = [[] for _ in self.guards]  # a test's window
        self.green = 0
        self.traffic_since: dict[str, float | None] = {"green": None, "blue": None, "all": None}
        self.last: dict[str, Sample | NoData] = {}

    def set_traffic(self, green: int | None, now: float) -> None:
        """The live split (None: never read back, taken as all on blue). Idempotent."""
        self.green = green or 0
        for side, carries in (("green", self.green > 0), ("blue", self.green < 100), ("all", True)):
            if not carries:
                self.traffic_since[side] = None
            elif self.traffic_since[side] is None:
                self.traffic_since[side] = now

    def observe(self, samples: dict[str, Sample | NoData], now: float, phase: str | None, active: bool
                ) -> list[GuardStatus]:
        """Feed one tick of samples; return the guards that fired on this tick."""
        self.last = samples
        if self.traffic_since["all"] is None:
            self.set_traffic(self.green, now)  # all traffic is traffic from the first look on
        fired: list[GuardStatus] = []
        for i, (guard, st) in enumerate(zip(self.guards, self.status, strict=True)):
            self._classify(i, now)
            if not active or not _applies(guard, phase):
                self._clear(st)
                # Before the run starts, missing evidence still shows: it is what holds the start.
                st.state = st.evidence if st.evidence != VALUE and _applies(guard, phase) else INACTIVE
                continue
            if st.evidence == VALUE and guard.test is not None:
                breached = self._tested(i, now)
                if breached and st.breach_since is None:
                    st.breach_since = now - guard.for_  # the whole window is the evidence: it acts at once
            elif st.evidence == VALUE:
                assert st.value is not None
                breached = guard.breached(st.value, st.baseline)
            elif st.evidence == NO_TRAFFIC:
                self._clear(st)  # nothing to judge on a side nobody uses
                st.state = NO_TRAFFIC
                continue
            elif st.evidence == BLIND and guard.no_data == "fail":
                breached = True
            elif st.evidence == BLIND and guard.no_data == "ignore":
                self._clear(st)
                st.state = BLIND
                continue
            else:  # waiting for data, or blind under `hold`: a breach under way stays as it is, and says so
                if st.breach_since is None:
                    st.state = st.evidence
                else:
                    st.breach_for = now - st.breach_since
                continue
            if not breached:
                self._clear(st)
                st.state = OK
                continue
            if st.breach_since is None:
                st.breach_since = now
                st.breach_values.clear()
            st.breach_values.append((now, st.value))
            del st.breach_values[:-MAX_BREACH_VALUES]
            st.breach_for = now - st.breach_since
            if st.state == TRIPPED:
                continue
            if st.silenced_until is not None and now >= st.silenced_until:
                st.silenced_until = None
            if st.breach_for >= guard.for_ and st.silenced_until is None:
                st.state = TRIPPED
                fired.append(st)
            else:
                st.state = BREACHING
        return fired

    def reclassify(self, now: float) -> None:
        """After the split changed between samples: the last readings judged again for their evidence (a
        guard whose side just got traffic waits for data from now), without counting another sample."""
        for i, st in enumerate(self.status):
            if st.evidence == VALUE:
                continue
            self._classify(i, now)
            if st.state in (NO_TRAFFIC, AWAITING, BLIND):  # shown as its evidence: it follows it
                st.state = st.evidence

    def _tested(self, i: int, now: float) -> bool:
        """Mann-Whitney over the window: green's samples against blue's, one-sided, with at least
        `min_samples` a side, so one spike does not trip it; and green's median beyond blue's made worse."""
        guard, st = self.guards[i], self.status[i]
        pairs = self._pairs[i]
        assert st.value is not None and st.baseline is not None
        reading = self.last.get(guard.metric)
        taken = reading.ts if isinstance(reading, Sample) else now
        if not pairs or pairs[-1][0] != taken:  # a window judged again between samples adds no sample
            pairs.append((taken, st.value, st.baseline))
        del pairs[:next((k for k, p in enumerate(pairs) if p[0] > now - guard.for_), len(pairs))]
        green, blue = [p[1] for p in pairs], [p[2] for p in pairs]
        if len(pairs) < guard.min_samples:
            st.note = f"collecting: {len(pairs)} of {guard.min_samples} samples a side"
            return False
        st.note = ""
        worse_green = green if guard.worse == "higher" else [-v for v in green]
        worse_blue = blue if guard.worse == "higher" else [-v for v in blue]
        p = mann_whitney_greater(worse_green, worse_blue)
        st.limit = guard.limit(statistics.median(blue))
        return p < 0.05 and guard.breached(statistics.median(green), statistics.median(blue))

    def _classify(self, i: int, now: float) -> None:
        guard, st = self.guards[i], self.status[i]
        reading = self.last.get(guard.metric)
        if self._sides[i] is None and isinstance(reading, Sample) and reading.series:
            st.side = "green"  # per-colour series: the guard judges the canary
        elif self._sides[i] is None and isinstance(reading, Sample):
            st.side = "all"
        value = _value(reading, st.side)
        if guard.relative:  # judged against blue on the same metric: without blue's value there is nothing to judge
            split = isinstance(reading, Sample) and bool(reading.series)
            st.baseline = _value(reading, "blue") if split else None
            st.limit = guard.limit(st.baseline) if st.baseline is not None else None
            if value is not None and st.baseline is None:
                value = None
            if isinstance(reading, Sample) and not split:
                st.value, st.evidence = None, BLIND
                st.note = "BLIND: no per-colour series: a relative guard compares green's with blue's"
                return
        st.value = value
        since = self.traffic_since[st.side]
        if guard.relative and since is not None and self.traffic_since["blue"] is None:
            st.evidence, st.note = NO_TRAFFIC, "no baseline: blue carries no traffic"
            return
        if value is not None:
            st.evidence, st.note, st.valued = VALUE, "", since
            return
        if reading is None or (isinstance(reading, NoData) and not reading.answered):
            st.evidence, st.note = BLIND, f"BLIND: {reading.reason if reading is not None else 'not read yet'}"
        elif since is None:
            st.evidence, st.note = NO_TRAFFIC, f"no traffic yet: {st.side} carries none"
        elif st.valued == since:  # it had data from this traffic, and lost it: no warm-up to wait for
            why = reading.reason if isinstance(reading, NoData) else f"no {st.side} series"
            st.evidence, st.note = BLIND, f"BLIND: {why} (the series had data from this traffic before)"
        elif now - since < self.grace:
            st.evidence = AWAITING
            st.note = (f"no data yet: {st.side} has had traffic {format_duration(now - since)}; "
                       f"blind at {format_duration(self.grace)}")
        else:
            st.evidence = BLIND
            st.note = (f"BLIND: no data {format_duration(now - since)} after {st.side} got traffic "
                       f"(grace {format_duration(self.grace)})")

    def rearm(self, indices: list[int], now: float, silence_until: float | None) -> None:
        """An operator resumed past these guards: each watches again from now, and acts if the breach lasts
        another full window (after `silence_until`, when one was given)."""
        for i in indices:
            if 0 <= i < len(self.status):
                st = self.status[i]
                if st.state == TRIPPED:
                    st.state, st.breach_since, st.breach_for = BREACHING, now, 0.0
                    st.breach_values.clear()
                st.silenced_until = silence_until

    def next_deadline(self) -> float | None:
        """When the earliest breaching guard's window will be full: judged then, not at the next sample."""
        due = [st.breach_since + g.for_ for g, st in zip(self.guards, self.status, strict=True)
               if st.state == BREACHING and st.breach_since is not None]
        return min(due) if due else None

    def holding(self, phase: str | None, evidence: str) -> list[str]:
        """Guards that apply now and hold the run for this missing evidence (blind: `no_data: hold`; waiting
        for data: any rule but `ignore`; no traffic yet: any rule but `ignore`)."""
        rules = ("hold",) if evidence == BLIND else ("hold", "fail")
        return sorted({
            st.metric for g, st in zip(self.guards, self.status, strict=True)
            if st.evidence == evidence and g.no_data in rules and _applies(g, phase)
        })

    def evidence(self, phase: str | None) -> dict[str, list[str]]:
        """What the run's holds are made of: the machine's `blind` event."""
        return {"guards": self.holding(phase, BLIND), "awaiting": self.holding(phase, AWAITING),
                "no_traffic": self.holding(phase, NO_TRAFFIC)}

    def restore(self, journalled: list[dict[str, Any]], ts: float) -> None:
        """Go on from a journalled sample after a restart: a breach keeps the time it has served."""
        for saved in journalled:
            idx = saved.get("index")
            if not isinstance(idx, int) or not 0 <= idx < len(self.status):
                continue
            st = self.status[idx]
            if saved.get("state") in (BREACHING, TRIPPED):
                st.state = str(saved["state"])
                st.breach_for = float(saved.get("breach_for") or 0.0)
                st.breach_since = ts - st.breach_for
            until = saved.get("silenced_until")
            st.silenced_until = float(until) if isinstance(until, int | float) else None

    @staticmethod
    def _clear(st: GuardStatus) -> None:
        st.state, st.breach_since, st.breach_for = OK, None, 0.0
        st.breach_values.clear()


def mann_whitney_greater(x: list[float], y: list[float]) -> float:
    """One-sided p-value that x tends to be greater than y (Mann-Whitney U, normal approximation with tie
    correction; fine from about ten samples a side)."""
    n1, n2 = len(x), len(y)
    ranked = sorted([(v, 0) for v in x] + [(v, 1) for v in y])
    ranks = [0.0] * len(ranked)
    ties = 0.0
    i = 0
    while i < len(ranked):
        j = i
        while j + 1 < len(ranked) and ranked[j + 1][0] == ranked[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        t = j - i + 1
        ties += t ** 3 - t
        i = j + 1
    u = sum(r for r, (_, side) in zip(ranks, ranked, strict=True) if side == 0) - n1 * (n1 + 1) / 2
    n = n1 + n2
    var = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))
    if var <= 0:
        return 1.0
    z = (u - n1 * n2 / 2 - 0.5) / math.sqrt(var)  # continuity correction
    return 0.5 * math.erfc(z / math.sqrt(2))


def _applies(guard: Guard, phase: str | None) -> bool:
    return guard.phases is None or phase in guard.phases


def _measured(plan: Plan, metric: str) -> str | None:
    """The side a metric's single series measures, or None when the readings decide (per-colour series)."""
    m = plan.metrics.get(metric)
    side = m.measures if m is not None else "all"
    return None if side == "all" else side


def _value(reading: Sample | NoData | None, side: str) -> float | None:
    if not isinstance(reading, Sample):
        return None
    v = reading.series.get(side) if reading.series and side != "all" else reading.value
    if v is None or math.isnan(v):
        return None
    return float(v)


def evidence_kind(g: dict[str, Any]) -> str:
    """A journalled guard's evidence: no-traffic, awaiting, blind, inactive or value."""
    state = str(g.get("state"))
    if state == "no-data":  # older journals
        return BLIND
    return state if state in (NO_TRAFFIC, AWAITING, BLIND, INACTIVE) else VALUE


def evidence_words(g: dict[str, Any], unit: str = "") -> tuple[str, str]:
    """(kind, words) of a journalled guard's evidence: what headless lines and reports say when it changes."""
    kind = evidence_kind(g)
    label = f"{g.get('metric')}[{g.get('side') or 'all'}]"
    if kind in (NO_TRAFFIC, AWAITING, BLIND):
        return kind, f"{label}: {g.get('note') or 'BLIND: no data'}"
    if kind == INACTIVE:
        return kind, f"{label}: not judged now"
    ok = (">" if g.get("op") == "above" else "<") if g.get("state") in (BREACHING, TRIPPED) else (
        "≤" if g.get("op") == "above" else "≥")
    bound = format_value(g.get("threshold"), unit)
    if g.get("relative"):  # the journal keeps the rule; the live bound only while the engine speaks
        bound = relative_bound(str(g["relative"]), g.get("baseline"), g.get("limit"), unit)
    return VALUE, f"{label}: has data: {format_value(g.get('value'), unit)} {ok} {bound}"

