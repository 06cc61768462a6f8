"""Stage 3, triggers: where criteria are triggers, which action they ask for, and whether the importer is
sure enough of a guard to make it active."""

from __future__ import annotations

import re

from tui.engine.runbook.criteria import (
    ABOVE,
    BELOW,
    CONDITION,
    FOR_TEXT,
    WORSE,
    GuardOut,
    action_of,
    data_rows,
    is_sentence,
    parse_criterion,
    relative,
    sentences,
)
from tui.engine.runbook.draft import Draft, Review, StepOut
from tui.engine.runbook.read import Block, Section
from tui.engine.runbook.words import (
    ACCEPTANCE_TITLE,
    CRITERIA_TITLE,
    SHELL_LANGS,
    TRIGGER_TITLE,
    clean_title,
    fold,
    plain,
    reads_as_command,
)


def criteria_context(sec: Section) -> tuple[bool, str | None]:
    """(criteria listed here are triggers, the action the heading names) from the section and its parents."""
    for s in [sec, *sec.ancestors()]:
        title = fold(clean_title(s.title))
        if ACCEPTANCE_TITLE.search(title):
            return False, GOALS
        if s is not sec and s.blocks and (said := lead_in(s.blocks[-1])):  # a lead-in, then subsections
            return True, said
        if CRITERIA_TITLE.search(title):
            return True, action_of(title) or ("rollback" if TRIGGER_TITLE.search(title) else None)
        if GOAL_TITLE.search(title):
            return False, GOALS
    return False, None


def _lead_words(b: Block) -> str:
    """A lead-in's words ("the system pauses the rollout if any of:"), empty when the block is not one."""
    if b.kind != "para" or not b.text.rstrip().endswith(":") or not CONDITION.search(plain(b.text)):
        return ""
    return plain(b.text)


def lead_in(b: Block) -> str | None:
    """The action of a lead-in ("the system pauses the rollout if any of:") for the criteria listed after it."""
    words = _lead_words(b)
    return action_of(words) if words else None


def lead_window(b: Block) -> str:
    """The window a lead-in gives its whole list ("… if any of the following occur for 10 consecutive minutes:")."""
    m = FOR_TEXT.search(_lead_words(b))
    return m.group(0) if m else ""


def under_lead(text: str, window: str) -> str:
    """A listed criterion with no window of its own holds for the lead-in's, said so in its words."""
    return f"{text} ({window}, from the line above the list)" if window and not FOR_TEXT.search(plain(text)) else text


def scan_criteria(d: Draft, sec: Section) -> None:
    listed, heading_action = criteria_context(sec)
    lead: str | None = None  # "the system pauses the rollout if any of:": the action of the list after it
    window = ""
    for b in sec.blocks:
        if b.kind == "item":
            criterion(d, under_lead(b.text, window), b.line, listed or lead is not None, lead or heading_action, False)
            continue
        lead, window = lead_in(b), lead_window(b)
        if b.kind == "para":
            for line, sentence in sentences(b):
                criterion(d, sentence, line, listed, heading_action, False)
        elif b.kind == "table":
            for text, line, loose in data_rows(b):
                criterion(d, text, line, listed, heading_action, loose)
        elif b.kind == "fence":
            config_thresholds(d, b, shell=b.lang in SHELL_LANGS - {""})


def criterion(d: Draft, text: str, line: int, listed: bool, heading_action: str | None, loose: bool) -> bool:
    """A trigger becomes a guard (measurable) or a gate (listed under criteria, not measurable); a measurable
    line it is not sure of becomes a review item. 'error rate > 2% or p99 > 1s' is two. True: the line is
    a criterion, not a step."""
    said = action_of(plain(text))
    parts = re.split(rf"\s+(?:or|ou|and|e|o|y)\s+(?=[^.;]*?(?:{ABOVE}|{BELOW})\s*\d)", plain(text))
    if len(parts) > 1:
        found = [one_criterion(d, f"{p} ({said})" if said and not action_of(p) else p, line, listed,
                               heading_action, loose) for p in parts]
        return any(found)
    return one_criterion(d, text, line, listed, heading_action, loose)


def one_criterion(d: Draft, text: str, line: int, listed: bool, heading_action: str | None, loose: bool) -> bool:
    words = plain(text)
    said = action_of(words)
    guard = parse_criterion(text, loose_window=loose)
    if guard is None:
        if listed and is_sentence(text):
            d.gates.append((words, line))
            return True
        if listed and words:
            _review(d, Review(line, "criterion", "not understood as metric, threshold and window", words,
                              "criteria list"))
        elif relative(words) and MEASURE.search(words):
            _review(d, Review(line, "criterion", "relative to a baseline: a guard needs an absolute threshold",
                              words, "a comparison with a baseline"))
        elif COMPARISON.search(words):
            _review(d, Review(line, "criterion", "a threshold no guard reads as written (a time to act or to "
                              "finish, or a name with no metric)", words, "a comparison"))
        return False
    if not listed and said is None and guard.guessed and not MEASURE.search(words):
        return False  # "set the timeout above 30 seconds": a number in a sentence, not a criterion
    guard.line = line
    goal = heading_action == GOALS or bool(GOAL_TEXT.match(words)) or (
        said is None and heading_action is None and not guard.guessed and guard.op != WORSE.get(guard.metric, "above"))
    heading_action = None if heading_action == GOALS else heading_action
    action = said or heading_action
    if action is None and goal:  # a goal ("Response time: < 200ms"): the guard to propose alerts when it is missed
        guard.op = "below" if guard.op == "above" else "above"
    guard.action = action or "alert"
    guard.rule = (("its own words" if said else "heading" if heading_action else "no action named")
                  + (", a threshold column" if loose else ""))
    if why := unsure(guard, action, goal):
        _review(d, Review(line, "guard", why, words, guard.rule, guard))
        return listed
    if (guard.metric, guard.op, guard.value) not in {(g.metric, g.op, g.value) for g in d.guards}:
        d.guards.append(guard)
    return True


