"""The plan's models: what each key of a plan may hold. Documented in docs/plan-format.md; that file and these
models are one contract."""

from __future__ import annotations

import hashlib
import json
import math
import re
import zoneinfo
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    Tag,
    model_validator,
)

from tui.engine.plandata import (
    GuardRules,
    MetricRules,
    format_duration,
    parse_duration,
)
from tui.engine.secrets import mask_plan

# ---------------------------------------------------------------- durations

Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(lambda v: format_duration(v, exact=True), return_type=str, when_used="json"),
]


def _clock_time(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", value.strip()):
        raise ValueError(f"expected a clock time like 22:30, got {value!r}")
    return value.strip()


ClockTime = Annotated[str, BeforeValidator(_clock_time)]


def _moment(value: Any) -> str:
    """A window bound: a clock time (22:30) or an ISO date-time (2026-11-22T22:30)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return _clock_time(value)
        except ValueError:
            try:
                datetime.fromisoformat(value.strip())
                return value.strip()
            except ValueError:
                pass
    raise ValueError(f"expected a clock time (22:30) or date-time (2026-11-22T22:30), got {value!r}")


Moment = Annotated[str, BeforeValidator(_moment)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


# ---------------------------------------------------------------- models


class Window(Strict):
    start: Moment
    end: Moment
    timezone: str = "UTC"

    @model_validator(mode="after")
    def _tz(self) -> Window:
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown timezone {self.timezone!r}") from e
        return self


class BackendEntry(BaseModel):
    """Shape common to all backends; the rest is checked against the backend's own Config."""

    model_config = ConfigDict(extra="allow", frozen=True)
    type: str
    name: str = ""


def _default_traffic() -> BackendEntry:
    return BackendEntry(type="simulated")


class Backends(Strict):
    traffic: BackendEntry = Field(default_factory=_default_traffic)
    metrics: list[BackendEntry] = Field(default_factory=list)
    logs: list[BackendEntry] = Field(default_factory=list)
    notify: list[BackendEntry] = Field(default_factory=list)
    probes: BackendEntry | None = None


Unit = Literal["ratio", "percent", "ms", "s", "rps", "bytes", "count", ""]


Side = Literal["green", "blue", "all"]
# Label values that name one side in the queries people write (Flagger's primary/canary, Argo's stable/canary).
class MetricDef(Strict, MetricRules):
    source: str = ""  # name of a metrics backend; may be omitted when there is only one
    query: str = ""  # backend query; defaults to the metric's own name
    unit: Unit = ""
    label: str = ""
    side: Side | None = None  # which side one series measures; None: read from the query's label matchers


def _number(value: Any) -> Any:
    if isinstance(value, bool):  # YAML's true is not 1.0
        raise ValueError(f"expected a number, got {str(value).lower()}")
    return value


Threshold = Annotated[float, BeforeValidator(_number), Field(allow_inf_nan=False)] | None


def _margin(value: Any) -> Any:
    """`by: 20%` (relative to blue) or `by: 50` (in the metric's unit)."""
    if isinstance(value, str) and not re.fullmatch(r"\s*-?\d+(\.\d+)?\s*", value):
        return value.strip()  # a percentage, or words the guard's check names
    return _number(value)


class Guard(Strict, GuardRules):
    metric: str
    above: Threshold = None
    below: Threshold = None
    # A relative guard (a canary judge): green against blue on the same metric, worse by more than `by`.
    worse_than: Literal["blue"] | None = None
    by: Annotated[str | float, BeforeValidator(_margin)] | None = None
    worse: Literal["higher", "lower"] = "higher"  # which way is worse for this metric (latency: higher)
    test: Literal["mann-whitney"] | None = None  # judge the whole window at once, not every sample
    min_samples: int = Field(default=10, ge=3)  # per side, before the test judges
    for_: Duration = Field(default=0.0, alias="for")
    action: Literal["rollback", "pause", "alert"] = "rollback"
    no_data: Literal["hold", "fail", "ignore"] = "hold"
    phases: list[str] | None = None
    series: Side | None = None  # what the guard judges; None: green where the metric has per-colour series

    @model_validator(mode="after")
    def _one_bound(self) -> Guard:
        if (self.above is not None) + (self.below is not None) + (self.worse_than is not None) != 1:
            raise ValueError("a guard needs exactly one of 'above', 'below' or 'worse_than'")
        if self.worse_than is not None and self.by is None:
            raise ValueError("a relative guard needs 'by': how much worse than blue, like 20% or 50")
        if self.worse_than is None and (self.by is not None or self.test is not None):
            raise ValueError("'by' and 'test' belong to a relative guard (worse_than: blue)")
        if isinstance(self.by, str) and not re.fullmatch(r"\d+(\.\d+)?%", self.by):
            raise ValueError(f"by: {self.by!r}: write a percentage like 20%, or an amount in the metric's unit")
        if isinstance(self.by, float) and not (math.isfinite(self.by) and self.by >= 0):
            raise ValueError(f"by: {self.by!r}: how much worse than blue, zero or more")
        return self


def _run_spec(value: Any) -> Any:
    return {"command": value} if isinstance(value, str) else value


class RunSpec(Strict):
    command: str = Field(min_length=1)
    timeout: Duration = 300.0
    manual: bool = False
    description: str = ""
    cwd: str = ""


class ProbeSpec(Strict):
    url: str
    expect_status: int = Field(default=200, ge=100, le=599)
    timeout: Duration = 5.0
    body: str | None = None


class RunStep(Strict):
    run: Annotated[RunSpec, BeforeValidator(_run_spec)]


class ProbeStep(Strict):
    probe: ProbeSpec


def _percent(value: Any) -> Any:
    if isinstance(value, str) and re.fullmatch(r"\s*\d{1,3}\s*%\s*", value):
        return int(value.strip().rstrip("%"))
    return value


class WaitSpec(Strict):
    deployment: str = Field(min_length=1)  # blue, green (the traffic backend's names) or a Deployment
    ready: Annotated[int, BeforeValidator(_percent), Field(ge=1, le=100, strict=True)] = 100
    timeout: Duration = 300.0


class WaitStep(Strict):
    wait: WaitSpec


class ShiftStep(Strict):
    shift: int = Field(ge=0, le=100, strict=True)


class BakeStep(Strict):
    bake: Duration


class GateStep(Strict):
    gate: str = Field(min_length=1)
    four_eyes: bool = False  # approved by someone other than the driver


class NotifyStep(Strict):
    notify: str = Field(min_length=1)


STEP_KINDS = ("run", "probe", "wait", "shift", "bake", "gate", "notify")


def _step_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):  # serialising: the model's one field is its kind
        return next(iter(type(value).model_fields))
    if isinstance(value, dict):
        keys = [k for k in value if k in STEP_KINDS]
        if len(keys) == 1:
            return keys[0]
    return None


