"""Markdown runbook -> plan. Rule-based and bilingual (Portuguese, English).

Headings become phases (headings named like "Phase 2"/"Fase 2" when there are any, else the
top-level sections that hold something to do); `- [ ]` items become checklists; a schedule
table fills planned start, duration and owner; shell blocks become manual `run:` steps (one per
command, comments as descriptions); traffic moves become `shift:`, waits become `bake:`;
rollback criteria become guards, or gates when no machine can measure them. Everything else is
kept as phase notes, and a summary says what became what.
"""

from __future__ import annotations

import dataclasses
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import ftfy
from ftfy.badness import badness

from tui.engine.plan import LoadedPlan, PlanError, PlanIssue, format_duration, load_plan_text

# ---------------------------------------------------------------- encoding


def repair_encoding(text: str) -> tuple[str, str | None]:
    """Undo UTF-8 that was read as Mac Roman / cp1252 / Latin-1 and saved again.

    Whole-document re-decoding first (it repairs completely when it round-trips), kept only
    when ftfy's badness measure improves -- or ties while the text gets shorter, since mojibake
    always spells one character with several (ftfy scores "üöÄ" and "🚀" alike). Then ftfy
    mends what is left. Clean text is unchanged: it does not round-trip.
    """
    best, how = text, None
    best_score = badness(text)
    if text.isascii():
        return text, None
    for enc in ("mac_roman", "cp1252", "latin-1"):
        try:
            candidate = text.encode(enc).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
        score = badness(candidate)
        if score < best_score or (score == best_score and len(candidate) < len(best)):
            best, best_score, how = candidate, score, f"re-decoded the whole document as UTF-8 read as {enc}"
    config = ftfy.TextFixerConfig(unescape_html=False, uncurl_quotes=False, fix_character_width=False,
                                  fix_latin_ligatures=False, normalization=None, fix_line_breaks=False)
    mended = ftfy.fix_text(best, config)
    if mended != best:
        how = (how + "; " if how else "") + "ftfy mended the remaining lines"
    return mended, how


# ---------------------------------------------------------------- markdown structure


@dataclass
class Section:
    title: str
    level: int
    line: int
    body: list[tuple[int, str]] = field(default_factory=list)  # (line number, text)
    children: list[Section] = field(default_factory=list)

    def walk(self) -> list[Section]:
        out = [self]
        for c in self.children:
            out += c.walk()
        return out


_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def parse_sections(text: str) -> Section:
    root = Section("", 0, 0)
    stack = [root]
    fence: str | None = None
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if fence is None and (m := _HEADING.match(line)):
            level = len(m.group(1))
            while stack[-1].level >= level:
                stack.pop()
            sec = Section(m.group(2), level, n)
            stack[-1].children.append(sec)
            stack.append(sec)
            continue
        if stripped.startswith(("```", "~~~")):
            marker = stripped[:3]
            fence = None if fence == marker else (fence or marker)
        stack[-1].body.append((n, line))
    return root


# ---------------------------------------------------------------- vocabulary

def fold(text: str) -> str:
    """Lower case, no accents, no emoji: for matching words across languages."""
    norm = unicodedata.normalize("NFKD", text)
    return "".join(c for c in norm if unicodedata.category(c)[0] in "LNZP" or c in "%<>=.-/:").lower()


def clean_title(text: str) -> str:
    text = re.sub(r"[*_`]", "", text)
    text = "".join(c for c in text if unicodedata.category(c)[0] in "LNZP" or c in "%+&()/:'-")
    text = re.sub(r"^\s*\d+(\.\d+)*\.?\s+", "", text)  # "1.2 " numbering
    text = re.sub(r"\s*\(\d{1,2}:\d{2}\s*[-–]\s*\d{1,2}:\d{2}\)\s*$", "", text)  # "(01:30-02:00)"
    return re.sub(r"\s+", " ", text).strip(" :-") or "Phase"


