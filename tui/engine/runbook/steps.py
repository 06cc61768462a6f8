"""Stage 4, steps: a phase's blocks -> checklist, shifts, bakes and gates (shell blocks go to commands); what is
not a step stays a note."""

from __future__ import annotations

import re

from tui.engine.runbook import commands, schedule, triggers
from tui.engine.runbook.criteria import CRITERION, data_rows, relative, sentences
from tui.engine.runbook.draft import Draft, PhaseOut, StepOut
from tui.engine.runbook.read import Block, Section
from tui.engine.runbook.words import (
    ARROW,
    BARE_PERCENT,
    EXPECTED_TEXT,
    HEADING_PERCENT,
    HEADING_SPAN,
    HEADING_TRAFFIC,
    HOLD_FOR,
    NOT_STEPS_TITLE,
    OPTIONAL_TITLE,
    OUTPUT_LANGS,
    PERCENT_PROSE,
    REPORT_TEXT,
    SHELL_LANGS,
    STAGE_DURATION,
    WAIT_TEXT,
    clean_title,
    fold,
    plain,
    quoted,
    seconds_of,
)


def content(d: Draft, sec: Section, ph: PhaseOut, group: str) -> None:
    if any(NOT_STEPS_TITLE.search(fold(clean_title(s.title))) for s in [sec, *sec.ancestors()] if s.title):
        # Messages to send and controls to use if needed are reference for the night, not its steps.
        ph.notes.append(f"({clean_title(sec.title)}: kept as notes, not steps)")
        for b in sec.blocks:
            ph.notes += [" | ".join(r) for r in b.rows] if b.kind == "table" else [
                ln.rstrip() for ln in b.text.splitlines() if ln.strip()]
        d.count("sections of messages or controls kept as notes")
        return
    schedules = schedule.collect_tables(d, sec)
    listed, heading_action = triggers.criteria_context(sec)
    optional = bool(OPTIONAL_TITLE.search(fold(sec.title))) and bool(group)
    prefix = f"[{group}] " if group else ""
    if optional:
        prefix += "(optional) "
    if group:
        ph.notes.append(f"— {group}" + (" (optional)" if optional else ""))
    if not listed:
        heading_steps(d, clean_title(sec.title), sec.line, ph)
    lead: str | None = None  # "rollback is triggered if any of the following occur:": the list after it
    window = ""
    for b in sec.blocks:
        if b.kind == "item" and lead is not None:
            if not triggers.criterion(d, triggers.under_lead(b.text, window), b.line, True, lead, False):
                ph.notes.append(("  " * b.depth + "- ") + b.text)
            continue
        lead, window = triggers.lead_in(b), triggers.lead_window(b)
        if b.kind == "fence":
            if listed and b.lang in SHELL_LANGS:  # commands under "Rollback triggers": controls, not the procedure
                ph.notes.append(f"(commands under a criteria heading kept as notes, not steps: {clean_title(sec.title)})")
                ph.notes += quoted(b.text.splitlines())
                d.count("command blocks under criteria headings kept as notes")
                continue
            if expected_output(sec, b):
                triggers.config_thresholds(d, b)
                ph.notes.append("expected output:")
                ph.notes += quoted(b.text.splitlines())
                d.count("expected-output blocks kept as notes")
            else:
                commands.fence(d, b, ph, "(optional) " if optional else "", condition=commands.said_before(sec, b))
            continue
        if b.kind == "table":
            if id(b) not in schedules:
                used = [triggers.criterion(d, text, line, listed, heading_action, loose)
                        for text, line, loose in data_rows(b)]
                if not any(used):
                    ph.notes += [" | ".join(r) for r in b.rows]
            continue
        if b.kind == "html" or not b.text:
            continue
        if bold_stage(b):  # "**Day 8: 5%**" on a line of its own: a stage's heading written in bold
            hold_stage(d, ph)
            heading_steps(d, plain(b.text).rstrip(":").strip(), b.line, ph)
            continue
        if b.kind == "para":
            for line, sentence in sentences(b):
                if triggers.criterion(d, sentence, line, listed, heading_action, False):
                    ph.notes.append(plain(sentence))
                elif not prose_step(d, sentence, ph, ordered=False, line=line):
                    ph.notes.append(sentence)
            continue
        # "[ ] Error rate < 1%" in a checklist is a state to verify, a goal, unless a heading says otherwise
        box = b.kind == "item" and b.checked is not None and not listed and heading_action is None
        if triggers.criterion(d, b.text, b.line, listed, triggers.GOALS if box else heading_action, False):
            ph.notes.append(plain(b.text))
            continue
        if b.kind == "item" and b.checked is not None:
            if not prose_step(d, b.text, ph, ordered=False, line=b.line):  # "[ ] Switch 20% of traffic"
                ph.checklist.append((prefix + b.text, b.checked))
                d.count("checklist items")
        elif b.kind == "item" and b.ordered:
            prose_step(d, b.text, ph, ordered=True, line=b.line)
        elif not prose_step(d, b.text, ph, ordered=False, line=b.line):
            ph.notes.append(("  " * b.depth + "- " if b.kind == "item" else "") + b.text)
    hold_stage(d, ph)