Step = Annotated[
    Annotated[RunStep, Tag("run")]
    | Annotated[ProbeStep, Tag("probe")]
    | Annotated[WaitStep, Tag("wait")]
    | Annotated[ShiftStep, Tag("shift")]
    | Annotated[BakeStep, Tag("bake")]
    | Annotated[GateStep, Tag("gate")]
    | Annotated[NotifyStep, Tag("notify")],
    Discriminator(
        _step_kind,
        custom_error_type="step_kind",
        custom_error_message="a step is a map with exactly one of: " + ", ".join(STEP_KINDS),
    ),
]


def _checklist_item(value: Any) -> Any:
    return {"text": value} if isinstance(value, str) else value


class ChecklistItem(Strict):
    text: str = Field(min_length=1)
    done: bool = False


class Phase(Strict):
    name: str = Field(min_length=1)
    owner: str = ""
    start: ClockTime | None = None
    duration: Duration | None = None
    checklist: list[Annotated[ChecklistItem, BeforeValidator(_checklist_item)]] = Field(default_factory=list)
    steps: list[Step] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


def _positive(seconds: float) -> float:
    if seconds < MIN_INTERVAL_S:
        raise ValueError(f"must be at least {format_duration(MIN_INTERVAL_S, exact=True)}")
    return seconds


Interval = Annotated[Duration, AfterValidator(_positive)]
MIN_INTERVAL_S = 0.1


class Settings(Strict):
    sample_interval: Interval = 1.0
    timeout: Interval = 10.0  # per backend call
    # How long a side may carry traffic with its guards' series still empty before they count as blind.
    no_data_grace: Interval | None = None
    hold_limit: Interval = 300.0  # a hold nobody can lift (headless) ends the run after this long
    max_log_lines: int = Field(default=5000, ge=100)
    rollback_by: Literal["anyone", "operators"] = "anyone"  # operators: not from --read-only screens or browsers

    @property
    def grace(self) -> float:
        """no_data_grace, or its default: a minute, or ten samples when they are further apart."""
        return self.no_data_grace if self.no_data_grace is not None else max(60.0, 10 * self.sample_interval)


class ReviewItem(Strict):
    """An imported item the importer was not sure of (docs/runbook-import.md). A guard acts, a step joins its
    phase, only once accepted."""

    line: int = Field(ge=0)  # in the runbook
    kind: Literal["guard", "criterion", "schedule", "step"]
    text: str  # the runbook's words
    why: str = ""  # why the importer did not make it active
    rule: str = ""
    guard: Guard | None = None
    step: Step | None = None  # kind step: joins `phase` before its `position`-th step once accepted
    phase: str = ""
    position: int = Field(default=0, ge=0)
    status: Literal["pending", "accepted", "dropped"] = "pending"
    by: str = ""
    at: str = ""

    @model_validator(mode="after")
    def _step_has_a_phase(self) -> ReviewItem:
        if self.step is not None and not self.phase:
            raise ValueError("a step to review names the phase it would join (phase: …)")
        return self


class Plan(Strict):
    version: Literal[1]
    name: str = Field(min_length=1)
    description: str = ""
    window: Window | None = None
    backends: Backends = Field(default_factory=Backends)
    metrics: dict[str, MetricDef] = Field(default_factory=dict)
    guards: list[Guard] = Field(default_factory=list)
    phases: list[Phase] = Field(min_length=1)
    settings: Settings = Field(default_factory=Settings)
    review: list[ReviewItem] = Field(default_factory=list)

    def pending_review(self) -> list[ReviewItem]:
        return [r for r in self.review if r.status == "pending"]

    def metric_source(self, metric: str) -> str:
        src = self.metrics[metric].source
        if src:
            return src
        return self.backends.metrics[0].name or self.backends.metrics[0].type

    def queries_by_source(self) -> dict[str, dict[str, str]]:
        """metrics source -> {metric name: query}"""
        out: dict[str, dict[str, str]] = {}
        for name, m in self.metrics.items():
            out.setdefault(self.metric_source(name), {})[name] = m.query or name
        return out

    def fingerprint(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:16]

    def screen_data(self) -> dict[str, Any]:
        """What a screen reads (tui.engine.plandata.PlanData): defaults filled in, durations in seconds, notification
        URLs masked."""
        return mask_plan(self.model_dump(by_alias=True))

    def canonical_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True)


def backend_name(entry: BackendEntry) -> str:
    return entry.name or entry.type
