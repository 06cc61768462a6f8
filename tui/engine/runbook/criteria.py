"""Criteria -> guards: a sentence, an item or a table row read as metric, direction, threshold, window, action."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tui.engine.runbook.read import Block
from tui.engine.runbook.words import fold, seconds_of, unmark


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
    rule: str = ""  # what made it a trigger: its own words, the heading, a threshold column

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
ABOVE = (r">=|≥|>|acima de|above|more than|mais de|maior que|greater than|higher than|exceeds?|excede\w*|over|"
          r"passar de|passa de|ultrapassar|ultrapassa|superar|supera|superior al?|mayor que|mayor a|m[aá]s de|"
          r"plus de|sup[eé]rieure? [aà]")
BELOW = r"<=|≤|<|abaixo de|below|less than|menos de|menor que|menor a|inferior al?|under|moins de|inf[eé]rieure? [aà]"
CRITERION = re.compile(rf"^(?P<name>.*?)\s*(?P<op>{ABOVE}|{BELOW})\s*"
                       r"(?P<num>\d+(?:[.,]\d+)?)\s*(?P<unit>%|ms\b|s\b|seg\w*|sec\w*|min\w*)?(?P<rest>.*)$", re.I)
FOR_TEXT = re.compile(r"\b(?:por|for|durante|during|over|em|in|within|sustained for|sustentad\w* por)\s+"
                      r"(?:mais de\s+|more than\s+|at least\s+|pelo menos\s+|al menos\s+|[>≥]=?\s*)?(\d+)\s*"
                      r"(?:\w+\s+)?(ms|s|seg\w*|sec\w*|min\w*|m|h|hora\w*|hour\w*)\b", re.I)
BARE_WINDOW = re.compile(r"(?<![/\w])(\d+)\s*(min\w*|m|s|seg\w*|sec\w*|h|hora\w*|hour\w*)\b", re.I)
DEADLINE = re.compile(r"\b(?:roll ?back|rollback|revert\w*|reverter|act|respond\w*|evaluate|avaliar|evaluar|"
                      r"fix|corrigir|hotfix)\s+(?:in|within|en|em|dentro de|no m[aá]ximo em|ate)\s+\d+\s*\w+", re.I)
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
                      r"\bvs\.?\b|\b\d+(\.\d+)?x\b|times (the|as)|vezes|\b(stable|estable|estavel|control)\s*[+*x]?\s*\d|"
                      r"%\s*(of |de |do |da )?(the )?(stable|estable|estavel|control|production|producao|produccion)\b",
                      re.I)
_TIMES = re.compile(r"\d(?:[.,]\d+)?\s*×")  # "<2× normal rate": fold() drops the sign, so it is read before


def relative(text: str) -> bool:
    """The bound is relative to something else (a baseline, the stable version, a multiple of the normal)."""
    return bool(RELATIVE.search(fold(text)) or _TIMES.search(text))


CONDITION = re.compile(r"\b(if|when|se|quando|caso|si|cuando|lorsque|falls|wenn)(\s+|\s*:\s*$)", re.I)
# The way a known metric goes wrong: "error rate < 1%" says what healthy is, so it is a goal, never a trigger.
WORSE = {"availability": "below", "rps": "below"}  # the others are worse when higher
_SIZES = {"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "kib": 2.0**10, "mib": 2.0**20, "gib": 2.0**30, "tib": 2.0**40}


def parse_criterion(text: str, loose_window: bool = False) -> GuardOut | None:
    """A measurable criterion ("Error rate > 2% for 5 minutes") as a guard, None when there is nothing to
    measure. `loose_window`: a bare duration counts as the window (table cells: | p95 | > 2s | 5 min |).
    Relative thresholds ("2x baseline", "20% above the baseline") and durations ("lasts more than 10 min")
    are not measurable here: None, so a human judges them."""
    plain = unmark(text).strip()
    if relative(plain):
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
    if u == "%" and unit not in ("ratio", "percent", ""):
        return None  # "p95 latency regression > 20%", "throughput drop > 10%": a change, not the metric's value
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
    op = "above" if re.fullmatch(ABOVE, m.group("op"), re.I) else "below"
    window = None
    rest = DEADLINE.sub(" ", rest)  # "roll back within 15 min": how soon to act, not how long to watch
    if (f := FOR_TEXT.search(rest)) or loose_window and (f := BARE_WINDOW.search(rest)):
        window = seconds_of(f.group(1), f.group(2))
    return GuardOut(metric, op, round(value, 6), window, plain, unit, action_of(plain) or "rollback",
                    guessed=guessed)



THRESHOLD_COLUMNS = (("rollback", re.compile(r"roll ?back|revert|abort|halt|kill")),
                     ("alert", re.compile(r"alert|warn|aviso|atencao|attention")))
TARGET_COLUMN = re.compile(r"target|goal|meta|objetivo|esperado|expected|normal|ok\b|saudavel|healthy")
WINDOW_COLUMN = re.compile(r"window|janela|ventana|for\b|por\b|duration|duracao|duracion|tempo|time")


def data_rows(b: Block) -> list[tuple[str, int, bool]]:
    """A table's rows below the header, each as one line of text with its own source line. A table whose columns
    are thresholds (| KPI | target | alert | rollback |) gives one criterion per threshold cell, with the action
    its column names and the row's window; a target is a goal, never a trigger, and a table of targets alone
    gives each row as "name: target", and any other cell of it that states a bound as "name cell". The third
    item says whether a bare duration in the text is the window (a row joined from its cells: | p95 | > 2s |
    5 min |), or only one written as such ("for 5 minutes")."""
    header = [fold(c) for c in b.rows[0]] if b.rows else []
    # the first column names the row ("| Alert | Threshold | Severity |"): a threshold column is one after it
    actions = {i: action for i, h in enumerate(header) for action, rx in THRESHOLD_COLUMNS if i and rx.search(h)}
    rows = list(zip(b.rows[1:], b.row_lines[1:], strict=True))
    out: list[tuple[str, int, bool]] = []
    target = next((i for i, h in enumerate(header) if i and TARGET_COLUMN.search(h)), None)
    if not actions and target is not None:  # | Metric | Target | Actual |: "latency: < 3s" reads as the goal it is
        for r, line in rows:
            if target < len(r) and r[target].strip():
                out.append((f"{r[0]}: {r[target]}", line, True))
            # another cell that states a bound ("Investigar si < 90% baseline", "Rollback si > 3s") is its own item
            out += [(f"{r[0]} {c}", line, False) for i, c in enumerate(r) if i not in (0, target)
                    and re.search(r"[<>≤≥]\s*=?\s*~?\d", c)]
        return out
    if not actions:
        return [(" ".join(r), line, True) for r, line in rows]
    window = next((i for i, h in enumerate(header) if i and WINDOW_COLUMN.search(h) and i not in actions
                   and not TARGET_COLUMN.search(h)), None)
    for r, line in rows:
        for i, action in sorted(actions.items()):
            if i < len(r) and r[i].strip() and r[0].strip():
                span = f" for {r[window]}" if window is not None and window < len(r) and r[window].strip() else ""
                out.append((f"{r[0]} {r[i]}{span} ({action})", line, True))
    return out


def sentences(b: Block) -> list[tuple[int, str]]:
    """A paragraph's sentences, each with the line it starts on. A hard line break (two spaces or a backslash
    at the end of a line) ends one too: "**Decision time**: <5 min" on its own line is its own item."""
    out = []
    for m in re.finditer(r"\S.*?(?:[.;!?](?=\s|$)|(?:  +|\\)(?=\n)|$)", b.text, re.S):
        out.append((b.line + b.text[:m.start()].count("\n"), m.group(0).strip().rstrip("\\").strip()))
    return out


def is_sentence(text: str) -> bool:
    """A criterion a human can judge: words, not a bare link or a lone symbol."""
    return len(re.findall(r"[a-z]{3,}", fold(text))) >= 2