def heading_steps(d: Draft, title: str, line: int, ph: PhaseOut) -> bool:
    """A stage's heading that moves traffic ("Fase 1: Canary 5% (30 min)", "Increase to 25%") shifts as the
    stage begins, and its span holds that weight; a heading that waits ("Monitorar por 30 min") bakes."""
    if not title or REPORT_TEXT.search(title) or CRITERION.match(title) or relative(title):
        return False
    m = HEADING_PERCENT.search(title)
    if m and HEADING_TRAFFIC.search(title) and 0 <= int(m.group(1)) <= 100:
        add_shift(d, ph, StepOut("shift", int(m.group(1)), title, line, "a percentage in a stage's heading"))
        if span := HEADING_SPAN.search(title):  # the stage's planned length; its weight holds that long
            ph.stay = (seconds_of(span.group(1), span.group(2)), title, line)
            ph.duration = ph.duration or ph.stay[0]
        return True
    if WAIT_TEXT.search(title) and not m:
        return prose_step(d, title, ph, ordered=False, line=line)
    return False


def hold_stage(d: Draft, ph: PhaseOut) -> None:
    """A stage that shifts and lasts N ("Duration: 24 hours") holds its weight for N before the next one."""
    last = max((i for i, st in enumerate(ph.steps) if st.kind == "shift" and not st.review), default=None)
    if ph.stay is not None and last is not None and not any(st.kind == "bake" for st in ph.steps[last:]):
        seconds, said, line = ph.stay
        ph.steps.append(StepOut("bake", seconds, said, line, "a stage's duration after its shift"))
        d.count("bake steps")
    ph.stay = None


BOLD_LINE = re.compile(r"(\*\*|__)([^*_\n]+)\1:?")


def bold_stage(b: Block) -> bool:
    """"**Day 8: 5%**" alone on its line: a stage's heading written in bold, with the traffic it moves to."""
    bold = BOLD_LINE.fullmatch(b.text.strip()) if b.kind == "para" else None
    return bool(bold and HEADING_PERCENT.search(bold.group(2)) and HEADING_TRAFFIC.search(bold.group(2)))


def traffic_now(d: Draft) -> int | float | str:
    """Where the plan's traffic stands after the steps read so far (0 before any shift)."""
    return next((s.value for p in reversed(d.phases) for s in reversed(p.steps) if s.kind == "shift" and not s.review),
                0)


def add_shift(d: Draft, ph: PhaseOut, step: StepOut) -> None:
    """A shift to where the traffic already goes ("Canary 5%" then "[ ] balancer set to 5%") is the same move:
    the later words (a command, a checklist item) describe it, never move it twice."""
    last = next((s for s in reversed(ph.steps) if s.kind in ("shift", "bake") and not s.review), None)
    if last is not None and last.kind == "shift" and last.value == step.value:
        # The line that says how (a stage's "Target: 5%", its command) is the step's source, the heading its context.
        last.description, last.line, last.rule = f"{last.description}; {step.description}"[:300], step.line, step.rule
        return
    now = traffic_now(d)  # "Fase 0: rollout 0%" before anything moved; "Execução: rollout 1%" after the 1% stage
    if step.value == now:
        ph.notes.append(f"{step.description} (traffic is already at {now}%: nothing to shift)")
        return
    ph.steps.append(step)
    d.count("shift steps")


