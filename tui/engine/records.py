"""A journal record as one line of bytes, and back.

Format 2 (written now): `{"sum":"<16 hex>",` then the record's JSON without its sum; the sum is the first 16 hex
digits of sha256 over the bytes after that prefix, so reading checks a line without encoding it again. Samples are
compact: a `layout` record names the metrics and the guards' definitions once (again whenever they change), and
each sample holds its readings by position, to SIG significant digits. A guard's note is written when it changes.
Format 1 (journals written before): the sum is the last key, over the record's canonical JSON. Both read back to
the same records; a reader never sees the compact form.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any

import orjson  # a night's journal is read in a blink: 5x json's speed

PREFIX = b'{"sum":"'
BODY = len(PREFIX) + 16 + 2  # where the summed bytes start, after `{"sum":"<16 hex>",`
SIG = 6  # significant digits a journalled reading keeps
GUARD_DEFINITION = ("index", "metric", "op", "threshold", "window", "action", "side", "relative")
GUARD_CARRIED = {"note": "", "silenced_until": None}  # written only when they change
COLOURS = ("blue", "green")
_BIG_INT = re.compile(rb"\d{19}")


class Damaged(ValueError):
    """A line that is not a good next record: the text says why."""


def _sum(body: bytes) -> bytes:
    return hashlib.sha256(body).hexdigest()[:16].encode()


def legacy_sum(record: dict[str, Any]) -> str:
    body = json.dumps({k: v for k, v in record.items() if k != "sum"}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def line_of(record: dict[str, Any]) -> bytes:
    """One format-2 line for a record (given without its sum)."""
    body = json.dumps(record, separators=(",", ":"), default=str).encode()[1:]
    return PREFIX + _sum(body) + b'",' + body + b"\n"


def _num(v: Any) -> Any:
    if isinstance(v, float) and math.isfinite(v) and v != 0.0:
        return float(f"{v:.{SIG}g}")
    return v


class Encoder:
    """Turns the engine's records into lines; the state it carries (layout, notes) moves only on `commit`."""

    def __init__(self) -> None:
        self.layout: dict[str, Any] | None = None
        self.carried: list[dict[str, Any]] = []

    def encode(self, seq: int, head: dict[str, Any], kind: str, data: dict[str, Any]
               ) -> list[tuple[bytes, tuple[dict[str, Any] | None, list[dict[str, Any]]]]]:
        """The lines for one record of the engine (a sample may need its layout first), each with the state to
        commit once that line is on disk: each is written and synced on its own, so a reader following the file
        never sees half of a pair that a failed write then takes back."""
        if kind != "sample" or not isinstance(data.get("values"), dict) or not isinstance(data.get("guards"), list):
            return [(line_of({"seq": seq, **head, "kind": kind, "data": data}), (self.layout, self.carried))]
        guards: list[dict[str, Any]] = data["guards"]
        layout = {"metrics": list(data["values"]),
                  "guards": [{k: g.get(k) for k in GUARD_DEFINITION if k in g or k != "relative"} for g in guards]}
        out: list[tuple[bytes, tuple[dict[str, Any] | None, list[dict[str, Any]]]]] = []
        carried = self.carried
        if layout != self.layout:
            carried = [dict(GUARD_CARRIED) for _ in guards]
            out.append((line_of({"seq": seq, **head, "kind": "layout", "data": layout}), (layout, carried)))
        carried = [dict(c) for c in carried]
        compact = {"v": [_reading(data["values"][m]) for m in layout["metrics"]],
                   "g": [_guard(g, c) for g, c in zip(guards, carried, strict=True)]}
        out.append((line_of({"seq": seq + len(out), **head, "kind": "sample", "data": compact}), (layout, carried)))
        return out

    def commit(self, state: tuple[dict[str, Any] | None, list[dict[str, Any]]]) -> None:
        self.layout, self.carried = state


def _reading(r: dict[str, Any]) -> Any:
    if "nodata" in r:
        return {"n": r["nodata"], "d": bool(r.get("down"))}
    series = r.get("series") or {}
    if set(series) <= set(COLOURS):
        out = [_num(r.get("value")), *(_num(series.get(c)) for c in COLOURS)]
        while len(out) > 1 and out[-1] is None and COLOURS[len(out) - 2] not in series:
            out.pop()
        return out
    return [_num(r.get("value")), {k: _num(v) for k, v in series.items()}]


