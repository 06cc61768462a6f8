"""The append-only journal: one JSON record per line, checksummed, fsynced after every write.

Record: {"seq", "ts" (UTC ISO-8601), "operator", "kind", "data", "sum"}; how a record becomes a line (and samples
become compact) is `tui.engine.records`. Kinds: run-start, event (an input of the state machine), intent (before a
side effect), outcome (after it), layout (the metrics and guards samples are written against), sample (metric
readings and guard progress), log, run-end.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import gc
import hashlib
import json
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tui.engine.identity import default_operator
from tui.engine.initial import initial_state
from tui.engine.machine import transition
from tui.engine.plan import Plan
from tui.engine.records import Damaged, Decoder, Encoder, line_of
from tui.engine.state import RunState


class JournalError(Exception):
    pass


class JournalLocked(JournalError):
    """Another live process drives this journal."""


def utc_iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _holder_text(info: dict[str, Any]) -> str:
    return (f"{info.get('user', '?')}@{info.get('host', '?')} pid {info.get('pid', '?')}"
            f" since {info.get('since', '?')}")


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Journal:
    """Appends records durably, one driver at a time. Thread-safe.

    The journal file is held with an exclusive flock for the life of the run; `<journal>.lock` says
    who holds it, so a second driver is told who (user, host, pid) rather than just refused. The
    kernel drops a flock when its process dies, so a lock file left by a dead process is stale, and
    `stale_holder` says whose it was.
    """

    def __init__(self, path: str | Path, *, resume: bool = False, operator: str = "") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o640)
        self._lock = threading.Lock()
        self.stale_holder = ""
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            holder = _read_holder(self.lock_path)
            who = _holder_text(holder) if holder else "another process"
            raise JournalLocked(f"{self.path} is already driven by {who}; one driver per journal "
                                f"(follow it read-only with: shipdeck watch {self.path})") from None
        previous = _read_holder(self.lock_path)
        if previous:
            dead = previous.get("host") != socket.gethostname() or not _alive(previous.get("pid"))
            self.stale_holder = _holder_text(previous) + (" (process gone)" if dead else "")
        self.records: list[dict[str, Any]] = []
        self.last_sample: dict[str, Any] | None = None
        self.last_record: dict[str, Any] | None = None
        self._encoder = Encoder()
        if resume:
            read = read_journal(self.path, samples=False, readings=False)
            self.records, self.last_sample, self.last_record = read.records, read.last_sample, read.last
            if read.torn is not None:
                os.ftruncate(self._fd, read.torn)
            if read.spilled:
                self._take_back(read.spilled_lines)
        elif os.fstat(self._fd).st_size:
            os.close(self._fd)
            raise JournalError(f"{self.path} already holds a run: continue it with --resume, "
                               "or give a new --journal")
        self._seq = read.seq if resume else 0
        info = {"user": operator or default_operator(), "host": socket.gethostname(), "pid": os.getpid(),
                "since": utc_iso(time.time())}
        self.lock_path.write_text(json.dumps(info) + "\n")

    def append(self, kind: str, data: dict[str, Any], operator: str, ts: float) -> dict[str, Any]:
        """Write and fsync one record. On OSError (disk full, EIO) nothing is half-written and the
        sequence does not move: the caller keeps the record and may append it again later."""
        with self._lock:
            if self._fd < 0:
                raise OSError(errno.EBADF, "journal is closed")
            head = {"ts": utc_iso(ts), "operator": operator}
            for line, encoded in self._encoder.encode(self._seq + 1, head, kind, data):
                size = os.fstat(self._fd).st_size
                try:
                    written = os.write(self._fd, line)
                    if written != len(line):
                        raise OSError(errno.ENOSPC, f"short write ({written} of {len(line)} bytes)")
                    os.fsync(self._fd)
                except OSError:
                    with contextlib.suppress(OSError):
                        os.ftruncate(self._fd, size)  # no torn record in the middle of the journal
                    raise
                self._encoder.commit(encoded)
                self._seq += 1
            return {"seq": self._seq, **head, "kind": kind, "data": data}

    def spill(self, items: list[tuple[str, dict[str, Any], str, float]]) -> tuple[Path | None, int]:
        """Records the journal itself refused (its disk full), written at exit to the first fallback file
        that takes them, numbered as they would have been. `read_journal` and `--resume` read them back."""
        with self._lock:
            lines = b"".join(line_of({"seq": self._seq + i + 1, "ts": utc_iso(ts), "operator": operator, "kind": kind,
                                      "data": data}) for i, (kind, data, operator, ts) in enumerate(items))
        for path in fallback_paths(self.path):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
                try:
                    os.write(fd, lines)
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError:
                continue
            return path, len(items)
        sys.stderr.buffer.write(lines)  # the engine log or the terminal: the last place left
        sys.stderr.flush()
        return None, len(items)

    def _take_back(self, spilled: list[bytes]) -> None:
        """On resume: the records a fallback file holds go into the journal itself, then the fallback goes."""
        lines = b"".join(line + b"\n" for line in spilled)
        try:
            os.write(self._fd, lines)
            os.fsync(self._fd)
        except OSError as e:
            os.close(self._fd)
            raise JournalError(f"{self.path}: cannot take back {len(spilled)} record(s) from its fallback file: "
                               f"{e.strerror or e}; free some space and resume again") from e
        for path in fallback_paths(self.path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                with contextlib.suppress(OSError):
                    self.lock_path.unlink()
                os.close(self._fd)  # drops the flock
                self._fd = -1


def _read_holder(path: Path) -> dict[str, Any]:
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def fallback_paths(path: Path) -> list[Path]:
    """Where records the journal's disk refused go at exit: beside it, else a temporary folder (another disk)."""
    tag = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]
    return [path.with_name(path.name + ".unwritten"),
            Path(tempfile.gettempdir()) / f"shipdeck-{os.getuid()}" / f"{path.name}-{tag}.unwritten"]


