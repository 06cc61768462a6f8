"""Stage 5, schedule: tables of phases with times, durations and owners, matched to the phases found."""

from __future__ import annotations

import re

from tui.engine.runbook.draft import Draft, PhaseOut, Review
from tui.engine.runbook.read import Block, Section
from tui.engine.runbook.words import TIME_RANGE, fold, seconds_of, unmark


def collect_tables(d: Draft, sec: Section) -> set[int]:
    """Schedule tables of the section, read into the schedule; their ids."""
    return {id(b) for b in sec.blocks if b.kind == "table" and len(b.rows) >= 2 and table(d, b)}


def table(d: Draft, b: Block) -> bool:
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
        d.schedule.append(entry)
    d.count("schedule rows")
    return True


def apply_schedule(d: Draft) -> None:
    taken: set[int] = set()
    for entry in d.schedule:
        line = int(entry.pop("line", "0"))
        ph = match_phase(d, entry, taken)
        if ph is None:
            d.review.append(Review(line, "schedule", "no phase matches this row", " | ".join(entry.values()), "schedule table"))
            d.phases[0].notes.append("schedule row without a matching phase: " + " | ".join(entry.values()))
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
        if dur := re.search(r"(\d+)\s*(h|hora\w*|hour\w*|min\w*|m)\b", entry.get("duration", ""), re.I):
            ph.duration = seconds_of(dur.group(1), dur.group(2))


def match_phase(d: Draft, entry: dict[str, str], taken: set[int]) -> PhaseOut | None:
    """The phase a schedule row is about: same time window first, else the most shared words."""
    free = [p for p in d.phases if id(p) not in taken]
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
