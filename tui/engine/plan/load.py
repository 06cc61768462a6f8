"""Loading a plan: read, check, and either a LoadedPlan or a PlanError with every problem found."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from backends.base import BackendConfig
from tui.engine.plan.checks import backend_checks, check_backends, cross_checks, validation_issues
from tui.engine.plan.models import Plan
from tui.engine.plan.yamldoc import Doc, Path_, PlanError, PlanIssue, dotted, parse_yaml, read_text
from tui.engine.plandata import RUNBOOK_SUFFIXES


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
        validation_issues(e, data, doc)
    if plan is None:
        raise PlanError(doc.issues)
    configs = check_backends(plan, data, doc)
    cross_checks(plan, doc)
    backend_checks(plan, configs, doc)
    if doc.issues:
        raise PlanError(doc.issues)
    return LoadedPlan(plan, file, configs, dict(doc.values))


def _activate_accepted(data: dict[str, Any], doc: Doc) -> None:
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


def _moved(doc: Doc, old: Path_, new: Path_) -> None:
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