PHASE_HEADING = re.compile(r"^\W*(fase|phase|etapa|stage|step|passo)\s*\d+\b", re.I)
REFERENCE = re.compile(r"rollback|revers|reverter|conting|emerg|incident|incidente|troubleshoot", re.I)
CRITERIA = re.compile(r"crit[eé]ri|criteria|rollback (if|when|trigger)|gatilho|trigger", re.I)
TIME_RANGE = re.compile(r"\b(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})\b")
CHECKBOX = re.compile(r"^\s*[-*+]\s+\[([ xX])\]\s+(.*)$")
ORDERED = re.compile(r"^\s*\d+[.)]\s+(.*)$")
BULLET = re.compile(r"^\s*[-*+]\s+(.*)$")
SHELL_LANGS = {"bash", "sh", "shell", "zsh", "console", "shell-session", ""}

_NUM_UNITS = {"ms": 0.001, "s": 1, "seg": 1, "sec": 1, "segundo": 1, "second": 1, "m": 60, "min": 60,
              "minuto": 60, "minute": 60, "h": 3600, "hora": 3600, "hour": 3600}
WAIT_TEXT = re.compile(
    r"\b(aguard\w*|esper\w*|wait\w*|bake|sleep|hold)\b(?:\s+\w+){0,2}?\s+(\d+)\s*"
    r"(ms|s|seg\w*|sec\w*|min\w*|m|h|hora\w*|hour\w*)\b", re.I)
PERCENT_PROSE = re.compile(
    r"(\d{1,3})\s*%\s*(?:do|of|de|of the|da)?\s*(?:tr[aá]fego|traffic)|"
    r"(?:switch|shift|move|route|redirect\w*|direcionar|redirecionar|mover)\w*\s+(\d{1,3})\s*%", re.I)
PERCENT_FLAG = re.compile(r"--?(?:percentage|percent|weight|pct)[=\s]+(\d{1,3})\b", re.I)
TARGET_FLAG = re.compile(r"--?(?:target|to|color|colour)[=\s]+(\w+)", re.I)


def seconds_of(number: str, unit: str) -> float:
    unit = unit.lower()
    for key in sorted(_NUM_UNITS, key=len, reverse=True):
        if unit.startswith(key):
            return float(number) * _NUM_UNITS[key]
    return float(number) * 60


# ---------------------------------------------------------------- criteria -> guards


@dataclass
class GuardOut:
    metric: str
    op: str
    value: float
    window: float | None
    source_text: str


METRICS: list[tuple[re.Pattern[str], str, str]] = [
    (re.compile(r"erro|error|falha de requisi|5xx", re.I), "error_rate", "ratio"),
    (re.compile(r"p9[59]|percentil|percentile", re.I), "latency_p95", "ms"),
    (re.compile(r"(tempo de resposta|response time|lat[eê]ncia|latency).*(m[eé]dio|average|avg|mean)|"
                r"(m[eé]dio|average|avg|mean).*(tempo de resposta|response time|lat[eê]ncia|latency)", re.I),
     "latency_avg", "ms"),
    (re.compile(r"tempo de resposta|response time|lat[eê]ncia|latency", re.I), "latency_p95", "ms"),
    (re.compile(r"cpu", re.I), "cpu", "percent"),
    (re.compile(r"mem[oó]ria|memory|\bram\b", re.I), "memory", "percent"),
    (re.compile(r"disponibilidade|availability|uptime", re.I), "availability", "percent"),
    (re.compile(r"disco|disk", re.I), "disk", "percent"),
    (re.compile(r"throughput|vaz[aã]o|req\w*/s|rps", re.I), "rps", "rps"),
]
SIM_QUERY = {"error_rate": "error_rate", "latency_p95": "latency_p95", "latency_avg": "latency_p95", "cpu": "cpu",
             "memory": "memory", "rps": "rps"}
