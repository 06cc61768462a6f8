"""What the importer has made of the runbook so far: the plan's phases, guards and steps, each with the line
and the rule that made it, and the review items it was not sure enough to make active."""

from __future__ import annotations

from dataclasses import dataclass, field

from tui.engine.runbook.criteria import GuardOut
from tui.engine.runbook.read import Section, parse_sections


@dataclass
class StepOut:
    kind: str  # run | shift | bake | gate
    value: str | int | float
    description: str = ""
    line: int = 0
    rule: str = ""
    review: str = ""  # why the importer is not sure of it: then it waits in review, not in the phase


@dataclass
class PhaseOut:
    name: str
    line: int
    owner: str = ""
    start: str = ""
    duration: float | None = None
    checklist: list[tuple[str, bool]] = field(default_factory=list)
    steps: list[StepOut] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stay: tuple[float, str, int] | None = None  # "Duration: 24 hours" of a stage: how long its shift holds


@dataclass
class Review:
    """Something the importer read but is not sure of: a person accepts, edits or drops it before it acts."""

    line: int
    kind: str  # guard: a measurable criterion; criterion: one it could not read; schedule: an unmatched row;
    # step: a command, shift or bake it is not sure belongs to the night
    why: str  # why it is not active
    excerpt: str  # the runbook's words
    rule: str = ""
    guard: GuardOut | None = None  # what the importer thinks it is, when it has a guess
    step: StepOut | None = None
    phase: PhaseOut | None = None  # where the step would go, in place among the phase's steps


class Draft:
    def __init__(self, text: str, file: str) -> None:
        self.file = file
        self.name = ""
        self.root: Section = parse_sections(text)
        self.phases: list[PhaseOut] = []
        self.guards: list[GuardOut] = []
        self.gates: list[tuple[str, int]] = []
        self.schedule: list[dict[str, str]] = []
        self.loose_notes: list[str] = []
        self.counts: dict[str, int] = {}
        self.review: list[Review] = []
        self.traffic_template = ""
        self.rollback_command = ""
        self.phase_level = 0
        self.parents: dict[int, str] = {}  # id(phase) -> the title of the section above it

    def count(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n

    def uncertain(self, ph: PhaseOut, step: StepOut, why: str) -> None:
        """A step that waits in review where it stands in its phase: accepted, it joins the phase there."""
        step.review = why
        ph.steps.append(step)
        excerpt = str(step.value).splitlines()[0][:200] if step.kind == "run" else step.description
        self.review.append(Review(step.line, "step", why, excerpt, step.rule, step=step, phase=ph))
        self.count(f"{step.kind} steps in review")

    def notes_target(self) -> list[str]:
        return self.phases[-1].notes if self.phases else self.loose_notes