GOALS = "goal"  # criteria_context's word for a section of targets, not triggers
GOAL_TITLE = re.compile(r"\b(targets?|goals?|metas?|objetiv\w*|kpis?|slos?|slas?|expected|esperad\w*|"
                        r"metricas? (de sucesso|criticas? a monitorar)|metrics to (watch|monitor))\b")
GOAL_TEXT = re.compile(r"^[^:<>]{1,60}:\s*(?:[<>≤≥]|at least|at most|above|below|acima|abaixo|no m[ií]nimo)", re.I)
COMPARISON = re.compile(rf"(?:[<>≤≥]=?|\b(?:{ABOVE}|{BELOW})\b)\s*~?\d", re.I)
# A comparison or a percentage written as such, or a multiple of a measurement ("14x burn rate").
MEASURE = re.compile(r"[<>≤≥]\s*=?\s*\d|\d\s*%|\b\d+(\.\d+)?x\s+(the\s+)?(burn|error|latency|baseline|normal|traffic|"
                     r"cpu|memory|rate)", re.I)


def unsure(guard: GuardOut, action: str | None, goal: bool = False) -> str:
    """Why a guard read from the words may not act on its own; empty when every part of it was written."""
    why = []
    if guard.guessed:
        why.append(f"metric {guard.metric!r} guessed from the words")
    if guard.window is None:
        why.append("no duration given")
    if action is None:
        why.append("a goal, so the proposal alerts when it is missed" if goal else "names no action: the proposal alerts")
    if never := guard.never_fires():
        why.append(f"never fires: {never}")
    return "; ".join(why)


def config_thresholds(d: Draft, b: Block, shell: bool = False) -> None:
    """A threshold inside a configuration block (`- error_rate > 5%`, `expr: rate(errors[5m]) > 0.01`, `[ "$ERR"
    -gt 2 ]`, an object `{metric: 'error_rate', threshold: 0.01, window: '5min'}`) or a shell block's comments and
    prose is not read as a guard, but a person sees it in review: nothing measurable is dropped silently."""
    lines = b.text.splitlines()
    for n, raw in enumerate(lines):
        if shell and reads_as_command(raw):  # a command's own numbers ("--max-surge 25%") are not criteria
            continue
        text = raw.strip().lstrip("-#/* ").strip()
        if THRESHOLD_KEY.match(text):
            text = _object_around(lines, n)
        elif not ((COMPARISON.search(text) or SHELL_TEST.search(text)) and re.search(r"[a-z]", text, re.I)):
            continue
        _review(d, Review(b.line + 1 + n, "criterion", f"a threshold inside a {b.lang or 'text'} block: copy it "
                          "into a guard if it is one", text, "a comparison in a block"))


THRESHOLD_KEY = re.compile(r"[\"']?(threshold|limit|max\w*|min\w*|warn\w*|crit\w*|rollback\w*|alert\w*)[\"']?\s*"
                           r"[:=]\s*[\"']?~?\d", re.I)
SHELL_TEST = re.compile(r"\s-(gt|ge|lt|le)\s+[\"']?\d")


def _object_around(lines: list[str], n: int) -> str:
    """The fields of the object a threshold sits in ("metric: 'error_rate', threshold: 0.01, window: '5min'")."""
    start, end = n, n
    while start > 0 and n - start < 6 and "{" not in lines[start] and lines[start - 1].strip() not in ("", "{"):
        start -= 1
    while end + 1 < len(lines) and end - n < 6 and "}" not in lines[end + 1] and lines[end + 1].strip():
        end += 1
    fields = [re.sub(r"\s*(//|#).*$", "", ln).strip().rstrip(",") for ln in lines[start:end + 1]]
    return ", ".join(f for f in fields if f and f not in "{}")


def _review(d: Draft, item: Review) -> None:
    if (item.line, item.excerpt) not in {(r.line, r.excerpt) for r in d.review}:
        d.review.append(item)


def place_gates(d: Draft) -> None:
    """Each criterion no metric measures is checked by a human after the traffic steps of the stage it is written
    in ("SI métricas OK: continuar a Fase 2" before the next stage moves traffic), else of the last stage."""
    if not d.gates:
        return
    last = next((p for p in reversed(d.phases) if any(s.kind == "shift" for s in p.steps)), d.phases[-1])
    for text, line in d.gates:
        own = next((p for p in reversed(d.phases) if p.line <= line), None)
        target = own if own is not None and any(s.kind == "shift" for s in own.steps) else last
        at = max((i for i, s in enumerate(target.steps) if s.kind in ("shift", "bake")
                  or s.kind == "gate" and s.rule == "a criterion no metric measures"), default=-1)
        target.steps.insert(at + 1, StepOut("gate", f"Rollback criterion, checked by a human: {text} — all clear?",
                                            text, line, "a criterion no metric measures"))
    d.count("gates from unmeasurable criteria", len(d.gates))
