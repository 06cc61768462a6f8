"""Stage 2, sections: which sections are phases, which are groups, which are reference; a phase's text."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from tui.engine.runbook import commands, schedule, steps, triggers
from tui.engine.runbook.draft import Draft, PhaseOut, StepOut
from tui.engine.runbook.read import Section
from tui.engine.runbook.words import (
    ACCEPTANCE_TITLE,
    FAULT_DRILL,
    NOT_STEPS_TITLE,
    OPTION_TITLE,
    OPTIONAL_TITLE,
    PERCENT_FLAG,
    PERCENT_PROSE,
    PHASE_HEADING,
    RECORD_TITLE,
    REFERENCE_TITLE,
    SHELL_LANGS,
    TARGET_FLAG,
    TIME_RANGE,
    TRAFFIC_WORDS,
    WAIT_TEXT,
    clean_title,
    contingent,
    fold,
    quoted,
)


def run(d: Draft) -> None:
    loose(d, d.root)  # text before the first heading
    tops = d.root.children
    title = ""
    if len(tops) == 1 and tops[0].level == 1:
        title = tops[0].title
        loose(d, tops[0], heading=False)
        tops = tops[0].children
    d.name = clean_title(title) if title else Path(d.file).stem
    everything = [s for t in tops for s in t.walk() if not reference(s)]
    explicit = [s for s in everything if PHASE_HEADING.match(clean_title(s.title)) or PHASE_HEADING.match(s.title)]
    d.phase_level = min((s.level for s in explicit), default=0)
    for sec in tops:
        visit(d, sec, explicit)
    if not d.phases:
        d.phases.append(PhaseOut(d.name, 1))
    unique_names(d)
    first = d.phases[0]
    first.notes = d.loose_notes + first.notes
    schedule.apply_schedule(d)
    triggers.place_gates(d)


def unique_names(d: Draft) -> None:
    """'Backend › Deploy' and 'Frontend › Deploy', not two phases called 'Deploy'; the line if still not."""
    counts = Counter(p.name for p in d.phases)
    for ph in d.phases:
        if counts[ph.name] > 1 and (parent := d.parents.get(id(ph))):
            ph.name = f"{parent} › {ph.name}"
    counts = Counter(p.name for p in d.phases)
    for ph in d.phases:
        if counts[ph.name] > 1:
            ph.name = f"{ph.name} (line {ph.line})"


def reference(sec: Section) -> bool:
    """The whole title names reference material ('Rollback procedure', 'Contatos'), or its head word is undoing
    ('Paso 4.1: Rollback en Vercel'), or it tries the safety net ('Simulated failure test'), or it holds messages
    and controls to use if needed ('Manual override', 'Status update template'), or records what was done
    ('Comando executado', 'Evidence', 'Current status'): 'Rollback
    rehearsal in staging' or 'Reverse proxy cutover' are work."""
    title = re.sub(r"\s*\(.*?\)\s*", " ", fold(clean_title(sec.title))).strip()
    return bool(REFERENCE_TITLE.match(title) or FAULT_DRILL.search(title) or NOT_STEPS_TITLE.search(title)
                or RECORD_TITLE.search(title)) or contingent(sec.title)


def visit(d: Draft, sec: Section, explicit: list[Section]) -> None:
    if reference(sec):
        reference_section(d, sec)
    elif explicit:
        if sec in explicit and sec.level == d.phase_level:
            phase(d, sec)
        elif any(e in explicit for e in sec.walk()[1:]):  # a group of phases
            loose(d, sec)
            for child in sec.children:
                visit(d, child, explicit)
        elif any(holds_work(s) for s in sec.walk() if not reference(s)):
            phase(d, sec)  # work outside the named phases is a phase of its own, never dropped
        else:
            for s in sec.walk():
                reference_section(d, s, recurse=False) if reference(s) else loose(d, s)
    elif holds_work(sec):
        phase(d, sec)  # the level that directly holds the work; its subsections are groups
    else:
        loose(d, sec)  # a group: its children may be phases
        for child in sec.children:
            visit(d, child, explicit)


