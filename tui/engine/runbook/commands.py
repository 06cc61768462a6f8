"""Stage 4b, commands: a shell block -> run steps (one per command, or one for a script), the runbook's traffic
command -> shifts, `sleep` -> bakes; a command run only on a condition, or with a value to fill in, waits in
review."""

from __future__ import annotations

import re

from tui.engine.runbook import steps, triggers
from tui.engine.runbook.draft import Draft, PhaseOut, StepOut
from tui.engine.runbook.read import Block, Section
from tui.engine.runbook.words import (
    CONDITION_START,
    CONTEXT_COMMAND,
    FILE_HEADER,
    PERCENT_FLAG,
    PLACEHOLDER,
    SHELL_LANGS,
    TARGET_FLAG,
    TRAFFIC_WORDS,
    fold,
    is_script,
    plain,
    quoted,
    reads_as_command,
)

CONDITION = re.compile(r"(on|if|when|unless|in case( of)?|se|si|caso|quando|cuando|en caso( de)?|em caso( de)?|"
                       r"lorsque|en cas( de)?)\b")
ALTERNATIVE = re.compile(r"\s*#+\s*(or|ou|o bien|oder|alternative(ly)?|alternativamente|opci[oó]n|op[cç][aã]o|option)\b"
                         r"(?!\s*[-=]?\s*\w+\s*=)", re.I)
# Lines no shell runs, even in a block labelled bash: an HTTP request or a header ("GET /api/x", "Authorization:
# Bearer …", "Response:"), configuration ("enabled: true"), JSON.
NOT_SHELL = re.compile(r"(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)\s+\S|[A-Za-z][\w-]*:(\s|$)|[\[\]{}\"]")


def _code(lines: list[str]) -> list[str]:
    """A block's lines that are not blank and not comments, stripped."""
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def holds_commands(b: Block) -> bool:
    """A shell block with at least one line a shell runs (not an HTTP exchange, configuration or JSON)."""
    return any(reads_as_command(ln) and not NOT_SHELL.match(ln) for ln in _code(b.text.splitlines()))


def said_before(sec: Section, b: Block) -> str:
    i = sec.blocks.index(b)
    before = sec.blocks[i - 1] if i else None
    if before is None or before.kind != "para" or not before.text.rstrip().endswith(":"):
        return ""
    text = plain(before.text).rstrip(":").strip()
    return text if CONDITION_START.match(fold(text)) else ""  # "If a rollback is required, revert …:"


