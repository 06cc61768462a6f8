"""The plan as a screen reads it: plain data the engine validated, with no pydantic in the screen's process.

The rules a screen and the engine both apply to a plan (durations, the window, a guard's bound, the side a metric
measures) live here once: the engine's validated models (tui.engine.plan) inherit them, and `PlanData` gives the
same attributes over the dict the engine sends (`Plan.screen_data()`: defaults filled in, durations in seconds,
secrets masked).
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from typing import Any, ClassVar

MAX_DURATION_S = 30 * 86400
RUNBOOK_SUFFIXES = (".md", ".markdown", ".txt")  # imported as a runbook, not read as a plan
ACCEPTED_IMPORT_ENV = "SHIPDECK_ACCEPTED_IMPORT"  # who ran with review items pending (`run --accept-import`)
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$")


def parse_duration(value: Any) -> float:
    """'30s', '5m', '1h30m', '250ms', '7d' -> seconds. Bare numbers are refused: units avoid guesswork."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"expected a duration like 30s, 5m or 1h30m, got {type(value).__name__}")
    if isinstance(value, int | float):
        raise ValueError(f"duration {value!r} has no unit; write it like 30s, 5m or 1h30m")
    text = value.strip()
    m = _DURATION.match(text)
    if not text or not m or not any(m.groups()):
        raise ValueError(f"bad duration {value!r}; write it like 30s, 5m or 1h30m")
    if len(text) > 24:
        raise ValueError(f"duration {value!r} is too long to be meant")
    d, h, mi, s, ms = (int(g) if g else 0 for g in m.groups())
    seconds = d * 86400 + h * 3600 + mi * 60 + s + ms / 1000
    if seconds > MAX_DURATION_S:
        raise ValueError(f"duration {value!r} is over 30 days")
    return seconds


def format_duration(seconds: float, exact: bool = False) -> str:
    """Seconds back to '1h30m'; `exact` keeps milliseconds so the text parses back to the same value."""
    ms = int(round(seconds * 1000))
    whole, frac = divmod(ms, 1000)
    if not exact:
        whole, frac = int(round(seconds)), 0
    h, rem = divmod(whole, 3600)
    m, s = divmod(rem, 60)
    out = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{s}s" if s else "") + (f"{frac}ms" if frac else "")
    return out or "0s"


def window_bounds(window: Any, now: float) -> tuple[float, float]:
    """The window around `now` as (start, end) epoch seconds. Clock times mean the next such window
    (or the current one, if open): 22:00-02:00 crosses midnight."""
    import zoneinfo  # only a plan with a dated window needs the tz database

    tz = zoneinfo.ZoneInfo(window.timezone)
    local = datetime.fromtimestamp(now, tz)

    def at(moment: str) -> datetime:
        if len(moment) <= 5:
            h, m = (int(x) for x in moment.split(":"))
            return local.replace(hour=h, minute=m, second=0, microsecond=0)
        dt = datetime.fromisoformat(moment)
        return dt if dt.tzinfo else dt.replace(tzinfo=tz)

    start, end = at(window.start), at(window.end)
    if len(window.end) <= 5 and end <= start:
        end += timedelta(days=1)
    if len(window.start) <= 5 and local < start - timedelta(hours=12):  # after midnight, in last night's window
        start, end = start - timedelta(days=1), end - timedelta(days=1)
    return start.timestamp(), end.timestamp()


def outside_window(window: Any, now: float) -> str:
    """'' inside the plan's window (or without one), else what the operator needs to read."""
    if window is None:
        return ""
    start, end = window_bounds(window, now)
    if start <= now < end:
        return ""
    when = "opens" if now < start else "closed"
    return f"outside the plan's window {window.start}–{window.end} {window.timezone} ({when})"


GREEN_WORDS = ("green", "canary")
BLUE_WORDS = ("blue", "stable", "primary", "baseline")
_MATCHER = re.compile(r"""\b[A-Za-z_]\w*\s*=~?\s*["']([^"']*)["']""")


