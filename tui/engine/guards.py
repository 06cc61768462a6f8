"""Guards: sustained-breach windows with an explicit no-data rule.

`for: 5m` means every sample of the last five minutes breached: one healthy sample resets
the window, so a flap never fires. No-data samples follow the guard's rule:
hold (keep the window as it is), fail (count as a breach), ignore (count as healthy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from backends.base import NoData, Sample
from tui.engine.plan import Guard, Plan, format_duration
from widgets.units import format_value


@dataclass
class GuardStatus:
    index: int
    metric: str
    op: str
    threshold: float
    window: float
    action: str
    no_data: str
    value: float | None = None
    state: str = "ok"  # ok | breaching | tripped | no-data | inactive
    breach_since: float | None = None
    breach_for: float = 0.0
    # The samples of the current breach, newest last, kept for the journal.
    breach_values: list[tuple[float, float | None]] = field(default_factory=list)

    def summary(self, unit: str = "") -> str:
        """'error_rate 6.16% > 1% for 5m of 5m': in the metric's unit, as on screen."""
        op = ">" if self.op == "above" else "<"
        val = "no data" if self.value is None else format_value(self.value, unit)
        return (
            f"{self.metric} {val} {op} {format_value(self.threshold, unit)} for {format_duration(self.breach_for)}"
            f" of {format_duration(self.window)}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "metric": self.metric,
            "op": self.op,
            "threshold": self.threshold,
            "window": self.window,
            "action": self.action,
            "value": self.value,
            "state": self.state,
            "breach_for": self.breach_for,
        }


MAX_BREACH_VALUES = 600


class GuardSet:
    def __init__(self, plan: Plan) -> None:
        self.guards: list[Guard] = list(plan.guards)
        self.status = [
            GuardStatus(i, g.metric, g.op, g.threshold, g.for_, g.action, g.no_data) for i, g in enumerate(self.guards)
        ]

    def observe(
        self, samples: dict[str, Sample | NoData], now: float, phase: str | None, active: bool
    ) -> list[GuardStatus]:
        """Feed one tick of samples; return the guards that fired on this tick."""
        fired: list[GuardStatus] = []
        for guard, st in zip(self.guards, self.status, strict=True):
            st.value = _value(samples.get(guard.metric), guard.series)
            if not active or (guard.phases is not None and phase not in guard.phases):
                st.state, st.breach_since, st.breach_for = "inactive", None, 0.0
                st.breach_values.clear()
                continue
            value = st.value
            if value is None:
                if guard.no_data == "ignore":
                    self._clear(st)
                    st.state = "no-data"
                    continue
                if guard.no_data == "hold":
                    st.state = "no-data" if st.breach_since is None else st.state
                    if st.breach_since is not None:
                        st.breach_for = now - st.breach_since
                    continue
                breached = True  # fail: missing data is treated as a breach
            else:
                breached = guard.breached(value)
            if not breached:
                self._clear(st)
                continue
            if st.breach_since is None:
                st.breach_since = now
                st.breach_values.clear()
            st.breach_values.append((now, value))
            del st.breach_values[:-MAX_BREACH_VALUES]
            st.breach_for = now - st.breach_since
            if st.state == "tripped":
                continue
            if st.breach_for >= guard.for_:
                st.state = "tripped"
                fired.append(st)
            else:
                st.state = "breaching"
        return fired

    def next_deadline(self) -> float | None:
        """When the earliest breaching guard's window will be full: judged then, not at the next sample."""
        due = [st.breach_since + g.for_ for g, st in zip(self.guards, self.status, strict=True)
               if st.state == "breaching" and st.breach_since is not None]
        return min(due) if due else None

    def blind(self, phase: str | None) -> list[str]:
        """Guards that apply now, have no data, and hold the run for it (`no_data: hold`)."""
        return sorted({
            st.metric for g, st in zip(self.guards, self.status, strict=True)
            if g.no_data == "hold" and st.value is None and (g.phases is None or phase in g.phases)
        })

    def restore(self, journalled: list[dict[str, Any]], ts: float) -> None:
        """Go on from a journalled sample after a restart: a breach keeps the time it has served."""
        for saved in journalled:
            idx = saved.get("index")
            if not isinstance(idx, int) or not 0 <= idx < len(self.status):
                continue
            st = self.status[idx]
            if saved.get("state") in ("breaching", "tripped"):
                st.state = str(saved["state"])
                st.breach_for = float(saved.get("breach_for") or 0.0)
                st.breach_since = ts - st.breach_for

    @staticmethod
    def _clear(st: GuardStatus) -> None:
        st.state, st.breach_since, st.breach_for = "ok", None, 0.0
        st.breach_values.clear()


def _value(reading: Sample | NoData | None, series: str) -> float | None:
    if not isinstance(reading, Sample):
        return None
    v = reading.series.get(series) if series else reading.value
    if v is None or math.isnan(v):
        return None
    return float(v)
