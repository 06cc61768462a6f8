"""Markdown runbook -> plan. Rule-based and bilingual (Portuguese, English); docs/runbook-import.md.

markdown-it-py reads the document into sections of blocks that keep their source lines. Phases are
the named phases, else the sections that directly hold work (groups are not phases); reference
sections (rollback procedure, contacts, appendix...) are notes, judged by what the title is, not by
a word in it. Criteria become guards wherever they are written, with the action their wording asks
for; the runbook's traffic command becomes a by-hand traffic template; metrics are "unconnected"
until pointed at a source. The summary lists what became what, and what was not used, with lines.
"""

from __future__ import annotations

import dataclasses
import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
class Block:
    """One block of a section, with its source line: what the importer reads instead of raw lines."""

    kind: str  # para | item | fence | table | html
    line: int  # 1-based, in the runbook
    text: str = ""  # inline Markdown of a paragraph or list item; a fence's content
    lang: str = ""  # a fence's info string (first word, lower case)
    checked: bool | None = None  # a task list item: ticked or not; None for other items
    ordered: bool = False
    depth: int = 0  # list nesting (0: top-level list)
    rows: list[list[str]] = field(default_factory=list)  # a table's cells, header row first
    row_lines: list[int] = field(default_factory=list)  # the line of each row


@dataclass
class Section:
    title: str
    level: int
    line: int
    blocks: list[Block] = field(default_factory=list)
    children: list[Section] = field(default_factory=list)
    parent: Section | None = field(default=None, repr=False)

    def walk(self) -> list[Section]:
        out = [self]
        for c in self.children:
            out += c.walk()
        return out

    def ancestors(self) -> list[Section]:
        out, p = [], self.parent
        while p is not None:
            out.append(p)
            p = p.parent
        return out


def _markdown() -> Any:
    from markdown_it import MarkdownIt
    from mdit_py_plugins.tasklists import tasklists_plugin

    return MarkdownIt("commonmark").enable("table").use(tasklists_plugin)


def parse_sections(text: str) -> Section:
    """The heading tree of a Markdown document (ATX and setext headings, any fence nesting), by
    markdown-it-py: every block keeps the line it starts on."""
    root = Section("", 0, 0)
    cur = root
    items: list[Block | None] = []  # open list items; None once the item's first paragraph is taken
    lists: list[bool] = []  # open lists: ordered?
    row: list[str] | None = None
    table: Block | None = None
    tokens = _markdown().parse(text)
    for i, tok in enumerate(tokens):
        line = (tok.map[0] + 1) if tok.map else cur.line
        if tok.type == "heading_open":
            level = int(tok.tag[1])
            while cur.level >= level:
                assert cur.parent is not None
                cur = cur.parent
            sec = Section(tokens[i + 1].content, level, line, parent=cur)
            cur.children.append(sec)
            cur = sec
        elif tok.type in ("bullet_list_open", "ordered_list_open"):
            lists.append(tok.type == "ordered_list_open")
        elif tok.type in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
        elif tok.type == "list_item_open":
            task = "task-list-item" in str(tok.attrs.get("class", ""))
            items.append(Block("item", line, ordered=lists[-1], depth=len(lists) - 1,
                               checked=False if task else None))
        elif tok.type == "list_item_close":
            items.pop()
        elif tok.type == "inline" and tokens[i - 1].type == "paragraph_open":
            if items and items[-1] is not None:
                item = items[-1]
                if item.checked is not None:
                    first = (tok.children or [None])[0]
                    item.checked = first is not None and first.type == "html_inline" and "checked" in first.content
                item.text = tok.content.strip()
                cur.blocks.append(item)
                items[-1] = None
            else:
                cur.blocks.append(Block("para", line, tok.content.strip()))
        elif tok.type in ("fence", "code_block"):
            lang = (tok.info or "").strip().split(" ")[0].lower() if tok.type == "fence" else ""
            cur.blocks.append(Block("fence", line, tok.content, lang=lang))
        elif tok.type == "table_open":
            table = Block("table", line)
            cur.blocks.append(table)
        elif tok.type == "tr_open":
            row = []
            if table is not None:
                table.row_lines.append(line)
        elif tok.type == "tr_close" and table is not None and row is not None:
            table.rows.append(row)
        elif tok.type == "inline" and tokens[i - 1].type in ("th_open", "td_open") and row is not None:
            row.append(tok.content.strip())
        elif tok.type == "html_block":
            cur.blocks.append(Block("html", line, tok.content.strip()))
    return root


# ---------------------------------------------------------------- vocabulary

def fold(text: str) -> str:
    """Lower case, no accents, no emoji: for matching words across languages."""
    norm = unicodedata.normalize("NFKD", text)
    return "".join(c for c in norm if unicodedata.category(c)[0] in "LNZP" or c in "%<>=.-/:").lower()


_CODE_SPAN = re.compile(r"(`+)(.+?)\1")


def unmark(text: str) -> str:
    """Markdown emphasis off, inline code kept as written: `a_b.sh` stays a_b.sh, error_rate stays error_rate
    (CommonMark: an underscore inside a word is not emphasis)."""
    out, last = [], 0
    for m in _CODE_SPAN.finditer(text):
        out += [_unemphasised(text[last:m.start()]), m.group(2).strip()]
        last = m.end()
    return "".join([*out, _unemphasised(text[last:])]).replace("`", "")


def _unemphasised(text: str) -> str:
    return re.sub(r"(?<!\w)_+|_+(?!\w)", "", text.replace("*", ""))


def clean_title(text: str) -> str:
    text = unmark(text)
    text = "".join(c for c in text if unicodedata.category(c)[0] in "LNZP" or c in "%+&()/:'-")
    text = re.sub(r"^\s*\d+(\.\d+)*\.?\s+", "", text)  # "1.2 " numbering
    text = re.sub(r"\s*\(\d{1,2}:\d{2}\s*[-–]\s*\d{1,2}:\d{2}\)\s*$", "", text)  # "(01:30-02:00)"
    return re.sub(r"\s+", " ", text).strip(" :-") or "Phase"


