"""A person's decisions on an imported plan's review items, written back into the plan file.

Each review item is one line of YAML (a flow mapping, as `shipdeck import` writes it); a decision rewrites
that line only, so comments and everything else in the file stay as they were. The file is replaced
atomically and only once the new text loads as a valid plan.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from tui.engine.plan import (
    Guard,
    LoadedPlan,
    PlanError,
    ReviewItem,
    Step,
    format_duration,
    load_plan,
    load_plan_text,
)

STEP = TypeAdapter(Step)


class ReviewError(Exception):
    pass


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _yaml_value(key: str, v: Any) -> str:
    if key == "for":
        return format_duration(v, exact=True)  # 1500ms stays 1500ms
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)  # shortest text that reads back
    if isinstance(v, int):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(_yaml_value(key, x) for x in v) + "]"
    text = str(v)
    return text if re.fullmatch(r"[A-Za-z_][\w-]*", text) and text not in ("true", "false", "null") else _q(text)


def guard_yaml(g: Guard) -> str:
    """The guard as one flow mapping, every field it sets (a relative guard's too), read back exactly."""
    data = g.model_dump(by_alias=True, exclude_defaults=True, exclude_none=True)
    data.setdefault("for", g.for_)
    data.setdefault("action", g.action)
    tail = ("no_data", "phases", "series")  # the rule first: metric, bound, window, action
    keys = ["metric", *[k for k in data if k not in ("metric", "for", "action", *tail)], "for", "action",
            *[k for k in tail if k in data]]
    return "{" + ", ".join(f"{k}: {_yaml_value(k, data[k]) if k != 'metric' else data[k]}" for k in keys) + "}"


def step_yaml(step: dict[str, Any]) -> str:
    """A step as one flow mapping (`{run: {command: "…", manual: true}}`, `{bake: 2m}`), read back exactly."""

    def value(key: str, v: Any) -> str:
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k}: {value(k, x)}" for k, x in v.items()) + "}"
        if key in ("bake", "timeout"):
            return format_duration(v, exact=True)
        if isinstance(v, bool | int | float):
            return _yaml_value(key, v)
        return _q(str(v))

    return value("", step)


def item_yaml(r: ReviewItem) -> str:
    parts = [f"line: {r.line}", f"kind: {r.kind}", f"status: {r.status}"]
    if r.by:
        parts += [f"by: {_q(r.by)}", f"at: {_q(r.at)}"]
    parts += [f"why: {_q(r.why)}", f"rule: {_q(r.rule)}", f"text: {_q(r.text)}"]
    if r.guard is not None:
        parts.append(f"guard: {guard_yaml(r.guard)}")
    if r.step is not None:
        parts += [f"phase: {_q(r.phase)}", f"position: {r.position}",
                  f"step: {step_yaml(STEP.dump_python(r.step, exclude_defaults=True))}"]
    return "{" + ", ".join(parts) + "}"


def _edited_step(item: ReviewItem, change: dict[str, Any]) -> Any:
    """The step with the person's change: a run's new command keeps its manual flag and description."""
    base = STEP.dump_python(item.step, exclude_defaults=True) if item.step is not None else {}
    for kind, v in change.items():
        if isinstance(v, dict) and isinstance(base.get(kind), dict):
            base[kind] = {**base[kind], **v}
        else:
            base = {kind: v}
    try:
        return STEP.validate_python(base)
    except ValueError as e:
        raise ReviewError(f"the edited step is not valid: {e}") from None


def _one_line_mapping(line: str) -> tuple[int, int] | None:
    """Where a list item's flow mapping starts and ends on its line (quotes respected), so what follows it, a
    comment, stays as written; None when the mapping does not close on this line."""
    m = re.match(r"\s*-\s*\{", line)
    if m is None:
        return None
    depth, quote, i = 0, "", m.end() - 1
    while i < len(line):
        c = line[i]
        if quote:
            if c == "\\" and quote == '"':
                i += 1
            elif c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
            if depth == 0:
                return m.end() - 1, i + 1
        i += 1
    return None


def decide(path: str | Path, index: int, status: str, by: str, guard: dict[str, Any] | None = None,
           now: datetime | None = None, step: dict[str, Any] | None = None) -> LoadedPlan:
    """Set review item `index` to accepted / dropped / pending (with an edited guard or step), by whom and when."""
    p = Path(path)
    loaded = load_plan(p)
    items = loaded.plan.review
    if not 0 <= index < len(items):
        raise ReviewError(f"{p}: no review item {index}")
    item = items[index]
    new_guard = item.guard
    if guard is not None:
        base = item.guard.model_dump(by_alias=True, exclude_none=True) if item.guard else {}
        if "for" in base:
            base["for"] = format_duration(base["for"])
        if "above" in guard or "below" in guard:  # the direction was edited: the other bound goes
            base.pop("above", None), base.pop("below", None)
        try:
            new_guard = Guard.model_validate({**base, **guard})
        except ValueError as e:
            raise ReviewError(f"the edited guard is not valid: {e}") from None
    new_step = _edited_step(item, step) if step is not None else item.step
    if status == "accepted" and new_guard is None and new_step is None:
        raise ReviewError(f"line {item.line}: nothing to accept, there is no guard or step to act; drop it or edit "
                          "the plan")
    at = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    decided = item.model_copy(update={"status": status, "guard": new_guard, "step": new_step,
                                      "by": by if status != "pending" else "", "at": at if status != "pending" else ""})
    text = p.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    row = loaded.positions.get(("review", index), (-1, 0))[0]
    text_row = lines[row].rstrip("\r\n") if 0 <= row < len(lines) else ""
    span = _one_line_mapping(text_row)
    if span is None:
        raise ReviewError(f"{p}:{row + 1}: review item {index} is not written on one line; decide it by editing the file")
    end = lines[row][len(text_row):]
    lines[row] = text_row[:span[0]] + item_yaml(decided) + text_row[span[1]:] + end
    new_text = "".join(lines)
    try:
        reloaded = load_plan_text(new_text, str(p))
    except PlanError as e:
        raise ReviewError("; ".join(str(i) for i in e.issues)) from None
    tmp = p.with_name(p.name + ".review-tmp")
    tmp.write_text(new_text, encoding="utf-8")
    os.replace(tmp, p)
    return reloaded