CRITERION = re.compile(r"^(?P<name>.*?)\s*(?P<op>>=|<=|≥|≤|>|<|acima de|above|abaixo de|below)\s*"
                       r"(?P<num>\d+(?:[.,]\d+)?)\s*(?P<unit>%|ms|s\b|seg\w*|sec\w*|min\w*)?(?P<rest>.*)$", re.I)
FOR_TEXT = re.compile(r"\b(?:por|for|durante|during|over|em)\s+(?:mais de\s+|more than\s+)?(\d+)\s*"
                      r"(?:\w+\s+)?(ms|s|seg\w*|sec\w*|min\w*|m|h|hora\w*|hour\w*)\b", re.I)


def parse_criterion(text: str) -> GuardOut | None:
    plain = re.sub(r"[*_`]", "", text).strip()
    m = CRITERION.match(plain)
    if not m or not m.group("name").strip():
        return None
    name = m.group("name")
    metric, unit = next(((mt, u) for rx, mt, u in METRICS if rx.search(name)), (None, None))
    if metric is None:
        slug = re.sub(r"[^a-z0-9]+", "_", fold(name)).strip("_")[:40]
        if not slug:
            return None
        metric, unit = slug, ""
    value = float(m.group("num").replace(",", "."))
    u = (m.group("unit") or "").lower()
    if unit == "ratio":
        value = value / 100 if u == "%" or not u else value
    elif unit == "ms" and u and not u.startswith("ms"):
        value = value * 1000 if u.startswith("s") else value * 60_000
    op_word = m.group("op").lower()
    op = "above" if op_word in (">", ">=", "≥", "acima de", "above") else "below"
    window = None
    if f := FOR_TEXT.search(m.group("rest") or ""):
        window = seconds_of(f.group(1), f.group(2))
    return GuardOut(metric, op, round(value, 6), window, plain)


# ---------------------------------------------------------------- the import


@dataclass
class StepOut:
    kind: str  # run | shift | bake | gate
    value: str | int | float
    description: str = ""


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


@dataclass
class ImportResult:
    yaml_text: str
    summary: list[str]
    loaded: LoadedPlan


