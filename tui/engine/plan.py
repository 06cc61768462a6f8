"""The deploy plan: YAML in, typed objects out, every problem reported as FILE:LINE:COL.

Documented in docs/plan-format.md; that file and these models are one contract.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import math
import re
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml as pyyaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    Tag,
    ValidationError,
    model_validator,
)
from yaml.error import MarkedYAMLError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from backends import registry
from backends.base import BackendConfig
from tui.engine.plandata import (  # noqa: F401 - the rules a screen shares, and the names the engine imports from here
    ACCEPTED_IMPORT_ENV,
    BLUE_WORDS,
    GREEN_WORDS,
    MAX_DURATION_S,
    RUNBOOK_SUFFIXES,
    GuardRules,
    MetricRules,
    format_duration,
    outside_window,
    parse_duration,
    window_bounds,
)
from tui.engine.secrets import mask_plan

Path_ = tuple[str | int, ...]

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


# ---------------------------------------------------------------- errors


@dataclass(frozen=True)
class PlanIssue:
    file: str
    line: int  # 1-based
    col: int  # 1-based
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.file}:{self.line}:{self.col}: {where}{self.message}"


class PlanError(Exception):
    def __init__(self, issues: list[PlanIssue]) -> None:
        seen: set[tuple[str, int, int, str]] = set()  # an accepted review item is read twice: once in review,
        unique = []  # once where it acts; its problem is said once, where it is written
        for i in sorted(issues, key=lambda i: (i.line, i.col, not i.path.startswith("review"), i.path)):
            if (i.file, i.line, i.col, i.message) not in seen:
                seen.add((i.file, i.line, i.col, i.message))
                unique.append(i)
        self.issues = unique
        super().__init__("\n".join(str(i) for i in self.issues))


# ---------------------------------------------------------------- YAML with positions

_YAML11_BOOL = re.compile(r"^(y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$")


MAX_NUMBER_DIGITS = 30
MAX_PLAN_BYTES = 1_000_000


class _Doc:
    """Plain data built from the YAML node tree, with the position of every key and value."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.values: dict[Path_, tuple[int, int]] = {}
        self.keys: dict[Path_, tuple[int, int]] = {}
        self.issues: list[PlanIssue] = []
        self._open: set[int] = set()
        self._count = 0

    def issue(self, pos: tuple[int, int], path: Path_, message: str) -> None:
        self.issues.append(PlanIssue(self.file, pos[0] + 1, pos[1] + 1, dotted(path), message))

    MAX_NODES = 20_000  # a plan of 1,000 phases fits; aliases can expand a small file exponentially

    def build(self, node: Node, path: Path_ = ()) -> Any:
        pos = (node.start_mark.line, node.start_mark.column)
        self.values[path] = pos
        self._count += 1
        if id(node) in self._open or self._count > self.MAX_NODES:
            why = "an alias refers to itself" if id(node) in self._open else "aliases expand too far"
            self.issue(pos, path, f"cannot read this YAML: {why}")
            return None
        if isinstance(node, MappingNode | SequenceNode):
            self._open.add(id(node))
            try:
                return self._collection(node, path)
            finally:
                self._open.discard(id(node))
        assert isinstance(node, ScalarNode)
        return self._scalar(node, path, pos)

    def _collection(self, node: MappingNode | SequenceNode, path: Path_) -> Any:
        if isinstance(node, MappingNode):
            out: dict[Any, Any] = {}
            for knode, vnode in node.value:
                if not isinstance(knode, ScalarNode):
                    self.issue((knode.start_mark.line, knode.start_mark.column), path, "keys must be plain text")
                    continue
                key = knode.value
                kpos = (knode.start_mark.line, knode.start_mark.column)
                if key == "<<":
                    self.issue(kpos, path, "merge keys (<<) are not supported; write the keys out")
                    continue
                if key in out:
                    first = self.keys[(*path, key)]
                    self.issue(kpos, (*path, key), f"duplicate key {key!r} (first defined at line {first[0] + 1})")
                    continue
                self.keys[(*path, key)] = kpos
                out[key] = self.build(vnode, (*path, key))
            return out
        return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]

    def _scalar(self, node: ScalarNode, path: Path_, pos: tuple[int, int]) -> Any:
        tag = str(getattr(node.tag, "value", node.tag))
        text = node.value
        if not node.style and _YAML11_BOOL.match(text):  # plain (libyaml says "", PyYAML None)
            self.issue(
                pos, path, f"{text!r} is a boolean in YAML 1.1 but text in YAML 1.2; quote it or write true/false"
            )
            return text
        if tag.endswith(":null"):
            return None
        if tag.endswith(":bool"):
            return text.lower() == "true"
        if tag.endswith(":int"):
            digits = text.replace("_", "")
            if len(digits) > MAX_NUMBER_DIGITS:
                self.issue(pos, path, f"number with {len(digits)} digits is too large")
                return None
            try:
                return int(digits, 0)
            except ValueError:
                if re.fullmatch(r"0[0-7]+", text):
                    self.issue(pos, path, f"{text!r} looks octal; quote it if it is text")
                    return text
                return int(digits)
        if tag.endswith(":float"):
            value = float(text.replace("_", "").replace(".inf", "inf").replace(".Inf", "inf").replace(".INF", "inf")
                          .replace(".nan", "nan").replace(".NaN", "nan").replace(".NAN", "nan"))
            if not math.isfinite(value):
                self.issue(pos, path, f"{text!r} is not a finite number")
                return None
            return value
        return text