def fence(d: Draft, b: Block, ph: PhaseOut, optional: str, condition: str = "") -> None:
    lines = b.text.splitlines()
    if b.lang not in SHELL_LANGS:
        triggers.config_thresholds(d, b)
        ph.notes.append(f"({b.lang} block of {len(lines)} lines kept out of the plan)")
        ph.notes += quoted(lines)
        d.count(f"{b.lang} blocks kept as notes")
        return
    triggers.config_thresholds(d, b, shell=True)  # "# - error rate within 1%": a person sees it
    body = [ln for ln in lines if ln.strip() and not ln.startswith("#!")]
    code = _code(lines)
    if code and all(re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", ln) for ln in code):
        # "Edit `.env`:" then ACTIVE_POOL=green: a file's settings; run in a shell they would change nothing
        ph.notes.append(f"(settings, KEY=value, kept as notes: {len(code)} lines)")
        ph.notes += quoted(lines)
        d.count("settings blocks kept as notes")
        return
    if body and FILE_HEADER.fullmatch(body[0]):  # a file's contents: the step is the line that runs it
        ph.notes.append(f"(the contents of {body[0].lstrip('# ').strip()}, kept as notes: {len(lines)} lines)")
        ph.notes += quoted(lines)
        d.count("script files kept as notes")
        return
    if b.lang == "console" or any(ln.lstrip().startswith("$ ") for ln in lines):
        lines = [ln.lstrip()[2:] for ln in lines if ln.lstrip().startswith(("$ ", "#"))]  # prompts only
        code = _code(lines)
    elif not any(reads_as_command(ln) and not NOT_SHELL.match(ln) for ln in code) or not all(
            reads_as_command(ln) for ln in code) and (
            not b.lang or any(re.match(r"\s*([-*+]|\d+[.)])\s", ln) for ln in lines)):
        # A fence that does not read as commands (not one line does; or no language, or a list inside): an
        # e-mail, a checklist, prose, an HTTP exchange, configuration, a record of what was run.
        triggers.config_thresholds(d, b)
        ph.notes.append(f"(text block of {len(lines)} lines kept out of the plan: it does not read as commands)")
        ph.notes += quoted(lines)
        d.count("text blocks kept as notes")
        return
    if any(ALTERNATIVE.match(ln) for ln in lines):  # "# or, via the API": one of these, never all in a row
        names = " / ".join(c[:60] for c in code)
        ph.steps.append(StepOut("gate", f"Choose one and do it (the commands are in the notes): {names} — done?",
                                names, b.line, "alternatives in one block"))
        ph.notes.append("alternatives, one of:")
        ph.notes += quoted(lines)
        d.count("choices between alternatives")
        return
    if is_script(lines):  # a script is one step: its lines only make sense together
        first = next((ln.lstrip("# ").strip() for ln in lines
                      if ln.strip().startswith("#") and not ln.strip().startswith("#!")), "")
        remote = next((m.group(1) for ln in lines if (m := re.match(r"\s*ssh\s+([^\s'\"]+)\s*$", ln))), "")
        if remote and not first:  # by hand: run as one local script, the lines after it would not reach it
            first = f"the lines after `ssh {remote}` are meant to run on {remote}"
        script = "\n".join(ln.rstrip() for ln in lines).strip()
        run(d, ph, StepOut("run", script, optional + (first or "script: its lines share one shell"), b.line,
                           "a script: its lines share one shell"), condition)
        return
    comment: list[str] = []
    comment_line = b.line
    joined: list[tuple[str, int]] = []
    for n, raw in enumerate(lines):
        line = raw.strip()
        if joined and joined[-1][0].endswith("\\"):
            joined[-1] = (joined[-1][0][:-1].rstrip() + " " + line, joined[-1][1])
            continue
        if joined and _open_quote(joined[-1][0]):  # curl -d '{ ... }' over several lines is one command
            joined[-1] = (joined[-1][0] + "\n" + raw.rstrip(), joined[-1][1])
            continue
        joined.append((line, b.line + 1 + n))
    for line, n in joined:
        if not line:
            comment = []
            continue
        if line.startswith("#"):
            comment.append(line.lstrip("#").strip())
            comment_line = n
            continue
        if NOT_SHELL.match(line) and not reads_as_command(line):  # "Response:" and its JSON after a curl
            ph.notes.append(f"    {line}")
            continue
        description = optional + " — ".join(comment)
        when = next((c for c in comment if CONDITION.match(fold(c))), "")  # "# On rollback", "# Se falhar:"
        comment = []
        held = ph.steps and ph.steps[-1].review and ph.steps[-1].line >= b.line
        if held and CONTEXT_COMMAND.match(line):  # `git clone <url>` waits in review: the `cd` into it waits too
            d.uncertain(ph, StepOut("run", line, description, n, "a command in a shell block"),
                        f"it only makes sense after {str(ph.steps[-1].value).splitlines()[0]!r}, which waits in review")
            continue
        command(d, line, description, ph, n, when or condition)
    if comment:  # a trailing comment with no command: maybe a wait
        text = " — ".join(comment)
        if not steps.prose_step(d, text, ph, ordered=False, line=comment_line):
            ph.notes.append(f"# {text}")


def command(d: Draft, line: str, description: str, ph: PhaseOut, n: int, condition: str = "") -> None:
    if condition:  # a wait or a traffic move only on a condition is no step of the night either
        run(d, ph, StepOut("run", line, description, n, "a command in a shell block"), condition)
        return
    if m := re.fullmatch(r"sleep\s+(\d+)([smh]?)", line):
        seconds = float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]
        ph.steps.append(StepOut("bake", seconds, description or line, n, "a sleep command"))
        d.count("bake steps")
        return
    if (m := PERCENT_FLAG.search(line)) and TRAFFIC_WORDS.search(line):
        pct = int(m.group(2))
        target = TARGET_FLAG.search(line)
        if 0 <= pct <= 100:
            green = 100 - pct if target and target.group(2).lower() == "blue" else pct
            if not d.traffic_template:  # the runbook's own command drives traffic, by hand until enabled
                tmpl = PERCENT_FLAG.sub(lambda x: x.group(1) + "{target_percent}", line.replace("{", "{{")
                                        .replace("}", "}}"), count=1)
                d.traffic_template = TARGET_FLAG.sub(lambda x: x.group(1) + "{target}", tmpl, count=1)
            steps.add_shift(d, ph, StepOut("shift", green, f"{description} (was: {line})".strip(), n,
                                     "the runbook's traffic command"))
            return
    run(d, ph, StepOut("run", line, description, n, "a command in a shell block"), condition)


def run(d: Draft, ph: PhaseOut, step: StepOut, condition: str = "") -> None:
    """A command joins its phase only as it can run: one run only on a condition no step checks, or with a
    value still to fill in, waits in review."""
    if condition:
        step.rule = "a command under a condition"
        d.uncertain(ph, step, f"the runbook runs it only {condition.rstrip(':')!r}: no step of the plan checks that")
        return
    blank = next((m.group(0) for ln in str(step.value).splitlines()
                  if not ln.lstrip().startswith("#") and (m := PLACEHOLDER.search(ln))), None)
    if blank:
        d.uncertain(ph, step, f"the command has a value to fill in before it can run: {blank}")
        return
    ph.steps.append(step)
    d.count("run steps (manual)")


def _open_quote(text: str) -> bool:
    """A quote still open at the end of the text (shell rules: no escapes inside single quotes)."""
    quote = ""
    i = 0
    while i < len(text):
        c = text[i]
        if quote == "'" and c == "'" or quote == '"' and c == '"':
            quote = ""
        elif not quote and c in "'\"" and not (i and text[i - 1] == "\\"):
            quote = c
        elif not quote and c == "#" and (i == 0 or text[i - 1].isspace()):
            return False  # a comment: quotes in it open nothing
        elif quote == '"' and c == "\\":
            i += 1
        i += 1
    return bool(quote)