class MetricRules:
    """Needs `side` and `query`."""

    side: Any
    query: str

    @property
    def measures(self) -> str:
        """The side this metric's single series measures: `side`, else the one side its label matchers name
        (`colour="green"`, `track="canary"`), else all traffic."""
        if self.side is not None:
            return str(self.side)
        sides = {"green" if v.lower() in GREEN_WORDS else "blue"
                 for v in _MATCHER.findall(self.query) if v.lower() in GREEN_WORDS + BLUE_WORDS}
        return sides.pop() if len(sides) == 1 else "all"


class GuardRules:
    """Needs `above`, `below`, `worse_than`, `by` and `worse`."""

    above: float | None
    below: float | None
    worse_than: str | None
    by: str | float | None
    worse: str

    @property
    def relative(self) -> bool:
        return self.worse_than is not None

    @property
    def op(self) -> str:
        if self.relative:
            return "above" if self.worse == "higher" else "below"
        return "above" if self.above is not None else "below"

    @property
    def threshold(self) -> float:
        """The bound; for a relative guard, its margin (0.2 for 20%, or the amount in the metric's unit)."""
        if self.relative:
            return float(self.by[:-1]) / 100 if isinstance(self.by, str) else float(self.by or 0)
        return self.above if self.above is not None else self.below  # type: ignore[return-value]

    def limit(self, baseline: float) -> float:
        """A relative guard's bound this sample: blue's value made worse by the margin."""
        m = self.threshold
        sign = 1 if self.worse == "higher" else -1
        return baseline * (1 + sign * m) if isinstance(self.by, str) else baseline + sign * m

    def margin_words(self) -> str:
        """'blue +20%', 'blue -5': the rule of a relative guard in a few characters."""
        sign = "+" if self.worse == "higher" else "-"
        return f"{self.worse_than} {sign}{self.by if isinstance(self.by, str) else format(self.threshold, 'g')}"

    def breached(self, value: float, baseline: float | None = None) -> bool:
        bound = self.threshold if not self.relative else self.limit(baseline if baseline is not None else math.nan)
        return value > bound if self.op == "above" else value < bound


class Data:
    """Attribute access over one mapping of the plan's data: `phase.steps[0].shift`. A key the data lacks is an
    AttributeError (a bake step has no `shift`), and `for_` reads `for`, as the models spell it. Views are built
    once, with the plan: a screen reads them on every paint."""

    __slots__ = ("_v",)
    _kinds: ClassVar[dict[str, type[Data]]] = {}  # key -> the view its mapping (or a list's) gets

    def __init__(self, data: dict[str, Any]) -> None:
        self._v = {k: _view(v, self._kinds.get(k, Data)) for k, v in data.items()}

    def __getattr__(self, name: str) -> Any:
        key = name[:-1] if name.endswith("_") and name[:-1] in self._v else name
        try:
            return self._v[key]
        except KeyError:
            raise AttributeError(name) from None


def _view(value: Any, kind: type[Data]) -> Any:
    if isinstance(value, dict):
        return kind(value)
    if isinstance(value, list):
        return [_view(v, kind) for v in value]
    return value


class GuardData(Data, GuardRules):
    __slots__ = ()


class MetricData(Data, MetricRules):
    __slots__ = ()


class MetricsData(Data):
    """`plan.metrics`: metric name -> its definition, as a mapping (names need not be identifiers)."""

    __slots__ = ()

    def __init__(self, data: dict[str, Any]) -> None:
        self._v = {name: MetricData(m) for name, m in data.items()}

    def __getitem__(self, name: str) -> MetricData:
        return self._v[name]

    def __contains__(self, name: object) -> bool:
        return name in self._v

    def __iter__(self) -> Any:
        return iter(self._v)

    def __len__(self) -> int:
        return len(self._v)

    def items(self) -> list[tuple[str, MetricData]]:
        return list(self._v.items())


class PlanData(Data):
    """The plan a screen shows: `PlanData(plan.screen_data())`, on either side of the engine's socket."""

    __slots__ = ()
    _kinds = {"guards": GuardData, "metrics": MetricsData}