def dotted(path: Iterable[str | int]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def read_text(path: Path) -> tuple[str | None, list[PlanIssue]]:
    """Read a plan or runbook as UTF-8, refusing binary files with a position."""
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        return None, [PlanIssue(name, 1, 1, "", f"cannot read: {e.strerror or e}")]
    if len(raw) > MAX_PLAN_BYTES:
        return None, [PlanIssue(name, 1, 1, "", f"file is {len(raw):,} bytes; a plan or runbook may be at most "
                                                f"{MAX_PLAN_BYTES:,}")]
    if b"\x00" in raw[:8192]:
        return None, [PlanIssue(name, 1, 1, "", "this is a binary file, not a YAML plan")]
    try:
        return raw.decode("utf-8").removeprefix("\ufeff"), []
    except UnicodeDecodeError as e:
        before = raw[: e.start]
        line = before.count(b"\n") + 1
        col = e.start - (before.rfind(b"\n") + 1) + 1
        return None, [PlanIssue(name, line, col, "", f"not valid UTF-8 (byte 0x{raw[e.start]:02x}); save the file as UTF-8")]


class _Core12(getattr(pyyaml, "CSafeLoader", pyyaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's parser (C, fast) with the YAML 1.2 core schema's implicit types.

    PyYAML resolves YAML 1.1 by default, where 22:30 is the integer 1350 and `on` is true; a plan is
    YAML 1.2, so only these plain scalars are typed: true/false, null, integers, floats.
    """

    yaml_implicit_resolvers: dict[Any, Any] = {}


for _tag, _pattern, _first in (
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("int", r"^(?:[-+]?[0-9][0-9_]*|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    ("float", r"^(?:[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?"
              r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", "-+0123456789."),
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
):
    _Core12.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(_pattern), list(_first))


def _too_many_nodes(text: str) -> tuple[int, int] | None:
    """Where a document passes MAX_NODES, found with libyaml's event parser before any node is built:
    a huge plan is refused in well under a second."""
    loader = getattr(pyyaml, "CSafeLoader", pyyaml.SafeLoader)
    count = 0
    try:
        for ev in pyyaml.parse(text, Loader=loader):
            if isinstance(ev, pyyaml.ScalarEvent | pyyaml.CollectionStartEvent | pyyaml.AliasEvent):
                count += 1
                if count > _Doc.MAX_NODES:
                    mark = ev.start_mark
                    return (mark.line, mark.column) if mark is not None else (0, 0)
    except pyyaml.YAMLError:
        return None  # the composer below reports the syntax error with its position
    return None


def parse_yaml(text: str, file: str) -> tuple[Any, _Doc]:
    doc = _Doc(file)
    where = _too_many_nodes(text)
    if where is not None:
        doc.issue(where, (), f"plan too large: more than {_Doc.MAX_NODES:,} YAML nodes")
        return None, doc
    try:
        node = pyyaml.compose(text, Loader=_Core12)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line, mark.column) if mark else (0, 0)
        doc.issue((line, col), (), f"YAML syntax: {e.problem or e.context}")
        return None, doc
    except Exception as e:  # noqa: BLE001 - any parser failure is the user's input, not our crash
        doc.issue((0, 0), (), f"YAML syntax: {e}")
        return None, doc
    if node is None:
        return None, doc
    return doc.build(node), doc


# ---------------------------------------------------------------- loading


def _position(doc: _Doc, loc: Path_, on_key: bool) -> tuple[Path_, tuple[int, int]]:
    """Best position for a pydantic loc: walk to the longest prefix the document has."""
    path = tuple(loc)
    if on_key and path in doc.keys:
        return path, doc.keys[path]
    while path:
        if path in doc.values:
            return path, doc.values[path]
        path = path[:-1]
    return (), doc.values.get((), (0, 0))


def _data_path(loc: Iterable[str | int], data: Any) -> Path_:
    """Drop pydantic's union tags and validator names from a loc, keeping real document keys."""
    out: list[str | int] = []
    cur = data
    for part in loc:
        in_list = isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur)
        if in_list or (isinstance(cur, dict) and part in cur):
            out.append(part)
            cur = cur[part]
        elif isinstance(cur, dict) and part == "for_" and "for" in cur:
            out.append("for")
            cur = cur["for"]
        elif isinstance(part, str) and (part in STEP_KINDS or "[" in part or part.startswith("function")):
            continue
        else:
            out.append(part)
            cur = None
    return tuple(out)


_EXPECTED = {"int_type": "a whole number", "int_parsing": "a whole number", "int_from_float": "a whole number",
             "float_type": "a number", "float_parsing": "a number", "bool_type": "true or false",
             "bool_parsing": "true or false", "string_type": "text", "list_type": "a list", "dict_type": "a map",
             "model_type": "a map", "model_attributes_type": "a map"}


@functools.cache
def _known_keys() -> list[str]:
    """Every key a plan may use, for "did you mean"."""
    keys: set[str] = set()
    seen: set[type[BaseModel]] = set()
    todo: list[Any] = [Plan]
    while todo:
        t = todo.pop()
        if isinstance(t, type) and issubclass(t, BaseModel):
            if t in seen:
                continue
            seen.add(t)
            for name, f in t.model_fields.items():
                keys.add(f.alias or name)
                todo.append(f.annotation)
        else:  # a union, a list, an Annotated: look inside
            todo += list(getattr(t, "__args__", ()))
    return sorted(keys)


def _message(err: Any) -> str:
    kind = err["type"]
    loc = err["loc"]
    if kind == "extra_forbidden":
        near = [k for k in difflib.get_close_matches(str(loc[-1]), _known_keys(), n=3, cutoff=0.7) if k != loc[-1]]
        return f"unknown key {loc[-1]!r}" + (f"; did you mean {near[0]!r}?" if near else "")
    if kind == "missing":
        return f"missing required key {loc[-1]!r}"
    if "shift" in loc and kind.startswith(("int_", "less_than", "greater_than")):
        return f"a shift is a whole percentage from 0 to 100, like `shift: 10`; got {err.get('input')!r}"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {err.get('input')!r}"
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _validation_issues(exc: ValidationError, data: Any, doc: _Doc, prefix: Path_ = ()) -> None:
    for err in exc.errors():
        loc = (*prefix, *_data_path(err["loc"], _get(data, prefix)))
        on_key = err["type"] == "extra_forbidden"
        if err["type"] == "missing":
            loc = loc[:-1]
        path, pos = _position(doc, loc, on_key)
        shown = loc if err["type"] != "missing" else (*loc, err["loc"][-1])
        doc.issue(pos, shown if shown else path, _message(err))


def _get(data: Any, path: Path_) -> Any:
    for p in path:
        data = data[p]
    return data


def _check_backends(plan: Plan, data: dict[str, Any], doc: _Doc) -> dict[str, list[BackendConfig]]:
    """Second stage: each backend entry against its own registered Config model."""
    out: dict[str, list[BackendConfig]] = {}
    sections: list[tuple[str, Path_, BackendEntry]] = [("traffic", ("backends", "traffic"), plan.backends.traffic)]
    if plan.backends.probes is not None:
        sections.append(("probes", ("backends", "probes"), plan.backends.probes))
    for kind in ("metrics", "logs", "notify"):
        for i, entry in enumerate(getattr(plan.backends, kind)):
            sections.append((kind, ("backends", kind, i), entry))
    for kind, path, entry in sections:
        try:
            model = registry.config_model(kind, entry.type)
        except registry.UnknownBackend as e:
            at = (*path, "type")
            doc.issue(doc.values.get(at, _position(doc, at, False)[1]), at, str(e))
            continue
        raw = _get(data, path) if _has(data, path) else {"type": entry.type}
        try:
            out.setdefault(kind, []).append(model.model_validate(raw))
        except ValidationError as e:
            _validation_issues(e, data, doc, path)
    return out


def _has(data: Any, path: Path_) -> bool:
    try:
        _get(data, path)
        return True
    except (KeyError, IndexError, TypeError):
        return False


def _cross_checks(plan: Plan, doc: _Doc) -> None:
    def at(path: Path_, message: str) -> None:
        p, pos = _position(doc, path, False)
        doc.issue(pos, path, message)

    source_names = [backend_name(m) for m in plan.backends.metrics]
    for dup in {n for n in source_names if source_names.count(n) > 1}:
        at(("backends", "metrics"), f"two metrics sources are named {dup!r}; give each a distinct 'name'")
    for name, metric in plan.metrics.items():
        if not source_names:
            at(("metrics", name), "no metrics source: add one under backends.metrics")
        elif metric.source and metric.source not in source_names:
            at(("metrics", name, "source"), f"unknown source {metric.source!r}; sources: {', '.join(source_names)}")
        elif not metric.source and len(source_names) > 1:
            at(("metrics", name), f"say which source: one of {', '.join(source_names)}")
    phase_names = [p.name for p in plan.phases]
    for i, phase in enumerate(plan.phases):
        if phase_names.index(phase.name) != i:
            at(("phases", i, "name"), f"phase name {phase.name!r} is used twice")
    for i, guard in enumerate(plan.guards):
        if guard.metric not in plan.metrics:
            known = ", ".join(plan.metrics) or "none defined"
            at(("guards", i, "metric"), f"guard on undefined metric {guard.metric!r}; metrics: {known}")
        for j, name in enumerate(guard.phases or []):
            if name not in phase_names:
                at(("guards", i, "phases", j), f"no phase named {name!r}")
        if guard.test is not None and guard.for_ < guard.min_samples * plan.settings.sample_interval:
            at(("guards", i, "for"), f"a {guard.test} test judges a window: `for` must hold min_samples "
                                     f"({guard.min_samples}) samples at the sample interval "
                                     f"({format_duration(guard.min_samples * plan.settings.sample_interval)} or more)")
        unit = plan.metrics[guard.metric].unit if guard.metric in plan.metrics else ""
        if not guard.relative and (why := _unreachable(guard.threshold, unit)) is not None:
            at(("guards", i, guard.op), why)


def _unreachable(threshold: float, unit: str) -> str | None:
    """Why a threshold can never be crossed by a metric of this unit (a guard that can never act)."""
    if unit == "ratio" and not 0 <= threshold <= 1:
        hint = f": did you mean {threshold:g}%? write {threshold / 100:g}" if 1 < threshold <= 100 else ""
        return f"{threshold:g} is not a ratio (0 to 1), so this guard can never act{hint}"
    if unit == "percent" and not 0 <= threshold <= 100:
        return f"{threshold:g} is not a percentage (0 to 100), so this guard can never act"
    return None


def window_in_the_past(window: Window | None, now: float) -> str:
    """'' unless the plan's window is dated and already over: a run could never move forward in it."""
    if window is None or len(window.end) <= 5:
        return ""
    _, end = window_bounds(window, now)
    if end > now:
        return ""
    return f"the window ended at {window.end} {window.timezone}: it is wholly in the past"


def _backend_checks(plan: Plan, configs: dict[str, list[BackendConfig]], doc: _Doc) -> None:
    """Steps against what the configured backends can do (a selector switch has no 10%)."""
    traffic = next(iter(configs.get("traffic") or []), None)
    waiters = [e.type for kind in ("traffic", "metrics") for e in _entries(plan, kind)
               if _known(kind, e.type) and hasattr(registry.load(kind, e.type), "wait_ready")]
    for i, phase in enumerate(plan.phases):
        for j, step in enumerate(phase.steps):
            at = ("phases", i, "steps", j)
            if isinstance(step, ShiftStep) and traffic is not None and (err := traffic.shift_error(step.shift)):
                doc.issue(_position(doc, (*at, "shift"), False)[1], (*at, "shift"), err)
            if isinstance(step, WaitStep) and not waiters:
                doc.issue(_position(doc, (*at, "wait"), False)[1], (*at, "wait"),
                          "a wait step needs a backend that can read rollout readiness "
                          "(traffic or metrics of type kubernetes)")


def _entries(plan: Plan, kind: str) -> list[BackendEntry]:
    return [plan.backends.traffic] if kind == "traffic" else list(getattr(plan.backends, kind))


def _known(kind: str, type_name: str) -> bool:
    return type_name in registry.available(kind)


@dataclass(frozen=True)
class LoadedPlan:
    plan: Plan
    path: str
    backends: dict[str, list[BackendConfig]]
    positions: dict[Path_, tuple[int, int]]  # document path -> 0-based (line, col)

    def issue(self, path: Path_, message: str) -> PlanIssue:
        """A problem found after loading (e.g. by a backend), placed at the plan's own line:col."""
        p = tuple(path)
        while p and p not in self.positions:
            p = p[:-1]
        line, col = self.positions.get(p, (0, 0))
        return PlanIssue(self.path, line + 1, col + 1, dotted(path), message)


def load_plan_text(text: str, file: str) -> LoadedPlan:
    data, doc = parse_yaml(text, file)
    if data is None and not doc.issues:
        doc.issue((0, 0), (), "empty plan: expected 'version: 1', a 'name' and 'phases'")
    if doc.issues and data is None:
        raise PlanError(doc.issues)
    if not isinstance(data, dict):
        doc.issue(doc.values.get((), (0, 0)), (), "a plan is a map of keys (version, name, phases, ...)")
        raise PlanError(doc.issues)
    _activate_accepted(data, doc)
    plan: Plan | None = None
    try:
        plan = Plan.model_validate(data)
    except ValidationError as e:
        _validation_issues(e, data, doc)
    if plan is None:
        raise PlanError(doc.issues)
    configs = _check_backends(plan, data, doc)
    _cross_checks(plan, doc)
    _backend_checks(plan, configs, doc)
    if doc.issues:
        raise PlanError(doc.issues)
    return LoadedPlan(plan, file, configs, dict(doc.values))


def _activate_accepted(data: dict[str, Any], doc: _Doc) -> None:
    """A review item a person accepted acts like any other: its guard joins `guards`, its step joins its phase
    where the runbook had it; a problem with either is reported at the review item's own line."""
    review, guards = data.get("review"), data.get("guards", [])
    if not isinstance(review, list) or not isinstance(guards, list):
        return
    guards = data["guards"] = list(guards)
    accepted = [(i, item) for i, item in enumerate(review) if isinstance(item, dict) and item.get("status") == "accepted"]
    for i, item in accepted:
        if isinstance(item.get("guard"), dict):
            _moved(doc, ("review", i, "guard"), ("guards", len(guards)))
            guards.append(item["guard"])
    steps = [(i, item) for i, item in accepted if isinstance(item.get("step"), dict)]
    # Later positions first, so each insertion leaves the positions still to come as the import wrote them.
    phases = data.get("phases")
    if not isinstance(phases, list):
        return
    for i, item in sorted(steps, key=lambda x: (x[1].get("position", 0), x[0]), reverse=True):
        n = next((k for k, ph in enumerate(phases) if isinstance(ph, dict) and ph.get("name") == item.get("phase")),
                 None)
        if n is None:
            doc.issue(doc.values.get(("review", i, "phase"), (0, 0)), ("review", i, "phase"),
                      f"no phase named {item.get('phase')!r} for this accepted step")
            continue
        ph = phases[n] = dict(phases[n])
        ph_steps = ph["steps"] = list(ph.get("steps") or [])
        pos = item.get("position", 0)
        at = min(pos, len(ph_steps)) if isinstance(pos, int) and pos >= 0 else len(ph_steps)
        for j in range(len(ph_steps) - 1, at - 1, -1):  # the steps after it keep their own lines for issues
            _moved(doc, ("phases", n, "steps", j), ("phases", n, "steps", j + 1))
        ph_steps.insert(at, item["step"])
        _moved(doc, ("review", i, "step"), ("phases", n, "steps", at))


def _moved(doc: _Doc, old: Path_, new: Path_) -> None:
    """Issues about the value now at `new` point at where it is written in the file, `old`."""
    for path in list(doc.values):
        if path[:len(new)] == new and path[:len(old)] != old:
            del doc.values[path]
    for path, pos in list(doc.values.items()):
        if path[:len(old)] == old:
            doc.values[(*new, *path[len(old):])] = pos




def load_source(path: str | Path) -> LoadedPlan:
    """A plan, or a Markdown/text runbook imported on the fly (only a runbook pays for the importer)."""
    if str(path).lower().endswith(RUNBOOK_SUFFIXES):
        from tui.engine.runbook import load_runbook

        return load_runbook(path)
    return load_plan(path)


def load_plan(path: str | Path) -> LoadedPlan:
    p = Path(path)
    text, issues = read_text(p)
    if text is None:
        raise PlanError(issues)
    return load_plan_text(text, str(path))