def expected_output(sec: Section, b: Block) -> bool:
    if b.lang in OUTPUT_LANGS:
        return True
    i = sec.blocks.index(b)
    before = sec.blocks[i - 1] if i else None
    return before is not None and before.kind == "para" and bool(EXPECTED_TEXT.search(fold(before.text)))


def prose_step(d: Draft, text: str, ph: PhaseOut, ordered: bool, line: int) -> bool:
    said = plain(text)
    if REPORT_TEXT.search(said):  # "HH:MM: 10% of traffic shifted": a message to send, not a step to take
        return False
    if chain(d, said, ph, line):
        return True
    if m := STAGE_DURATION.match(said):
        ph.stay = (seconds_of(m.group(1), m.group(2)), said, line)
        ph.notes.append(said)
        return True
    if (m := PERCENT_PROSE.search(said)) and described(said, m.start()):
        m = None  # "It ships the release and routes 5% of traffic": what a tool does by itself, not a shift
    if m:
        pct = int(next(g for g in m.groups() if g))
        if 0 <= pct <= 100:
            add_shift(d, ph, StepOut("shift", pct, said, line, "a percentage of traffic in a procedure"))
            if hold := HOLD_FOR.match(said, m.end()):  # "10% traffic for 30 minutes": the weight holds that long
                ph.steps.append(StepOut("bake", seconds_of(hold.group(1), hold.group(2)), said, line,
                                        "a stage's time at its weight"))
                d.count("bake steps")
            return True
    if (m := WAIT_TEXT.search(said)) and re.match(r"monitor|observ|watch|vigiar|acompanhar", m.group(1), re.I) and (
            traffic_now(d) == 100 or re.search(r"\b(first|primeir\w*|primer\w*|premi[eè]res?)\b", said, re.I)):
        # "continue monitoring for 7 days" once all traffic moved (a timeline restating the stages comes after
        # them), "monitoring the first 72 hours" after the release: after the night, not in it
        ph.notes.append(said)
        return True
    if m:
        ph.steps.append(StepOut("bake", seconds_of(m.group(2), m.group(3)), said, line, "a wait in a procedure"))
        d.count("bake steps")
        return True
    if ordered:
        ph.steps.append(StepOut("gate", f"Done: {said}?", said, line, "a numbered procedure item"))
        d.count("gate steps (procedure items)")
        return True
    return False


DESCRIPTION = re.compile(r"(it|this|that|which|the (workflow|pipeline|job|script|system|tool|action|controller)|"
                         r"o (workflow|pipeline|sistema|script)|el (workflow|pipeline|sistema|script)|ele|ela|"
                         r"isso|esto|il|elle)\b|.*\b(automatic(ally)?|automaticamente|autom[aá]tic[oa]|"
                         r"automatiquement)\b", re.I)


def described(text: str, at: int) -> bool:
    """The sentence around `at` says what a tool does by itself ("It routes 5% of traffic"), not what to do."""
    start = max((m.end() for m in re.finditer(r"[.;!?]\s+", text[:at])), default=0)
    return bool(DESCRIPTION.match(text[start:].lstrip(" *_`")))


def chain(d: Draft, plain: str, ph: PhaseOut, line: int) -> bool:
    """'10% traffic → wait 2 minutes → 50% → wait 5 minutes → 100%': each link a step, in order. After a shift
    in the chain, a bare percentage is the next shift. A chain with a link that is neither stays whole."""
    links = [x.strip(" .;") for x in ARROW.split(plain)]
    if len(links) < 2:
        return False
    steps: list[StepOut] = []
    for link in links:
        shifted = any(st.kind == "shift" for st in steps)
        if (m := PERCENT_PROSE.search(link)) or (shifted and (m := BARE_PERCENT.fullmatch(link))):
            pct = int(next(g for g in m.groups() if g))
            if pct > 100:
                return False
            steps.append(StepOut("shift", pct, link, line, "a link of an arrow chain"))
        elif m := WAIT_TEXT.search(link):
            steps.append(StepOut("bake", seconds_of(m.group(2), m.group(3)), link, line, "a link of an arrow chain"))
        else:
            return False
    if not any(st.kind == "shift" for st in steps):
        return False
    ph.steps += steps
    for st in steps:
        d.count("shift steps" if st.kind == "shift" else "bake steps")
    return True