PHASE_HEADING = re.compile(r"^\W*(fase|phase|etapa|stage)\s*\d+\b", re.I)  # "step 2.1" is inside a phase
# Sections that are not part of the night, by what their title *is*, never by a word inside it:
# "Configure the reverse proxy" is a phase, "Rollback procedure" is not.
REFERENCE_TITLE = re.compile(
    r"^(procedimentos? de |procedures? (for )?|plano de |plan (de )?|processo de |process (for )?|quick |full |"
    r"emergency |emergencia )?"
    r"(rollback|roll back|revers[a-z]*|reverter|conting[a-z]*|emerg[a-z]*|troubleshoot[a-z]*|solucao de problemas|"
    r"apendice|appendix|anexos?|contacts?|contatos?|contactos?|table of contents|contents|indice|sumario|toc|"
    r"referencias?|references?|faq|glossario|glossary|post.?mortem|pos.?incidente|incident response|"
    r"resposta a incidentes?)"
    r"( (procedures?|procedimentos?|plan|plano|steps|passos|process|processo|criteria|criterios|rapido|completo|"
    r"quick|full|contacts?|contatos?|de emergencia|emergency|team|time|list|lista))*$")
# Where criteria are triggers. A bare "Rollback" title is a procedure, not a list of criteria.
CRITERIA_TITLE = re.compile(r"criteri|trigger|gatilho|\bhalt|abort|stop (rule|condition)|kill.?switch|"
                            r"when to (roll ?back|revert|stop)|quando (fazer )?(rollback|reverter|parar)|"
                            r"decision|decisao|go.?no.?go")
# A heading that says its criteria stop the night: an item under it that names no action of its own rolls back.
TRIGGER_TITLE = re.compile(r"trigger|gatilho|\bhalt|abort|stop (rule|condition)|kill.?switch|roll ?back|revert|"
                           r"quando (fazer )?(rollback|reverter|parar)")
ACCEPTANCE_TITLE = re.compile(r"aceit|acceptance|success criteria|criterios de sucesso|definition of done|"
                              r"definicao de pronto|exit criteria")
OPTION_TITLE = re.compile(r"^(option|opcao|alternativ[a-z]*|approach|abordagem|caminho)\s+([a-z0-9])\b")
OPTIONAL_TITLE = re.compile(r"\b(optional|opcional|if needed|se necessario|if required|caso necessario)\b")
EXPECTED_TEXT = re.compile(r"expected (output|result|response)|should (print|return|show|output|see)|"
                           r"saida esperada|resultado esperado|resposta esperada|deve (retornar|mostrar|exibir|"
                           r"imprimir)|output:|saida:|you should see|voce deve ver")
OUTPUT_LANGS = {"text", "txt", "output", "plaintext", "log", "json", "yaml", "yml", "http", "diff", "ini", "toml"}
SCRIPT_SYNTAX = re.compile(r"^\s*(if|for|while|until|case|function)\b|\b(then|do)\s*$|<<-?\s*['\"]?\w+|"
                           r"^\s*\w+\s*\(\)\s*\{|^\s*[{}]\s*$", re.M)
_COMMAND_START = re.compile(r"(sudo\s+)?([./~$]|[a-z_][\w.+-]*(\s|$))")


def _reads_as_command(line: str) -> bool:
    """`kubectl get pods`, `./deploy.sh`, `DIR=/x`: yes. 'Hello team,', '- [ ] check the dashboard', 'Subject: …',
    'Deploy finished.': no (a capital, a bullet, a sentence's end)."""
    text = line.strip()
    if re.match(r"[A-Za-z_]\w*=", text):
        return True
    return bool(_COMMAND_START.match(text)) and not re.match(r"[-*+]\s|\d+[.)]\s|\[[ xX]\]", text) and \
        not re.search(r"[a-z][.!?]$|:$", text)


_ASSIGN = re.compile(r"^\s*(?:export\s+|local\s+|readonly\s+)?([A-Za-z_]\w*)=", re.M)