def _guard(g: dict[str, Any], carried: dict[str, Any]) -> list[Any]:
    out: list[Any] = [g.get("state"), _num(g.get("value")), _num(float(g.get("breach_for") or 0.0))]
    changed = {k: g.get(k, d) for k, d in GUARD_CARRIED.items() if g.get(k, d) != carried[k]}
    if changed:
        carried.update(changed)
        out.append(changed)
    return out


class Decoder:
    """Checks each line as the next record (its sum, its sequence) and gives it back in full form. Without
    `readings`, a sample's data holds only its guards (what a report or a resume needs), which reads faster."""

    def __init__(self, readings: bool = True) -> None:
        self.readings = readings
        self.seq = 0
        self.layout: dict[str, Any] | None = None
        self.carried: list[dict[str, Any]] = []

    def decode(self, line: bytes) -> dict[str, Any]:
        try:
            # json for what orjson reads differently: NaN (older journals have it), integers past 64 bits
            rec = json.loads(line) if _BIG_INT.search(line) else orjson.loads(line)
        except orjson.JSONDecodeError:
            try:
                rec = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise Damaged("unreadable JSON") from None
        except UnicodeDecodeError:
            raise Damaged("unreadable JSON") from None
        if not isinstance(rec, dict):
            raise Damaged("unreadable JSON")
        if line.startswith(PREFIX):
            if line[BODY - 2:BODY] != b'",' or _sum(line[BODY:]) != line[len(PREFIX):BODY - 2]:
                raise Damaged("checksum mismatch")
        elif rec.get("sum") != legacy_sum(rec):
            raise Damaged("checksum mismatch")
        if rec.get("seq") != self.seq + 1:
            raise Damaged(f"sequence {rec.get('seq')} where {self.seq + 1} was expected")
        data = rec.get("data")
        if rec.get("kind") == "layout" and isinstance(data, dict):
            self.layout, self.carried = data, [dict(GUARD_CARRIED) for _ in data.get("guards") or []]
        elif rec.get("kind") == "sample" and isinstance(data, dict) and "v" in data:
            try:
                rec["data"] = self._expand(data)
            except (TypeError, KeyError, IndexError, ValueError) as e:
                raise Damaged(e if isinstance(e, Damaged) else f"a compact sample that cannot be read ({e})") from None
        self.seq += 1
        return rec

    def _expand(self, data: dict[str, Any]) -> dict[str, Any]:
        layout = self.layout
        if layout is None:
            raise Damaged("a compact sample with no layout record before it")
        metrics, defs, compact = layout.get("metrics") or [], layout.get("guards") or [], data.get("g") or []
        if len(data["v"]) != len(metrics) or len(compact) != len(defs):
            raise Damaged("a compact sample that does not fit its layout")
        carried = self.carried
        for i, g in enumerate(compact):
            if len(g) > 3 and isinstance(g[3], dict):  # copied on change: the decoder's own moves only on success
                carried = [*carried[:i], {**carried[i], **{k: v for k, v in g[3].items() if k in GUARD_CARRIED}},
                           *carried[i + 1:]]
        guards = [{**d, "value": g[1], "state": g[0], "note": c["note"], "breach_for": g[2],
                   "silenced_until": c["silenced_until"]} for d, c, g in zip(defs, carried, compact, strict=True)]
        out: dict[str, Any] = {"guards": guards}
        if self.readings:
            out = {"values": {m: _expand_reading(r) for m, r in zip(metrics, data["v"], strict=True)}, **out}
        self.carried = carried
        return out


def _expand_reading(r: Any) -> dict[str, Any]:
    if isinstance(r, dict):
        return {"value": None, "nodata": r.get("n", ""), "down": bool(r.get("d"))}
    n = len(r)
    if n == 3 and r[1] is not None and r[2] is not None:  # the usual: both colours
        return {"value": r[0], "series": {"blue": r[1], "green": r[2]}}
    if n == 2 and isinstance(r[1], dict):
        return {"value": r[0], "series": r[1]}
    return {"value": r[0], "series": {c: v for c, v in zip(COLOURS, r[1:], strict=False) if v is not None}}