@dataclass
class ReadResult:
    records: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    torn: int | None = None  # byte offset of a torn last line of the journal (to drop)
    spilled_lines: list[bytes] = field(default_factory=list)  # records read from a fallback file, as written there
    seq: int = 0  # the last good record's sequence number
    last_sample: dict[str, Any] | None = None
    last: dict[str, Any] | None = None  # the last good record, kept or not

    @property
    def spilled(self) -> int:
        """How many of the records came from a fallback file."""
        return len(self.spilled_lines)


def read_journal(path: str | Path, strict: bool = True, samples: bool = True, readings: bool = True) -> ReadResult:
    """All intact records, then those a fallback file holds after them.

    A damaged record that is not the last line is corruption: `strict` raises JournalError naming its offset;
    otherwise the records before it are kept and a warning says where reading stopped and what was left.
    Without `samples`, samples are checked but not kept (a resume needs only the last: `last_sample`); without
    `readings`, a sample holds only its guards."""
    path = Path(path)
    if gc.isenabled():  # a long night is a million small objects and no cycles: collecting meanwhile is waste
        gc.disable()
        try:
            return read_journal(path, strict, samples, readings)
        finally:
            gc.enable()
    out = ReadResult([])
    decoder = Decoder(readings)

    def keep(rec: dict[str, Any]) -> None:
        out.last = rec
        if rec["kind"] == "sample":
            out.last_sample = rec
            if not samples:
                return
        out.records.append(rec)

    lines = path.read_bytes().split(b"\n")
    offset = 0
    for i, line in enumerate(lines):
        start = offset
        offset += len(line) + 1
        if not line:
            continue
        try:
            keep(decoder.decode(line))
            continue
        except Damaged as e:
            problem = str(e)
        is_last = i == len(lines) - 1 or (i == len(lines) - 2 and lines[-1] == b"")
        unterminated = i == len(lines) - 1  # no newline after it: the write was cut short
        if is_last and (unterminated or problem.startswith("unreadable")):
            out.torn = start
            out.warnings.append(f"{path}: dropped a torn last record at byte offset {start} (the run was cut off "
                                "mid-write)")
            break
        where = f"{path}: corrupt record at byte offset {start} (line {i + 1}): {problem}"
        if strict:
            raise JournalError(where)
        rest = sum(1 for x in lines[i:] if x)
        out.warnings.append(f"{where}; reading stopped there: the {decoder.seq} record(s) before it are read, "
                            f"{rest} line(s) from it on are not")
        out.seq = decoder.seq
        return out
    for extra in fallback_paths(path):
        if not extra.exists():
            continue
        before = decoder.seq
        for line in extra.read_bytes().splitlines():
            with contextlib.suppress(Damaged):
                if line:
                    keep(decoder.decode(line))
                    out.spilled_lines.append(line)
        out.warnings.append(f"{decoder.seq - before} record(s) read from {extra}: the journal's disk refused "
                            "them and they were written there at exit")
    out.seq = decoder.seq
    return out


def read_records(path: str | Path) -> tuple[list[dict[str, Any]], int | None]:
    """All intact records and the byte offset of a torn last line (or None); corruption raises JournalError."""
    read = read_journal(path)
    return read.records, read.torn


def load(path: str | Path, readings: bool = True) -> ReadResult:
    """A journal for reading (report, demo resume): every good record, with warnings for what was not read."""
    return read_journal(path, strict=False, readings=readings)


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