def _is_script(lines: list[str]) -> bool:
    """Lines that share one shell: control flow, a shebang or `set -e`, a variable set then used, a `cd` or a
    bare `ssh host` before other commands. Split into one shell each, `rm -rf $DIR/$STAMP` would lose $DIR."""
    text = "\n".join(lines)
    commands = [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
    if SCRIPT_SYNTAX.search(text) or text.lstrip().startswith("#!") or re.search(r"^\s*set\s+-\w", text, re.M):
        return True
    if any(re.search(rf"\${{?{re.escape(name)}\b", text) for name in _ASSIGN.findall(text)):
        return True
    return any(re.match(r"cd\s|ssh\s+[^\s'\"]+(\s+-\S+)*$|su\s|sudo\s+-[isu]\b", c) for c in commands[:-1])


TIME_RANGE = re.compile(r"\b(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})\b")
SHELL_LANGS = {"bash", "sh", "shell", "zsh", "console", "shell-session", "powershell", "ps1", "cmd", ""}

_NUM_UNITS = {"ms": 0.001, "s": 1, "seg": 1, "sec": 1, "segundo": 1, "second": 1, "m": 60, "min": 60,
              "minuto": 60, "minute": 60, "h": 3600, "hora": 3600, "hour": 3600, "d": 86400, "dia": 86400,
              "day": 86400}
WAIT_TEXT = re.compile(
    r"\b(aguard\w*|esper\w*|wait\w*|bake|sleep|hold)\b(?:\s+\w+){0,2}?\s+(\d+)\s*"
    r"(ms|s|seg\w*|sec\w*|min\w*|m|h|hora\w*|hour\w*)\b", re.I)
PERCENT_PROSE = re.compile(
    r"(\d{1,3})\s*%\s*(?:do|of|de|of the|da)?\s*(?:tr[aá]fego|traffic)|"
    r"(?:switch|shift|move|route|redirect\w*|direcionar|redirecionar|mover)\w*\s+(\d{1,3})\s*%", re.I)
STAGE_DURATION = re.compile(r"(?:duration|dura[cç][aã]o|duraci[oó]n|hold for|manter por|mantener)\s*:?\s*(\d+)\s*"
                            r"(ms|s|seg\w*|sec\w*|min\w*|m|h|hora\w*|hour\w*|d|dias?|days?)\b", re.I)
NOT_STEPS_TITLE = re.compile(r"communicat|comunica|status update|atualizac\w* de status|mensage|\be-?mails?\b|"
                             r"(message|chat|slack|status)\s*templates?|templates?\s+(de\s+|for\s+)?(message|mensage|"
                             r"e-?mail|comunica|status)|override|manual controls?|controles? manua|emergency controls?|"
                             r"controles? de emerg|operator controls|comandos de emerg")
REPORT_TEXT = re.compile(r"\b[hx]{2}:[mx]{2}\b|\{\{?\s*\w+\s*\}?\}|\[(time|hora|horario)\]|"
                         r"\b(shifted|switched|routed|moved|migrated|completed|migrad[oa]s?|conclu[ií]d[oa]s?|"
                         r"redirecionad[oa]s?)\b", re.I)
ARROW = re.compile(r"\s*(?:→|->|=>|⇒|➜|⟶|➔)\s*")
BARE_PERCENT = re.compile(r"(?:(?:then|depois|luego|and|e)\s+)?(\d{1,3})\s*%(?:\s+\w+)?", re.I)
PERCENT_FLAG = re.compile(r"(--?(?:percentage|percent|weight|pct)[=\s]+)(\d{1,3})\b", re.I)
TARGET_FLAG = re.compile(r"(--?(?:target|to|color|colour)[=\s]+)(\w+)", re.I)
TRAFFIC_WORDS = re.compile(r"traffic|tr[aá]fego|switch|shift|weight|canary", re.I)


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
    unit: str = ""
    action: str = "rollback"
    line: int = 0
    guessed: bool = False  # the metric's name came from the words, not from the known vocabulary

    def never_fires(self) -> str:
        """Why this guard can never trip, if so (a ratio above 100%, a percentage below 0...)."""
        top = {"ratio": 1.0, "percent": 100.0}.get(self.unit)
        if top is not None and self.op == "above" and self.value >= top:
            return f"{self.metric} can never be above {self.value:g} ({self.unit})"
        if top is not None and self.op == "below" and self.value <= 0:
            return f"{self.metric} can never be below {self.value:g}"
        return ""


METRICS: list[tuple[re.Pattern[str], str, str]] = [
    # Web Vitals first: "INP p75 < 200ms" is INP's, not a latency percentile; CLS is a unitless score.
    (re.compile(r"\bcls\b|cumulative layout shift", re.I), "web_vitals_cls", ""),
    (re.compile(r"\binp\b|interaction to next paint", re.I), "web_vitals_inp", "ms"),
    (re.compile(r"\blcp\b|largest contentful paint", re.I), "web_vitals_lcp", "ms"),
    (re.compile(r"\bfid\b|first input delay", re.I), "web_vitals_fid", "ms"),
    (re.compile(r"\bfcp\b|first contentful paint", re.I), "web_vitals_fcp", "ms"),
    (re.compile(r"\bttfb\b|time to first byte", re.I), "web_vitals_ttfb", "ms"),
    (re.compile(r"\bp(9[09]|50|75)\b|percentil\w* (9[09]|50|75)|(9[09]|50|75)(th)? percentile", re.I), "latency_p{}", "ms"),
    (re.compile(r"erro|error|falha de requisi|5xx|4xx", re.I), "error_rate", "ratio"),
    (re.compile(r"p95|percentil|percentile", re.I), "latency_p95", "ms"),
    (re.compile(r"(tempo de resposta|response time|lat[eê]ncia|latency).*(m[eé]di[oa]|average|avg|mean)|"
                r"(m[eé]di[oa]|average|avg|mean).*(tempo de resposta|response time|lat[eê]ncia|latency)", re.I),
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
_ABOVE = (r">=|≥|>|acima de|above|more than|mais de|maior que|greater than|higher than|exceeds?|excede\w*|over|"
          r"passar de|passa de|ultrapassar|ultrapassa|superar|supera")
_BELOW = r"<=|≤|<|abaixo de|below|less than|menos de|menor que|under"
CRITERION = re.compile(rf"^(?P<name>.*?)\s*(?P<op>{_ABOVE}|{_BELOW})\s*"
                       r"(?P<num>\d+(?:[.,]\d+)?)\s*(?P<unit>%|ms\b|s\b|seg\w*|sec\w*|min\w*)?(?P<rest>.*)$", re.I)
FOR_TEXT = re.compile(r"\b(?:por|for|durante|during|over|em|in|within|sustained for|sustentad\w* por)\s+"
                      r"(?:mais de\s+|more than\s+)?(\d+)\s*"
                      r"(?:\w+\s+)?(ms|s|seg\w*|sec\w*|min\w*|m|h|hora\w*|hour\w*)\b", re.I)
BARE_WINDOW = re.compile(r"(?<![/\w])(\d+)\s*(min\w*|m|s|seg\w*|sec\w*|h|hora\w*|hour\w*)\b", re.I)
PER_MINUTE = re.compile(r"(/|\bper\s+|\bpor\s+|\ba cada\s+)(min\w*)\b", re.I)
PAUSE_WORDS = re.compile(r"consider|considere|considerar|avaliar|evaluate|investigat|investigar|pause|pausar|"
                         r"hold the|segurar", re.I)
ROLLBACK_WORDS = re.compile(r"roll ?back|revert|reverter|reverta|abort|halt|desfazer|interromp|stop the (deploy|"
                            r"rollout)|parar o deploy", re.I)
ALERT_WORDS = re.compile(r"\balert|\bnotif|\bpage\b|alertar|avisar|\bwarn|escalat|escalar", re.I)


def action_of(text: str) -> str | None:
    """What the wording asks for: 'consider rolling back' pauses, 'roll back if' rolls back, 'alert' alerts."""
    if PAUSE_WORDS.search(text):
        return "pause"
    if ROLLBACK_WORDS.search(text):
        return "rollback"
    if ALERT_WORDS.search(text):
        return "alert"
    return None


RELATIVE = re.compile(r"baseline|compared|comparad|relative|relativ|em relacao|increase[sd]? by|aument\w* (de|em)|"
                      r"\bvs\.?\b|\b\d+(\.\d+)?x\b|times (the|as)|vezes", re.I)
CONDITION = re.compile(r"\b(if|when|se|quando|caso)\s+", re.I)
_SIZES = {"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "kib": 2.0**10, "mib": 2.0**20, "gib": 2.0**30, "tib": 2.0**40}


def parse_criterion(text: str, loose_window: bool = False) -> GuardOut | None:
    """A measurable criterion ("Error rate > 2% for 5 minutes") as a guard, None when there is nothing to
    measure. `loose_window`: a bare duration counts as the window (table cells: | p95 | > 2s | 5 min |).
    Relative thresholds ("2x baseline", "20% above the baseline") and durations ("lasts more than 10 min")
    are not measurable here: None, so a human judges them."""
    plain = unmark(text).strip()
    if RELATIVE.search(fold(plain)):
        return None
    # "stay below 1% — if error rate > 1% for 5 min, abort": the condition after "if" is the trigger.
    conditions = [m.end() for m in CONDITION.finditer(plain)]
    for start in [*reversed(conditions), 0]:
        got = _criterion_at(plain[start:], plain, loose_window)
        if got is not None:
            return got
    return None


def _criterion_at(part: str, plain: str, loose_window: bool) -> GuardOut | None:
    part = re.sub(r"^(is|o|a|the)\s+", "", part, flags=re.I)
    m = CRITERION.match(part)
    if not m:
        return None
    name, rest = m.group("name").strip(), m.group("rest") or ""
    if not re.search(r"[a-z0-9]", fold(name)):  # "more than 50 errors per minute": the name follows
        name = rest
    if not re.search(r"[a-z]", fold(name)):
        return None
    metric, unit = None, ""
    for rx, mt, u in METRICS:
        if hit := rx.search(name):
            groups = [g for g in hit.groups() if g and g.isdigit()]
            metric, unit = (mt.format(groups[0]) if "{}" in mt and groups else mt.replace("{}", "95")), u
            break
    u = (m.group("unit") or "").lower()
    num = m.group("num")
    size = re.match(r"\s*(k|kb|mb|gb|tb|kib|mib|gib|tib)\b", rest, re.I)
    per_minute = PER_MINUTE.search(name) or PER_MINUTE.search(rest[:20]) or (u.startswith("min") and m.group("unit")
                                                                              and rest.strip().startswith(("/",)))
    if per_minute:  # a count per minute is a count, never a ratio
        base = (metric or re.sub(r"[^a-z0-9]+", "_", fold(name)).strip("_"))
        metric, unit = base.replace("error_rate", "errors").removesuffix("_per_min") + "_per_min", "count"
        u = ""
    if metric is None:
        if u and u[0] in "smh" and not u.startswith("ms"):
            return None  # "the crash loop lasts more than 10 minutes": a duration, not a metric's value
        slug = re.sub(r"[^a-z0-9]+", "_", fold(name)).strip("_")[:40]
        if not slug:
            return None
        metric, unit = slug, ("percent" if u == "%" else "")  # "adoption above 20%": 20 percent, not 20
    guessed = unit in ("", "percent") and metric not in {m for _, m, _ in METRICS}
    if re.fullmatch(r"\d{1,3}([.,]\d{3})+", num) and u != "%" and (unit in ("count", "") or size):
        value = float(re.sub(r"[.,]", "", num))  # "1,000 errors" / "1.000 erros": thousands, not one
    else:
        value = float(num.replace(",", "."))
    if size and size.group(1).lower() == "k":
        value *= 1000  # "queue depth > 10k"
    elif size:  # "memory > 8 GB": a size in bytes, not a percentage
        value, unit = value * _SIZES[size.group(1).lower()], "bytes"
    if unit == "ratio":
        value = value / 100 if u == "%" or not u else value
    elif unit == "ms" and u and not u.startswith("ms"):
        value = value * 1000 if u.startswith("s") else value * 60_000
    op = "above" if re.fullmatch(_ABOVE, m.group("op"), re.I) else "below"
    window = None
    if (f := FOR_TEXT.search(rest)) or loose_window and (f := BARE_WINDOW.search(rest)):
        window = seconds_of(f.group(1), f.group(2))
    return GuardOut(metric, op, round(value, 6), window, plain, unit, action_of(plain) or "rollback",
                    guessed=guessed)


# ---------------------------------------------------------------- the import


@dataclass
class StepOut:
    kind: str  # run | shift | bake | gate
    value: str | int | float
    description: str = ""
    line: int = 0


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
class Unused:
    """Something the importer read but did not turn into the plan's structure: listed in the summary."""

    line: int
    what: str
    text: str


@dataclass
class ImportResult:
    yaml_text: str
    summary: list[str]
    loaded: LoadedPlan


def _plain(text: str) -> str:
    return re.sub(r"\s+", " ", unmark(text)).strip()


class _Importer:
    def __init__(self, text: str, file: str) -> None:
        self.file = file
        self.root = parse_sections(text)
        self.phases: list[PhaseOut] = []
        self.guards: list[GuardOut] = []
        self.gates: list[tuple[str, int]] = []
        self.schedule: list[dict[str, str]] = []
        self.loose_notes: list[str] = []
        self.counts: dict[str, int] = {}
        self.unused: list[Unused] = []
        self.traffic_template = ""
        self.rollback_command = ""
        self.parents: dict[int, str] = {}  # id(phase) -> the title of the section above it

    # -------------------------------------------------- phases

    def run(self) -> None:
        self._loose(self.root)  # text before the first heading
        tops = self.root.children
        title = ""
        if len(tops) == 1 and tops[0].level == 1:
            title = tops[0].title
            self._loose(tops[0], heading=False)
            tops = tops[0].children
        self.name = clean_title(title) if title else Path(self.file).stem
        everything = [s for t in tops for s in t.walk() if not self._reference(s)]
        explicit = [s for s in everything if PHASE_HEADING.match(clean_title(s.title)) or PHASE_HEADING.match(s.title)]
        self.phase_level = min((s.level for s in explicit), default=0)
        for sec in tops:
            self._visit(sec, explicit)
        if not self.phases:
            self.phases.append(PhaseOut(self.name, 1))
        self._unique_names()
        first = self.phases[0]
        first.notes = self.loose_notes + first.notes
        self._apply_schedule()
        self._place_gates()

    def _unique_names(self) -> None:
        """'Backend › Deploy' and 'Frontend › Deploy', not two phases called 'Deploy'; the line if still not."""
        counts = Counter(p.name for p in self.phases)
        for ph in self.phases:
            if counts[ph.name] > 1 and (parent := self.parents.get(id(ph))):
                ph.name = f"{parent} › {ph.name}"
        counts = Counter(p.name for p in self.phases)
        for ph in self.phases:
            if counts[ph.name] > 1:
                ph.name = f"{ph.name} (line {ph.line})"

    def _reference(self, sec: Section) -> bool:
        """The whole title names reference material ('Rollback procedure', 'Contatos'): 'Rollback rehearsal
        in staging' or 'Reverse proxy cutover' are work."""
        title = re.sub(r"\s*\(.*?\)\s*", " ", fold(clean_title(sec.title))).strip()
        return bool(REFERENCE_TITLE.match(title))

    def _visit(self, sec: Section, explicit: list[Section]) -> None:
        if self._reference(sec):
            self._reference_section(sec)
        elif explicit:
            if sec in explicit and sec.level == self.phase_level:
                self._phase(sec)
            elif any(e in explicit for e in sec.walk()[1:]):  # a group of phases
                self._loose(sec)
                for child in sec.children:
                    self._visit(child, explicit)
            elif any(self._holds_work(s) for s in sec.walk() if not self._reference(s)):
                self._phase(sec)  # work outside the named phases is a phase of its own, never dropped
            else:
                for s in sec.walk():
                    self._reference_section(s, recurse=False) if self._reference(s) else self._loose(s)
        elif self._holds_work(sec):
            self._phase(sec)  # the level that directly holds the work; its subsections are groups
        else:
            self._loose(sec)  # a group: its children may be phases
            for child in sec.children:
                self._visit(child, explicit)

    def _holds_work(self, sec: Section) -> bool:
        """Checkboxes, shell commands, a numbered procedure, traffic moves or waits directly in it, or a choice
        between alternatives (Option A / Option B) as its subsections."""
        if sum(bool(OPTION_TITLE.match(fold(clean_title(c.title)))) for c in sec.children) >= 2:
            return True
        if ACCEPTANCE_TITLE.search(fold(sec.title)) and not any(b.checked is not None for b in sec.blocks):
            return False
        for b in sec.blocks:
            if b.kind == "item" and (b.checked is not None or b.ordered):
                return True
            if b.kind == "fence" and b.lang in SHELL_LANGS - {""} and not self._expected_output(sec, b):
                return True
            if b.kind in ("item", "para") and (PERCENT_PROSE.search(b.text) or WAIT_TEXT.search(b.text)):
                return True
        return False

    def _notes(self, sec: Section, target: list[str], heading: bool = False) -> None:
        if heading and sec.title:
            target.append(f"[{clean_title(sec.title)}]")
        for b in sec.blocks:
            if b.kind == "table":
                target += [" | ".join(r) for r in b.rows]
            elif b.kind == "fence":
                target += ["    " + ln.rstrip() for ln in b.text.splitlines() if ln.strip()]
            elif b.text:
                target.append(("  " * b.depth + "- " if b.kind == "item" else "") + b.text)

    def _notes_target(self) -> list[str]:
        return self.phases[-1].notes if self.phases else self.loose_notes

    def _loose(self, sec: Section, heading: bool = True) -> None:
        """A section that is not a phase: schedule tables, criteria, and its text as notes."""
        self._collect_tables(sec)
        self._scan_criteria(sec)
        self._notes(sec, self._notes_target(), heading=heading)

    def _phase(self, sec: Section) -> None:
        optional = " (optional)" if OPTIONAL_TITLE.search(fold(sec.title)) else ""
        ph = PhaseOut(clean_title(sec.title) + optional, sec.line)
        if m := TIME_RANGE.search(sec.title):
            h1, m1, h2, m2 = (int(x) for x in m.groups())
            ph.start = f"{h1:02d}:{m1:02d}"
            ph.duration = ((h2 * 60 + m2) - (h1 * 60 + m1)) % (24 * 60) * 60 or None
        self.phases.append(ph)
        if sec.parent is not None and sec.parent.title:
            self.parents[id(ph)] = clean_title(sec.parent.title)
        self._content(sec, ph, group="")
        options = [c for c in sec.children if OPTION_TITLE.match(fold(clean_title(c.title)))]
        if len(options) >= 2:  # alternatives: one is done, not all in a row
            names = " / ".join(clean_title(o.title) for o in options)
            ph.steps.append(StepOut("gate", f"Choose one and do it (its steps are in the notes): {names} — done?",
                                    names, options[0].line))
            self._count("choices between alternatives")
        for child in sec.children:
            for s in child.walk():
                if self._reference(s):
                    self._reference_section(s, recurse=False)
                elif any(o in s.ancestors() or o is s for o in options):
                    ph.notes.append(f"[{clean_title(s.title)}] (one of the alternatives)")
                    self._notes(s, ph.notes)
                else:
                    self._content(s, ph, group=clean_title(s.title))

    def _reference_section(self, sec: Section, recurse: bool = True) -> None:
        """Rollback, emergency, contacts, appendix: notes for the operator, criteria become guards."""
        for s in sec.walk() if recurse else [sec]:
            target = self._notes_target()
            target.append(f"[{clean_title(s.title)}] (reference, not run as steps)")
            self._collect_tables(s)
            self._scan_criteria(s)
            for b in s.blocks:
                if b.kind == "fence":
                    for ln in b.text.splitlines():
                        if (m := PERCENT_FLAG.search(ln)) and TRAFFIC_WORDS.search(ln) and not self.rollback_command:
                            t = TARGET_FLAG.search(ln)
                            if t and t.group(2).lower() == "blue" and m.group(2) == "100":
                                self.rollback_command = ln.strip()
            self._notes(s, target)

    # -------------------------------------------------- criteria

    def _criteria_context(self, sec: Section) -> tuple[bool, str | None]:
        """(criteria listed here are triggers, the action the heading names) from the section and its parents."""
        for s in [sec, *sec.ancestors()]:
            title = fold(clean_title(s.title))
            if ACCEPTANCE_TITLE.search(title):
                return False, None
            if CRITERIA_TITLE.search(title):
                return True, action_of(title) or ("rollback" if TRIGGER_TITLE.search(title) else None)
        return False, None

    def _scan_criteria(self, sec: Section) -> None:
        listed, heading_action = self._criteria_context(sec)
        lead: str | None = None  # "the system pauses the rollout if any of:": the action of the list after it
        for b in sec.blocks:
            if b.kind == "item":
                self._criterion(b.text, b.line, listed or lead is not None, lead or heading_action, False)
                continue
            lead = None
            if b.kind == "para":
                for line, sentence in _sentences(b):
                    self._criterion(sentence, line, listed, heading_action, False)
                if b.text.rstrip().endswith(":") and CONDITION.search(_plain(b.text)):
                    lead = action_of(_plain(b.text))
            elif b.kind == "table":
                for text, line in _data_rows(b):
                    self._criterion(text, line, listed, heading_action, True)

    def _criterion(self, text: str, line: int, listed: bool, heading_action: str | None, loose: bool) -> bool:
        """A trigger becomes a guard (measurable) or a gate (listed under criteria, not measurable).
        'error rate > 2% or p99 > 1s' is two guards."""
        said = action_of(_plain(text))
        if not listed and said is None:
            return False
        parts = re.split(rf"\s+(?:or|ou|and|e)\s+(?=[^.;]*?(?:{_ABOVE}|{_BELOW})\s*\d)", _plain(text))
        if len(parts) > 1:
            found = [self._one_criterion(f"{p} ({said})" if said and not action_of(p) else p, line, listed,
                                         heading_action, loose) for p in parts]
            return any(found)
        return self._one_criterion(text, line, listed, heading_action, loose)

    def _one_criterion(self, text: str, line: int, listed: bool, heading_action: str | None, loose: bool) -> bool:
        said = action_of(_plain(text))
        guard = parse_criterion(text, loose_window=loose)
        if guard is None:
            if listed and b_is_sentence(text):
                self.gates.append((_plain(text), line))
                return True
            if listed and _plain(text):
                self.unused.append(Unused(line, "criterion not understood (kept as a note)", _plain(text)))
            return False
        if not (said or heading_action):  # a goal ("adoption above 20%") is not a trigger: a person judges it
            self.unused.append(Unused(line, "criterion that names no action (a goal, or a trigger to judge): kept as "
                                            "a note", _plain(text)))
            return False
        guard.action = said or heading_action or "rollback"
        guard.line = line
        if (guard.metric, guard.op, guard.value) in {(g.metric, g.op, g.value) for g in self.guards}:
            return True
        self.guards.append(guard)
        return True

    # -------------------------------------------------- content of a phase

    def _content(self, sec: Section, ph: PhaseOut, group: str) -> None:
        if NOT_STEPS_TITLE.search(fold(clean_title(sec.title))):
            # Messages to send and controls to use if needed are reference for the night, not its steps.
            ph.notes.append(f"({clean_title(sec.title)}: kept as notes, not steps)")
            for b in sec.blocks:
                ph.notes += [" | ".join(r) for r in b.rows] if b.kind == "table" else [
                    ln.rstrip() for ln in b.text.splitlines() if ln.strip()]
            self._count("sections of messages or controls kept as notes")
            return
        schedules = self._collect_tables(sec)
        listed, heading_action = self._criteria_context(sec)
        optional = bool(OPTIONAL_TITLE.search(fold(sec.title))) and bool(group)
        prefix = f"[{group}] " if group else ""
        if optional:
            prefix += "(optional) "
        if group:
            ph.notes.append(f"— {group}" + (" (optional)" if optional else ""))
        for b in sec.blocks:
            if b.kind == "fence":
                if self._expected_output(sec, b):
                    ph.notes.append("expected output:")
                    ph.notes += ["    " + ln.rstrip() for ln in b.text.splitlines() if ln.strip()]
                    self._count("expected-output blocks kept as notes")
                else:
                    self._fence(b, ph, "(optional) " if optional else "")
                continue
            if b.kind == "table":
                if id(b) not in schedules:
                    used = [self._criterion(text, line, listed, heading_action, True) for text, line in _data_rows(b)]
                    if not any(used):
                        ph.notes += [" | ".join(r) for r in b.rows]
                continue
            if b.kind == "html" or not b.text:
                continue
            if b.kind == "para":
                for line, sentence in _sentences(b):
                    if self._criterion(sentence, line, listed, heading_action, False):
                        ph.notes.append(_plain(sentence))
                    elif not self._prose_step(sentence, ph, ordered=False, line=line):
                        ph.notes.append(sentence)
                continue
            if self._criterion(b.text, b.line, listed, heading_action, False):
                ph.notes.append(_plain(b.text))
                continue
            if b.kind == "item" and b.checked is not None:
                if not self._prose_step(b.text, ph, ordered=False, line=b.line):  # "[ ] Switch 20% of traffic"
                    ph.checklist.append((prefix + b.text, b.checked))
                    self._count("checklist items")
            elif b.kind == "item" and b.ordered:
                self._prose_step(b.text, ph, ordered=True, line=b.line)
            elif not self._prose_step(b.text, ph, ordered=False, line=b.line):
                ph.notes.append(("  " * b.depth + "- " if b.kind == "item" else "") + b.text)
        last = max((i for i, st in enumerate(ph.steps) if st.kind == "shift"), default=None)
        if ph.stay is not None and last is not None and not any(st.kind == "bake" for st in ph.steps[last:]):
            seconds, said, line = ph.stay  # a stage that shifts and lasts N holds its weight for N
            ph.steps.append(StepOut("bake", seconds, said, line))
            self._count("bake steps")

    def _expected_output(self, sec: Section, b: Block) -> bool:
        if b.lang in OUTPUT_LANGS:
            return True
        i = sec.blocks.index(b)
        before = sec.blocks[i - 1] if i else None
        return before is not None and before.kind == "para" and bool(EXPECTED_TEXT.search(fold(before.text)))

    def _prose_step(self, text: str, ph: PhaseOut, ordered: bool, line: int) -> bool:
        plain = _plain(text)
        if REPORT_TEXT.search(plain):  # "HH:MM: 10% of traffic shifted": a message to send, not a step to take
            return False
        if self._chain(plain, ph, line):
            return True
        if m := STAGE_DURATION.match(plain):
            ph.stay = (seconds_of(m.group(1), m.group(2)), plain, line)
            ph.notes.append(plain)
            return True
        if m := PERCENT_PROSE.search(plain):
            pct = int(m.group(1) or m.group(2))
            if 0 <= pct <= 100:
                ph.steps.append(StepOut("shift", pct, plain, line))
                self._count("shift steps")
                return True
        if m := WAIT_TEXT.search(plain):
            ph.steps.append(StepOut("bake", seconds_of(m.group(2), m.group(3)), plain, line))
            self._count("bake steps")
            return True
        if ordered:
            ph.steps.append(StepOut("gate", f"Done: {plain}?", plain, line))
            self._count("gate steps (procedure items)")
            return True
        return False

    def _chain(self, plain: str, ph: PhaseOut, line: int) -> bool:
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
                steps.append(StepOut("shift", pct, link, line))
            elif m := WAIT_TEXT.search(link):
                steps.append(StepOut("bake", seconds_of(m.group(2), m.group(3)), link, line))
            else:
                return False
        if not any(st.kind == "shift" for st in steps):
            return False
        ph.steps += steps
        for st in steps:
            self._count("shift steps" if st.kind == "shift" else "bake steps")
        return True

    def _fence(self, b: Block, ph: PhaseOut, optional: str) -> None:
        lines = b.text.splitlines()
        if b.lang not in SHELL_LANGS:
            ph.notes.append(f"({b.lang} block of {len(lines)} lines kept out of the plan)")
            ph.notes += ["    " + ln.rstrip() for ln in lines if ln.strip()]
            self._count(f"{b.lang} blocks kept as notes")
            return
        if b.lang == "console" or any(ln.lstrip().startswith("$ ") for ln in lines):
            lines = [ln.lstrip()[2:] for ln in lines if ln.lstrip().startswith(("$ ", "#"))]  # prompts only
        elif not b.lang and not all(_reads_as_command(ln) for ln in lines if ln.strip() and not ln.lstrip().startswith("#")):
            # A fence that names no language and does not read as commands: an e-mail, a checklist, prose.
            ph.notes.append(f"(text block of {len(lines)} lines kept out of the plan: it does not read as commands)")
            ph.notes += ["    " + ln.rstrip() for ln in lines if ln.strip()]
            self._count("text blocks kept as notes")
            return
        if _is_script(lines):  # a script is one step: its lines only make sense together
            first = next((ln.lstrip("# ").strip() for ln in lines
                          if ln.strip().startswith("#") and not ln.strip().startswith("#!")), "")
            remote = next((m.group(1) for ln in lines if (m := re.match(r"\s*ssh\s+([^\s'\"]+)\s*$", ln))), "")
            if remote and not first:  # by hand: run as one local script, the lines after it would not reach it
                first = f"the lines after `ssh {remote}` are meant to run on {remote}"
            script = "\n".join(ln.rstrip() for ln in lines).strip()
            ph.steps.append(StepOut("run", script, optional + (first or "script: its lines share one shell"), b.line))
            self._count("run steps (manual)")
            return
        comment: list[str] = []
        joined: list[tuple[str, int]] = []
        for n, raw in enumerate(lines):
            line = raw.strip()
            if joined and joined[-1][0].endswith("\\"):
                joined[-1] = (joined[-1][0][:-1].rstrip() + " " + line, joined[-1][1])
                continue
            joined.append((line, b.line + 1 + n))
        for line, n in joined:
            if not line:
                comment = []
                continue
            if line.startswith("#"):
                comment.append(line.lstrip("#").strip())
                continue
            description = optional + " — ".join(comment)
            comment = []
            self._command(line, description, ph, n)
        if comment:  # a trailing comment with no command: maybe a wait
            text = " — ".join(comment)
            if not self._prose_step(text, ph, ordered=False, line=b.line):
                ph.notes.append(f"# {text}")

    def _command(self, line: str, description: str, ph: PhaseOut, n: int) -> None:
        if m := re.fullmatch(r"sleep\s+(\d+)([smh]?)", line):
            seconds = float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]
            ph.steps.append(StepOut("bake", seconds, description or line, n))
            self._count("bake steps")
            return
        if (m := PERCENT_FLAG.search(line)) and TRAFFIC_WORDS.search(line):
            pct = int(m.group(2))
            target = TARGET_FLAG.search(line)
            if 0 <= pct <= 100:
                green = 100 - pct if target and target.group(2).lower() == "blue" else pct
                if not self.traffic_template:  # the runbook's own command drives traffic, by hand until enabled
                    tmpl = PERCENT_FLAG.sub(lambda x: x.group(1) + "{target_percent}", line.replace("{", "{{")
                                            .replace("}", "}}"), count=1)
                    self.traffic_template = TARGET_FLAG.sub(lambda x: x.group(1) + "{target}", tmpl, count=1)
                ph.steps.append(StepOut("shift", green, f"{description} (was: {line})".strip(), n))
                self._count("shift steps")
                return
        ph.steps.append(StepOut("run", line, description, n))
        self._count("run steps (manual)")

    # -------------------------------------------------- schedule

    def _collect_tables(self, sec: Section) -> set[int]:
        """Schedule tables of the section, read into the schedule; their ids."""
        return {id(b) for b in sec.blocks if b.kind == "table" and len(b.rows) >= 2 and self._table(b)}

    def _table(self, b: Block) -> bool:
        header = [fold(c) for c in b.rows[0]]
        cols: dict[str, int] = {}
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
            return False
        for row in b.rows[1:]:
            entry = {k: row[i] for k, i in cols.items() if i < len(row)}
            entry["line"] = str(b.line)
            self.schedule.append(entry)
        self._count("schedule rows")
        return True

    def _apply_schedule(self) -> None:
        taken: set[int] = set()
        for entry in self.schedule:
            line = int(entry.pop("line", "0"))
            ph = self._match_phase(entry, taken)
            if ph is None:
                self.unused.append(Unused(line, "schedule row without a matching phase", " | ".join(entry.values())))
                self.phases[0].notes.append("schedule row without a matching phase: " + " | ".join(entry.values()))
                continue
            taken.add(id(ph))
            if entry.get("owner"):
                ph.owner = unmark(entry["owner"]).strip()
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
        for j, (text, line) in enumerate(self.gates):
            step = StepOut("gate", f"Rollback criterion, checked by a human: {text} — all clear?", text, line)
            target.steps.insert(last_traffic + 1 + j, step)
        self._count("gates from unmeasurable criteria", len(self.gates))

    def _count(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n


THRESHOLD_COLUMNS = (("rollback", re.compile(r"roll ?back|revert|abort|halt|kill")),
                     ("alert", re.compile(r"alert|warn|aviso|atencao|attention")))
TARGET_COLUMN = re.compile(r"target|goal|meta|objetivo|esperado|expected|normal|ok\b|saudavel|healthy")
WINDOW_COLUMN = re.compile(r"window|janela|ventana|for\b|por\b|duration|duracao|duracion|tempo|time")


def _data_rows(b: Block) -> list[tuple[str, int]]:
    """A table's rows below the header, each as one line of text with its own source line. A table whose columns
    are thresholds (| KPI | target | alert | rollback |) gives one criterion per threshold cell, with the action
    its column names and the row's window; a target is a goal, never a trigger."""
    header = [fold(c) for c in b.rows[0]] if b.rows else []
    actions = {i: action for i, h in enumerate(header) for action, rx in THRESHOLD_COLUMNS if rx.search(h)}
    rows = list(zip(b.rows[1:], b.row_lines[1:], strict=True))
    if not actions:
        return [(" ".join(r), line) for r, line in rows]
    window = next((i for i, h in enumerate(header) if i and WINDOW_COLUMN.search(h) and i not in actions
                   and not TARGET_COLUMN.search(h)), None)
    out = []
    for r, line in rows:
        for i, action in sorted(actions.items()):
            if i < len(r) and r[i].strip() and r[0].strip():
                span = f" for {r[window]}" if window is not None and window < len(r) and r[window].strip() else ""
                out.append((f"{r[0]} {r[i]}{span} ({action})", line))
    return out


def _sentences(b: Block) -> list[tuple[int, str]]:
    """A paragraph's sentences, each with the line it starts on."""
    out = []
    for m in re.finditer(r"\S.*?(?:[.;!?](?=\s|$)|$)", b.text, re.S):
        out.append((b.line + b.text[:m.start()].count("\n"), m.group(0).strip()))
    return out


def b_is_sentence(text: str) -> bool:
    """A criterion a human can judge: words, not a bare link or a lone symbol."""
    return len(re.findall(r"[a-z]{3,}", fold(text))) >= 2


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def render(imp: _Importer, repair: str | None) -> tuple[str, list[str]]:
    out = [f"# Imported by `shipdeck import` from {Path(imp.file).name}.",
           "# Review before a real night. Commands are `manual: true` (shown, never executed) and traffic is",
           "# moved by hand until you enable it; metrics are not connected until you point them at a source."]
    if repair:
        out.append(f"# Encoding repaired: {repair}.")
    traffic = "{type: command, manual: true"
    if imp.traffic_template:
        traffic += f", shift: {_q(imp.traffic_template)}"
    if imp.rollback_command:
        traffic += f", rollback: {_q(imp.rollback_command.replace('{', '{{').replace('}', '}}'))}"
    why = ("the runbook's own traffic command, shown and run by hand until you set manual: false"
           if imp.traffic_template else "no traffic command in the runbook: each shift is done by hand")
    out += ["version: 1", f"name: {_q(imp.name)}", "", "backends:", f"  traffic: {traffic}}}  # {why}"]
    if imp.guards:
        out.append("  metrics: [{name: runbook, type: unconnected}]  # no metrics source in the runbook")
        out += ["", "metrics:"]
        for name in dict.fromkeys(g.metric for g in imp.guards):
            unit = next(g.unit for g in imp.guards if g.metric == name)
            out.append(f"  {name}: {{source: runbook, unit: {_q(unit)}}}")
        out += ["", "guards:" if any(not g.never_fires() for g in imp.guards) else "guards: []"]
        for g in imp.guards:
            window = g.window if g.window is not None else 60.0
            notes = [f"runbook line {g.line}"] + ([] if g.window is not None else ["no duration given: 1m assumed"])
            never = g.never_fires()
            if never:  # `check` refuses a threshold the metric can never cross: it stays a comment
                notes.append(f"NEVER FIRES, left out: {never}")
            out.append(f"  # from: {g.source_text}")
            out.append(f"  {'# ' if never else ''}- {{metric: {g.metric}, {g.op}: {g.value:g}, "
                       f"for: {format_duration(window)}, action: {g.action}, no_data: ignore}}  # " + "; ".join(notes))
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
                at = f"line {st.line}" if st.line else ""
                if st.kind == "run":
                    desc = f", description: {_q(st.description)}" if st.description else ""
                    out.append(f"      - run: {{command: {_q(str(st.value))}, manual: true{desc}}}  # {at}")
                elif st.kind == "shift":
                    out.append(f"      - shift: {st.value}  # {at}: {st.description[:100]}")
                elif st.kind == "bake":
                    out.append(f"      - bake: {format_duration(float(st.value))}  # {at}: {st.description[:100]}")
                else:
                    out.append(f"      - gate: {_q(str(st.value))}  # {at}")
        if ph.notes:
            out.append("    notes:")
            out += [f"      - {_q(n)}" for n in ph.notes]
    summary = [f"{len(imp.phases)} phases: " + ", ".join(f"{p.name} (line {p.line})" for p in imp.phases)]
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
        summary.append(f"guard (line {g.line}, {g.action}): {g.metric} {g.op} {g.value:g}"
                       + (f" for {format_duration(g.window)}" if g.window else " (for: 1m assumed)")
                       + (" (metric name guessed from the words)" if g.guessed else "")
                       + f"  ← {g.source_text!r}")
        if never := g.never_fires():
            summary.append(f"guard that can never fire (line {g.line}): {never}")
    if imp.guards:
        summary.append(f"guards are NOT CONNECTED: no metrics source in the runbook; point metrics at one "
                       f"(backends.metrics) before trusting them ({len(imp.guards)} guards)")
    for text, line in imp.gates:
        summary.append(f"gate (line {line}, not measurable): {text!r}")
    if imp.traffic_template:
        summary.append(f"traffic: the runbook's command, by hand until enabled: {imp.traffic_template}")
    elif any(s.kind == "shift" for p in imp.phases for s in p.steps):
        summary.append("traffic: no traffic command in the runbook: each shift is done by hand and confirmed")
    for u in imp.unused:
        summary.append(f"not used (line {u.line}): {u.what}: {u.text}")
    if repair:
        summary.append(f"encoding: {repair}")
    head = 4 if repair else 3  # the summary goes right after the header comment, before the plan
    out[head:head] = ["# Import summary:", *[f"#   {s}" for s in summary], ""]
    return "\n".join(out) + "\n", summary


def import_text(text: str, file: str) -> ImportResult:
    fixed, repair = repair_encoding(text)
    imp = _Importer(fixed, file)
    imp.run()
    yaml_text, summary = render(imp, repair)
    try:
        loaded = load_plan_text(yaml_text, file)
    except PlanError as e:  # an importer bug, but the operator still reads runbook lines, not YAML ones
        raise PlanError([_at_runbook_line(i, yaml_text) for i in e.issues]) from None
    # Findings about the plan (check's warnings, a backend's preflight) point at the runbook's lines.
    lines = _runbook_lines(yaml_text)
    positions = {path: (lines.get(line, 1) - 1, 0) for path, (line, _col) in loaded.positions.items()}
    return ImportResult(yaml_text, summary, dataclasses.replace(loaded, positions=positions))


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
