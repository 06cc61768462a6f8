"""The append-only journal: one JSON record per line, checksummed, fsynced after every write.

Record: {"seq", "ts" (UTC ISO-8601), "operator", "kind", "data", "sum"} where "sum" is the
first 16 hex digits of sha256 over the record's canonical JSON without "sum".
Kinds: run-start, event (an input of the state machine), intent (before a side effect),
outcome (after it), sample (metric readings and guard progress), log, run-end.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tui.engine.machine import RunState, initial_state, transition
from tui.engine.plan import Plan


class JournalError(Exception):
    pass


def _checksum(record: dict[str, Any]) -> str:
    body = json.dumps({k: v for k, v in record.items() if k != "sum"}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def utc_iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Journal:
    """Appends records durably. Thread-safe: the driver may write from a worker thread."""

    def __init__(self, path: str | Path, start_seq: int = 0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        self._seq = start_seq
        self._lock = threading.Lock()

    @classmethod
    def reopen(cls, path: str | Path) -> Journal:
        """Continue an existing journal after a crash: drop a torn tail, keep the sequence."""
        records, torn = read_records(path)
        if torn is not None:
            with open(path, "r+b") as f:
                f.truncate(torn)
        return cls(path, records[-1]["seq"] if records else 0)

    def append(self, kind: str, data: dict[str, Any], operator: str, ts: float) -> dict[str, Any]:
        with self._lock:
            self._seq += 1
            record: dict[str, Any] = {
                "seq": self._seq,
                "ts": utc_iso(ts),
                "operator": operator,
                "kind": kind,
                "data": data,
            }
            record["sum"] = _checksum(record)
            line = (json.dumps(record, separators=(",", ":"), default=str) + "\n").encode()
            os.write(self._fd, line)
            os.fsync(self._fd)
            return record

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


@dataclass
class ReadResult:
    records: list[dict[str, Any]]
    warnings: list[str]


def read_records(path: str | Path) -> tuple[list[dict[str, Any]], int | None]:
    """All intact records; the byte offset of a torn last line (to drop), or None.

    A damaged record that is not the last line is corruption: JournalError names its offset.
    """
    raw = Path(path).read_bytes()
    records: list[dict[str, Any]] = []
    offset = 0
    torn: int | None = None
    lines = raw.split(b"\n")
    for i, line in enumerate(lines):
        is_last = i == len(lines) - 1 or (i == len(lines) - 2 and lines[-1] == b"")
        start = offset
        offset += len(line) + 1
        if not line:
            continue
        problem = _check_line(line, records)
        if problem is None:
            records.append(json.loads(line))
            continue
        unterminated = i == len(lines) - 1  # no newline after it: the write was cut short
        if is_last and (unterminated or problem.startswith("unreadable")):
            torn = start
            break
        raise JournalError(f"{path}: corrupt record at byte offset {start} (line {i + 1}): {problem}")
    return records, torn


def _check_line(line: bytes, records: list[dict[str, Any]]) -> str | None:
    try:
        rec = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "unreadable JSON"
    if not isinstance(rec, dict) or rec.get("sum") != _checksum(rec):
        return "checksum mismatch"
    expected = records[-1]["seq"] + 1 if records else 1
    if rec.get("seq") != expected:
        return f"sequence {rec.get('seq')} where {expected} was expected"
    return None


def load(path: str | Path) -> ReadResult:
    records, torn = read_records(path)
    warnings = []
    if torn is not None:
        warnings.append(f"{path}: dropped a torn last record at byte offset {torn} (the run was cut off mid-write)")
    return ReadResult(records, warnings)


def plan_of(records: list[dict[str, Any]]) -> Plan:
    for rec in records:
        if rec["kind"] == "run-start":
            return Plan.model_validate(rec["data"]["plan"])
    raise JournalError("journal has no run-start record")


def replay(records: list[dict[str, Any]]) -> RunState:
    """Rebuild the run state by feeding the journalled events through the machine again."""
    state = initial_state(plan_of(records))
    for rec in events(records):
        state, _ = transition(state, rec["data"])
    return state


def events(records: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    return (r for r in records if r["kind"] == "event")


def open_intents(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Side effects whose outcome never got written: the backend may or may not have done them."""
    done = {r["data"]["id"] for r in records if r["kind"] == "outcome"}
    return [r for r in records if r["kind"] == "intent" and r["data"]["id"] not in done]
