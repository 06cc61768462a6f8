"""Markdown runbook -> plan: a draft a person confirms (docs/runbook-import.md).

One module per stage: read (encoding, Markdown into sections of blocks with their lines), sections (which are
phases, groups, reference), triggers and criteria (guards, and how sure of them the importer is), steps
(checklists, shifts, bakes, gates), commands (shell blocks: runs, scripts, the traffic command), schedule
(times and owners), emit (YAML and summary). An item becomes active only when every part of it was written;
the rest is a review item with its excerpt and why.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

from tui.engine.plan import LoadedPlan, PlanError, PlanIssue, load_plan_text
from tui.engine.runbook import sections
from tui.engine.runbook.criteria import parse_criterion
from tui.engine.runbook.draft import Draft
from tui.engine.runbook.emit import render
from tui.engine.runbook.read import repair_encoding

__all__ = ["ImportResult", "import_runbook", "import_text", "load_runbook", "parse_criterion", "repair_encoding"]


@dataclass
class ImportResult:
    yaml_text: str
    summary: list[str]
    loaded: LoadedPlan
    draft: Draft


def import_text(text: str, file: str) -> ImportResult:
    fixed, repair = repair_encoding(text)
    draft = Draft(fixed, file)
    sections.run(draft)
    yaml_text, summary = render(draft, repair)
    try:
        loaded = load_plan_text(yaml_text, file)
    except PlanError as e:  # an importer bug, but the operator still reads runbook lines, not YAML ones
        raise PlanError([_at_runbook_line(i, yaml_text) for i in e.issues]) from None
    # Findings about the plan (check's warnings, a backend's preflight) point at the runbook's lines.
    lines = _runbook_lines(yaml_text)
    positions = {path: (lines.get(line, 1) - 1, 0) for path, (line, _col) in loaded.positions.items()}
    return ImportResult(yaml_text, summary, dataclasses.replace(loaded, positions=positions), draft)


_SOURCE = re.compile(r"#.*\b(?:runbook )?line (\d+)")


def _runbook_lines(yaml_text: str) -> dict[int, int]:
    """0-based line of the generated YAML -> the runbook line it came from (the nearest one above it)."""
    out, current = {}, 1
    for i, text in enumerate(yaml_text.splitlines()):
        if m := _SOURCE.search(text):
            current = int(m.group(1))
        out[i] = current
    return out


def _at_runbook_line(issue: PlanIssue, yaml_text: str) -> PlanIssue:
    line = _runbook_lines(yaml_text).get(issue.line - 1, 1)
    return dataclasses.replace(issue, line=line, col=1)


def import_runbook(path: str | Path) -> ImportResult:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise PlanError([PlanIssue(str(p), 1, 1, "", f"cannot read: {e.strerror or e}")]) from e
    if b"\x00" in raw[:8192]:
        raise PlanError([PlanIssue(str(p), 1, 1, "", "this is a binary file, not a Markdown runbook")])
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")  # a runbook saved by an old editor; repaired below
    return import_text(text, str(p))


def load_runbook(path: str | Path) -> LoadedPlan:
    return dataclasses.replace(import_runbook(path).loaded, path=str(path))