def holds_work(sec: Section) -> bool:
    """Checkboxes, shell commands, a numbered procedure, traffic moves or waits directly in it, or a choice
    between alternatives (Option A / Option B) as its subsections."""
    if sum(bool(OPTION_TITLE.match(fold(clean_title(c.title)))) for c in sec.children) >= 2:
        return True
    if ACCEPTANCE_TITLE.search(fold(sec.title)) and not any(b.checked is not None for b in sec.blocks):
        return False
    for b in sec.blocks:
        if b.kind == "item" and (b.checked is not None or b.ordered):
            return True
        if b.kind == "fence" and b.lang in SHELL_LANGS - {""} and not steps.expected_output(sec, b) and \
                commands.holds_commands(b):
            return True
        if b.kind in ("item", "para") and (PERCENT_PROSE.search(b.text) or WAIT_TEXT.search(b.text)):
            return True
        if steps.bold_stage(b):
            return True
    return False


def notes(sec: Section, target: list[str], heading: bool = False) -> None:
    if heading and sec.title:
        target.append(f"[{clean_title(sec.title)}]")
    for b in sec.blocks:
        if b.kind == "table":
            target += [" | ".join(r) for r in b.rows]
        elif b.kind == "fence":
            target += quoted(b.text.splitlines())
        elif b.text:
            target.append(("  " * b.depth + "- " if b.kind == "item" else "") + b.text)


def notes_target(d: Draft) -> list[str]:
    return d.phases[-1].notes if d.phases else d.loose_notes


def loose(d: Draft, sec: Section, heading: bool = True) -> None:
    """A section that is not a phase: schedule tables, criteria, and its text as notes."""
    schedule.collect_tables(d, sec)
    triggers.scan_criteria(d, sec)
    notes(sec, d.notes_target(), heading=heading)


def phase(d: Draft, sec: Section) -> None:
    optional = " (optional)" if OPTIONAL_TITLE.search(fold(sec.title)) else ""
    ph = PhaseOut(clean_title(sec.title) + optional, sec.line)
    if m := TIME_RANGE.search(sec.title):
        h1, m1, h2, m2 = (int(x) for x in m.groups())
        ph.start = f"{h1:02d}:{m1:02d}"
        ph.duration = ((h2 * 60 + m2) - (h1 * 60 + m1)) % (24 * 60) * 60 or None
    d.phases.append(ph)
    if sec.parent is not None and sec.parent.title:
        d.parents[id(ph)] = clean_title(sec.parent.title)
    steps.content(d, sec, ph, group="")
    options = [c for c in sec.children if OPTION_TITLE.match(fold(clean_title(c.title)))]
    if len(options) >= 2:  # alternatives: one is done, not all in a row
        names = " / ".join(clean_title(o.title) for o in options)
        ph.steps.append(StepOut("gate", f"Choose one and do it (its steps are in the notes): {names} — done?",
                                names, options[0].line, "alternatives: one is chosen"))
        d.count("choices between alternatives")
    for child in sec.children:
        for s in child.walk():
            if reference(s):
                reference_section(d, s, recurse=False)
            elif any(o in s.ancestors() or o is s for o in options):
                ph.notes.append(f"[{clean_title(s.title)}] (one of the alternatives)")
                notes(s, ph.notes)
            else:
                steps.content(d, s, ph, group=clean_title(s.title))


def reference_section(d: Draft, sec: Section, recurse: bool = True) -> None:
    """Rollback, emergency, contacts, appendix: notes for the operator, criteria become guards."""
    for s in sec.walk() if recurse else [sec]:
        target = d.notes_target()
        target.append(f"[{clean_title(s.title)}] (reference, not run as steps)")
        schedule.collect_tables(d, s)
        triggers.scan_criteria(d, s)
        for b in s.blocks:
            if b.kind == "fence":
                for ln in b.text.splitlines():
                    if (m := PERCENT_FLAG.search(ln)) and TRAFFIC_WORDS.search(ln) and not d.rollback_command:
                        t = TARGET_FLAG.search(ln)
                        if t and t.group(2).lower() == "blue" and m.group(2) == "100":
                            d.rollback_command = ln.strip()
        notes(s, target)
