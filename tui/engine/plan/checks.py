"""The checks a plan passes after its YAML is read: pydantic's errors placed at their line, each backend entry
against its own Config, and what no single model can see (names that must match, thresholds a metric can never
cross, steps a backend cannot do)."""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from backends import registry
from backends.base import BackendConfig
from tui.engine.plan.models import STEP_KINDS, BackendEntry, Plan, ShiftStep, WaitStep, Window, backend_name
from tui.engine.plan.yamldoc import Doc, Path_
from tui.engine.plandata import format_duration, window_bounds


def _position(doc: Doc, loc: Path_, on_key: bool) -> tuple[Path_, tuple[int, int]]:
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


def validation_issues(exc: ValidationError, data: Any, doc: Doc, prefix: Path_ = ()) -> None:
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


def check_backends(plan: Plan, data: dict[str, Any], doc: Doc) -> dict[str, list[BackendConfig]]:
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
            validation_issues(e, data, doc, path)
    return out


def _has(data: Any, path: Path_) -> bool:
    try:
        _get(data, path)
        return True
    except (KeyError, IndexError, TypeError):
        return False


def cross_checks(plan: Plan, doc: Doc) -> None:
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


def backend_checks(plan: Plan, configs: dict[str, list[BackendConfig]], doc: Doc) -> None:
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