class _Importer:
    def __init__(self, text: str, file: str) -> None:
        self.file = file
        self.root = parse_sections(text)
        self.phases: list[PhaseOut] = []
        self.guards: list[GuardOut] = []
        self.gates: list[str] = []
        self.schedule: list[dict[str, str]] = []
        self.loose_notes: list[str] = []
        self.counts: dict[str, int] = {}

    # -------------------------------------------------- phases

    def run(self) -> None:
        self._notes_from_body(self.root, self.loose_notes)  # text before the first heading
        tops = self.root.children
        title = ""
        if len(tops) == 1 and tops[0].level == 1:
            title = tops[0].title
            self._notes_from_body(tops[0], self.loose_notes)
            tops = tops[0].children
        self.name = clean_title(title) if title else Path(self.file).stem
        everything = [s for t in tops for s in t.walk()]
        explicit = [s for s in everything if PHASE_HEADING.match(clean_title(s.title)) or
                    PHASE_HEADING.match(s.title)]
        for sec in tops:
            self._top(sec, explicit)
        if not self.phases:
            self.phases.append(PhaseOut(self.name, 1))
        first = self.phases[0]
        first.notes = self.loose_notes + first.notes
        self._apply_schedule()
        self._place_gates()

    def _top(self, sec: Section, explicit: list[Section]) -> None:
        if REFERENCE.search(sec.title) or CRITERIA.search(sec.title):
            self._reference(sec)
            return
        inside = [s for s in sec.walk() if s in explicit]
        if inside:
            for s in sec.walk():
                if s in explicit:
                    self._phase(s, nested=s.children)
                elif not any(s in e.walk() for e in inside):
                    self._loose(s)
            return
        if self._actionable(sec):
            self._phase(sec, nested=sec.children)
        else:
            for s in sec.walk():
                self._notes_from_body(s, self._notes_target(), heading=True)
                self._collect_tables(s)

    def _actionable(self, sec: Section) -> bool:
        for s in sec.walk():
            if REFERENCE.search(s.title):
                continue
            for _, line in s.body:
                fence = line.strip()
                if CHECKBOX.match(line) or (fence[:3] in ("```", "~~~") and fence[3:].strip().lower() in SHELL_LANGS
                                            and fence[3:].strip()):
                    return True
                if ORDERED.match(line) and not REFERENCE.search(sec.title):
                    return True
        return False

    def _notes_from_body(self, sec: Section, target: list[str], heading: bool = False) -> None:
        if heading and sec.title:
            target.append(f"[{clean_title(sec.title)}]")
        for _, line in sec.body:
            stripped = line.strip()
            if stripped and stripped != "---" and not stripped.startswith("|") and not stripped.startswith("```"):
                target.append(stripped)

    def _notes_target(self) -> list[str]:
        return self.phases[-1].notes if self.phases else self.loose_notes

    def _loose(self, sec: Section) -> None:
        """A section inside a parent of phases that is not a phase itself: schedule, notes, criteria."""
        if REFERENCE.search(sec.title) or CRITERIA.search(sec.title):
            self._reference(sec, recurse=False)
            return
        self._collect_tables(sec)
        self._notes_from_body(sec, self._notes_target(), heading=True)

    def _phase(self, sec: Section, nested: list[Section]) -> None:
        ph = PhaseOut(clean_title(sec.title), sec.line)
        if m := TIME_RANGE.search(sec.title):
            h1, m1, h2, m2 = (int(x) for x in m.groups())
            ph.start = f"{h1:02d}:{m1:02d}"
            ph.duration = ((h2 * 60 + m2) - (h1 * 60 + m1)) % (24 * 60) * 60 or None
        self.phases.append(ph)
        self._content(sec, ph, group="")
        for child in nested:
            for s in child.walk():
                if REFERENCE.search(s.title) or CRITERIA.search(s.title):
                    self._reference(s, recurse=False)
                    continue
                self._content(s, ph, group=clean_title(s.title))

    def _reference(self, sec: Section, recurse: bool = True) -> None:
        """Rollback/emergency material: criteria become guards or gates; procedures stay notes."""
        for s in sec.walk() if recurse else [sec]:
            is_criteria = CRITERIA.search(s.title) is not None
            target = self._notes_target()
            target.append(f"[{clean_title(s.title)}] (reference, not run as steps)")
            in_fence = False
            for _, line in s.body:
                stripped = line.strip()
                if stripped.startswith(("```", "~~~")):
                    in_fence = not in_fence
                    continue
                item = BULLET.match(line) or ORDERED.match(line)
                if is_criteria and item and not in_fence:
                    self._criterion(item.group(1))
                elif stripped:
                    target.append(("    " if in_fence else "") + stripped)

    def _criterion(self, text: str) -> None:
        guard = parse_criterion(text)
        if guard is not None:
            self.guards.append(guard)
        else:
            self.gates.append(re.sub(r"[*_`]", "", text).strip())

    # -------------------------------------------------- content of a phase

    def _content(self, sec: Section, ph: PhaseOut, group: str) -> None:
        self._collect_tables(sec)
        fence_lang: str | None = None
        block: list[str] = []
        prefix = f"[{group}] " if group else ""
        if group:
            ph.notes.append(f"— {group}")
        for _, line in sec.body:
            stripped = line.strip()
            if fence_lang is not None:
                if stripped.startswith(("```", "~~~")):
                    self._fence(fence_lang, block, ph)
                    fence_lang, block = None, []
                else:
                    block.append(line)
                continue
            if stripped.startswith(("```", "~~~")):
                fence_lang = stripped[3:].strip().lower()
                continue
            if m := CHECKBOX.match(line):
                ph.checklist.append((prefix + m.group(2).strip(), m.group(1).lower() == "x"))
                self._count("checklist items")
            elif m := ORDERED.match(line):
                self._prose_step(m.group(1), ph, ordered=True)
            elif stripped.startswith("|"):
                continue  # tables are read by _collect_tables
            elif stripped and stripped != "---" and not self._prose_step(stripped, ph, ordered=False):
                ph.notes.append(stripped)
        if fence_lang is not None:
            self._fence(fence_lang, block, ph)

    def _prose_step(self, text: str, ph: PhaseOut, ordered: bool) -> bool:
        plain = re.sub(r"[*_`]", "", BULLET.sub(r"\1", text)).strip()
        if m := PERCENT_PROSE.search(plain):
            pct = int(m.group(1) or m.group(2))
            if 0 <= pct <= 100:
                ph.steps.append(StepOut("shift", pct, plain))
                self._count("shift steps")
                return True
        if m := WAIT_TEXT.search(plain):
            ph.steps.append(StepOut("bake", seconds_of(m.group(2), m.group(3)), plain))
            self._count("bake steps")
            return True
        if ordered:
            ph.steps.append(StepOut("gate", f"Done: {plain}?", plain))
            self._count("gate steps (procedure items)")
            return True
        return False

    def _fence(self, lang: str, lines: list[str], ph: PhaseOut) -> None:
        if lang not in SHELL_LANGS:
            ph.notes.append(f"({lang} block of {len(lines)} lines kept out of the plan)")
            ph.notes += ["    " + ln.rstrip() for ln in lines if ln.strip()]
            self._count(f"{lang} blocks kept as notes")
            return
        comment: list[str] = []
        joined: list[str] = []
        for raw in lines:
            line = raw.strip()
            if joined and joined[-1].endswith("\\"):
                joined[-1] = joined[-1][:-1].rstrip() + " " + line
                continue
            joined.append(line)
        for line in joined:
            if not line:
                comment = []
                continue
            if line.startswith("#"):
                text = line.lstrip("#").strip()
                comment.append(text)
                continue
            description = " — ".join(comment)
            comment = []
            self._command(line, description, ph)
        if comment:  # a trailing comment with no command: maybe a wait
            text = " — ".join(comment)
            if not self._prose_step(text, ph, ordered=False):
                ph.notes.append(f"# {text}")

    def _command(self, line: str, description: str, ph: PhaseOut) -> None:
        if m := re.fullmatch(r"sleep\s+(\d+)([smh]?)", line):
            seconds = float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]
            ph.steps.append(StepOut("bake", seconds, description or line))
            self._count("bake steps")
            return
        if m := PERCENT_FLAG.search(line):
            pct = int(m.group(1))
            target = TARGET_FLAG.search(line)
            if 0 <= pct <= 100 and re.search(r"traffic|tr[aá]fego|switch|shift|weight|canary", line, re.I):
                green = 100 - pct if target and target.group(1).lower() == "blue" else pct
                ph.steps.append(StepOut("shift", green, f"{description} (was: {line})".strip()))
                self._count("shift steps")
                return
        ph.steps.append(StepOut("run", line, description))
        self._count("run steps (manual)")

    # -------------------------------------------------- schedule

    def _collect_tables(self, sec: Section) -> None:
        rows = [ln.strip() for _, ln in sec.body if ln.strip().startswith("|")]
        if len(rows) < 3:
            return
        cells = [[c.strip() for c in r.strip("|").split("|")] for r in rows]
        header = [fold(c) for c in cells[0]]
        cols = {}
        for i, h in enumerate(header):
            if re.search(r"horari|hora|time|quando|when|inicio|start", h) and "time" not in cols:
                cols["time"] = i
            elif re.search(r"fase|phase|etapa|stage|step", h):
                cols["phase"] = i
            elif re.search(r"dura|duration|tempo", h):
                cols["duration"] = i
            elif re.search(r"respons|owner|quem|who|dono|lead", h):
                cols["owner"] = i
        if "phase" not in cols or len(cols) < 2:
            self._notes_target().extend(rows)
            return
        for row in cells[2:]:
            entry = {k: row[i] for k, i in cols.items() if i < len(row)}
            self.schedule.append(entry)
        self._count("schedule rows")

    def _apply_schedule(self) -> None:
        taken: set[int] = set()
        for entry in self.schedule:
            ph = self._match_phase(entry, taken)
            if ph is None:
                self.phases[0].notes.append("schedule row without a matching phase: " + " | ".join(entry.values()))
                continue
            taken.add(id(ph))
            if entry.get("owner"):
                ph.owner = re.sub(r"[*_`]", "", entry["owner"]).strip()
            if m := TIME_RANGE.search(entry.get("time", "")):
                h1, m1, h2, m2 = (int(x) for x in m.groups())
                ph.start = f"{h1:02d}:{m1:02d}"
                ph.duration = ((h2 * 60 + m2) - (h1 * 60 + m1)) % (24 * 60) * 60 or ph.duration
            elif m := re.search(r"\b(\d{1,2}):(\d{2})\b", entry.get("time", "")):
                ph.start = f"{int(m.group(1)):02d}:{m.group(2)}"
            if d := re.search(r"(\d+)\s*(h|hora\w*|hour\w*|min\w*|m)\b", entry.get("duration", ""), re.I):
                ph.duration = seconds_of(d.group(1), d.group(2))

    def _match_phase(self, entry: dict[str, str], taken: set[int]) -> PhaseOut | None:
        """The phase a schedule row is about: same time window first, else the most shared words."""
        free = [p for p in self.phases if id(p) not in taken]
        if m := TIME_RANGE.search(entry.get("time", "")):
            start = f"{int(m.group(1)):02d}:{m.group(2)}"
            same = [p for p in free if p.start == start]
            if len(same) == 1:
                return same[0]
        name = fold(entry.get("phase", ""))
        words = [w for w in re.findall(r"[a-z0-9]+", name) if len(w) > 2]
        if not words:
            return None
        best, best_score = None, 0.0
        for ph in free:
            title_words = re.findall(r"[a-z0-9]+", fold(ph.name))
            hits = sum(1.0 if w in title_words else 0.6 if any(t.startswith(w[:5]) for t in title_words) else 0.0
                       for w in words)
            score = hits / len(words) - 0.01 * len(title_words)  # prefer the tighter title
            if score > best_score:
                best, best_score = ph, score
        return best if best_score >= 0.5 else None

    # -------------------------------------------------- gates and output

    def _place_gates(self) -> None:
        if not self.gates:
            return
        target = next((p for p in reversed(self.phases) if any(s.kind == "shift" for s in p.steps)), self.phases[-1])
        last_traffic = max((i for i, s in enumerate(target.steps) if s.kind in ("shift", "bake")), default=-1)
        for j, text in enumerate(self.gates):
            step = StepOut("gate", f"Rollback criterion, checked by a human: {text} — all clear?", text)
            target.steps.insert(last_traffic + 1 + j, step)
        self._count("gates from unmeasurable criteria", len(self.gates))

    def _count(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def render(imp: _Importer, repair: str | None) -> tuple[str, list[str]]:
    out = [f"# Imported by `shipdeck import` from {Path(imp.file).name}.",
           "# Review before a real night: every imported command is `manual: true` (shown, never executed)",
           "# until you remove `manual`; `backends:` points at the simulator until you point it at real systems."]
    if repair:
        out.append(f"# Encoding repaired: {repair}.")
    out += ["version: 1", f"name: {_q(imp.name)}", "", "backends:",
            "  traffic: {type: simulated, scenario: healthy}",
            "  metrics: [{name: sim, type: simulated}]", "  logs: [{type: simulated}]", "  probes: {type: simulated}"]
    metric_names: dict[str, str] = {}
    for g in imp.guards:
        metric_names.setdefault(g.metric, next((u for rx, m, u in METRICS if m == g.metric), ""))
    if metric_names:
        out += ["", "metrics:"]
        for name, unit in metric_names.items():
            query = SIM_QUERY.get(name, name)
            note = ""
            if name not in SIM_QUERY:
                note = "  # the simulator has no such series: point this at a real source"
            elif query != name:
                note = f"  # simulator stand-in: {query}"
            out.append(f"  {name}: {{source: sim, query: {_q(query)}, unit: {_q(unit)}}}{note}")
        out += ["", "guards:"]
        for g in imp.guards:
            window = g.window if g.window is not None else 60.0
            no_data = "hold" if g.metric in SIM_QUERY else "ignore"
            why = "" if g.window is not None else "  # no duration in the runbook: 1m assumed"
            out.append(f"  # from: {g.source_text}")
            out.append(f"  - {{metric: {g.metric}, {g.op}: {g.value:g}, for: {format_duration(window)}, "
                       f"action: rollback, no_data: {no_data}}}{why}")
    out += ["", "phases:"]
    for ph in imp.phases:
        out.append(f"  - name: {_q(ph.name)}  # runbook line {ph.line}")
        if ph.owner:
            out.append(f"    owner: {_q(ph.owner)}")
        if ph.start:
            out.append(f"    start: {_q(ph.start)}")
        if ph.duration:
            out.append(f"    duration: {format_duration(ph.duration)}")
        if ph.checklist:
            out.append("    checklist:")
            for text, done in ph.checklist:
                out.append(f"      - {{text: {_q(text)}, done: true}}" if done else f"      - {_q(text)}")
        if ph.steps:
            out.append("    steps:")
            for st in ph.steps:
                if st.kind == "run":
                    desc = f", description: {_q(st.description)}" if st.description else ""
                    out.append(f"      - run: {{command: {_q(str(st.value))}, manual: true{desc}}}")
                elif st.kind == "shift":
                    out.append(f"      - shift: {st.value}  # {st.description[:100]}")
                elif st.kind == "bake":
                    out.append(f"      - bake: {format_duration(float(st.value))}  # {st.description[:100]}")
                else:
                    out.append(f"      - gate: {_q(str(st.value))}")
        if ph.notes:
            out.append("    notes:")
            out += [f"      - {_q(n)}" for n in ph.notes]
    summary = [f"{len(imp.phases)} phases: " + ", ".join(p.name for p in imp.phases)]
    for ph in imp.phases:
        kinds: dict[str, int] = {}
        for s in ph.steps:
            kinds[s.kind] = kinds.get(s.kind, 0) + 1
        parts = [f"{len(ph.checklist)} checklist items"] + [f"{n} {k}" for k, n in kinds.items()]
        parts.append(f"{len(ph.notes)} lines kept as notes")
        if ph.owner or ph.start:
            parts.append(f"schedule: {ph.start or '?'} +{format_duration(ph.duration) if ph.duration else '?'} "
                         f"owner {ph.owner or '?'}")
        summary.append(f"phase {ph.name!r}: " + ", ".join(parts))
    for g in imp.guards:
        summary.append(f"guard: {g.metric} {g.op} {g.value:g}"
                       + (f" for {format_duration(g.window)}" if g.window else " (for: 1m assumed)")
                       + f"  ← {g.source_text!r}")
    for text in imp.gates:
        summary.append(f"gate (not measurable): {text!r}")
    if repair:
        summary.append(f"encoding: {repair}")
    out += ["", "# Import summary:"] + [f"#   {s}" for s in summary]
    return "\n".join(out) + "\n", summary


def import_text(text: str, file: str) -> ImportResult:
    fixed, repair = repair_encoding(text)
    imp = _Importer(fixed, file)
    imp.run()
    yaml_text, summary = render(imp, repair)
    loaded = load_plan_text(yaml_text, file)
    return ImportResult(yaml_text, summary, loaded)


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
