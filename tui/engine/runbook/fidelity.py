"""How faithful an import is: the importer's items against a person's expected-outcome table.

Beside each `NAME.md` lies `NAME.expected.md`, a Markdown table `| line | kind | expect |` of what a careful
person makes of the runbook (docs/runbook-import.md, "Measuring an import"):
- guard: `METRIC OP VALUE WINDOW ACTION` (METRIC `*`: any name), a trigger with every part written;
- criterion: a measurable line that must not act on its own (a goal, no duration, relative): review;
- shift / bake: a percentage / seconds; run: a command (`script` for a whole block, at its fence's line);
- review: a step the importer must hold for a person (`run`, `shift` or `bake`), never active, never lost.

Wrong is worse than missing: an active item that matches no row is counted against the importer, and so is
a guard or criterion row that is neither active nor in review, and a review row not held for review.

    python -m tui.engine.runbook.fidelity DIR   (make import-fidelity DIR=...)
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tui.engine.runbook import import_runbook
from tui.engine.runbook.read import parse_sections

ACTIVE_KINDS = ("guard", "shift", "bake", "run")


@dataclass
class Score:
    name: str
    expected: Counter[str] = field(default_factory=Counter)  # active rows by kind
    correct: Counter[str] = field(default_factory=Counter)
    produced: Counter[str] = field(default_factory=Counter)
    wrong: list[str] = field(default_factory=list)  # active items no row asks for
    dropped: list[str] = field(default_factory=list)  # criterion lines neither active nor in review
    in_review: int = 0

    def add(self, other: Score) -> None:
        for mine, theirs in ((self.expected, other.expected), (self.correct, other.correct),
                             (self.produced, other.produced)):
            mine.update(theirs)
        self.wrong += [f"{other.name}: {w}" for w in other.wrong]
        self.dropped += [f"{other.name}: {d}" for d in other.dropped]
        self.in_review += other.in_review

    @property
    def precision(self) -> float:
        total = sum(self.produced.values())
        return sum(self.correct.values()) / total if total else 1.0

    @property
    def recall(self) -> float:
        total = sum(self.expected.values())
        return sum(self.correct.values()) / total if total else 1.0

    def wrong_of(self, kind: str) -> int:
        return sum(1 for w in self.wrong if w.split("line ")[-1].split(" ", 1)[-1].startswith(kind))


def expected_rows(path: Path) -> list[tuple[int, str, str]]:
    """(line, kind, expect) of every row of the table in an expected-outcome file."""
    rows = []
    for sec in parse_sections(path.read_text(encoding="utf-8")).walk():
        for b in sec.blocks:
            if b.kind != "table" or [c.lower() for c in b.rows[0][:2]] != ["line", "kind"]:
                continue
            for r, line in zip(b.rows[1:], b.row_lines[1:], strict=True):
                if len(r) < 3 or not r[0].strip().isdigit():
                    raise ValueError(f"{path}:{line}: a row needs | line | kind | expect |, got {r}")
                rows.append((int(r[0]), r[1].strip().lower(), r[2].strip().strip("`")))
    return rows


def _same_guard(expect: str, g: object) -> bool:
    parts = expect.split()
    if len(parts) != 5:
        return False
    metric, op, value, window, action = parts
    return ((metric == "*" or metric == g.metric) and op == g.op and action == g.action  # type: ignore[attr-defined]
            and math.isclose(float(value), g.value, rel_tol=1e-6)  # type: ignore[attr-defined]
            and g.window is not None and math.isclose(float(window), g.window))  # type: ignore[attr-defined]


def score(runbook: Path, expected: Path) -> Score:
    draft = import_runbook(runbook).draft
    rows = expected_rows(expected)
    s = Score(runbook.name)
    s.expected.update(k for _, k, _ in rows if k in ACTIVE_KINDS)
    unused = list(rows)
    headings = sorted(sec.line for sec in draft.root.walk() if sec.title)

    def section(line: int) -> int:
        return max((h for h in headings if h <= line), default=0)

    def take(line: int, kind: str, ok: object) -> bool:
        # A stage's move is one move whether read from its heading ("Canary 5% (30 min)") or from the item
        # under it that states it ("Load balancer set to 5%"): a shift or bake may match in its section.
        for exact in (True, False):
            for row in unused:
                near = row[0] == line if exact else kind in ("shift", "bake") and section(row[0]) == section(line)
                if near and row[1] == kind and ok(row[2]):  # type: ignore[operator]
                    unused.remove(row)
                    return True
        return False

    for g in draft.guards:
        s.produced["guard"] += 1
        if take(g.line, "guard", lambda e, g=g: _same_guard(e, g)):
            s.correct["guard"] += 1
        else:
            s.wrong.append(f"line {g.line} guard {g.metric} {g.op} {g.value:g} for {g.window} {g.action}")
    for ph in draft.phases:
        for st in ph.steps:
            if st.kind not in ACTIVE_KINDS or st.review:
                continue
            s.produced[st.kind] += 1
            value = st.value
            if take(st.line, st.kind, lambda e, k=st.kind, v=value: k == "run" or math.isclose(float(e), float(v))):
                s.correct[st.kind] += 1
            else:
                s.wrong.append(f"line {st.line} {st.kind} {str(value).splitlines()[0][:60]}")
    reviewed = {r.line for r in draft.review} | {line for _, line in draft.gates}
    held = {(r.line, r.step.kind) for r in draft.review if r.step is not None}
    s.in_review = len(draft.review)
    for line, kind, expect in rows:
        if kind in ("guard", "criterion") and line not in reviewed and not any(g.line == line for g in draft.guards):
            s.dropped.append(f"line {line} {kind} {expect}")
        elif kind == "review" and (line, expect) not in held:
            s.dropped.append(f"line {line} {kind} {expect}: not held for review")
    return s


def score_folder(folder: Path) -> tuple[list[Score], Score]:
    scores = [score(md, md.with_suffix(".expected.md")) for md in sorted(folder.glob("*.md"))
              if not md.name.endswith(".expected.md") and md.with_suffix(".expected.md").exists()]
    total = Score("all")
    for s in scores:
        total.add(s)
    return scores, total


def report(scores: list[Score], total: Score) -> list[str]:
    out = [f"{'runbook':40} {'precision':>9} {'recall':>6} {'wrong':>5} {'dropped':>7} {'review':>6}"]
    for s in [*scores, total]:
        out.append(f"{s.name[:40]:40} {s.precision:9.0%} {s.recall:6.0%} {len(s.wrong):5} {len(s.dropped):7} "
                   f"{s.in_review:6}")
    for kind in ACTIVE_KINDS:
        out.append(f"  {kind:9} expected {total.expected[kind]:4}  produced {total.produced[kind]:4}  "
                   f"correct {total.correct[kind]:4}")
    out += [f"  wrong: {w}" for w in total.wrong] + [f"  dropped: {d}" for d in total.dropped]
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print("usage: python -m tui.engine.runbook.fidelity DIR  (runbooks NAME.md beside NAME.expected.md)",
              file=sys.stderr)
        return 2
    scores, total = score_folder(Path(argv[0]))
    if not scores:
        print(f"{argv[0]}: no NAME.md with a NAME.expected.md beside it", file=sys.stderr)
        return 2
    print("\n".join(report(scores, total)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
