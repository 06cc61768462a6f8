"""What screens and a detached engine say to each other over its unix socket: typed, versioned messages.

One JSON object per line, `{"v": VERSION, "type": ..., ...fields}`. A message of another version or an
unknown type is a ProtocolError, never a guess. Engine events (state, samples, logs, ...) travel inside
`Event` as the plain dicts the Driver emits, so an in-process screen and a remote one read the same data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import orjson  # a burst is thousands of log lines a second to every screen: 5-10x json's speed both ways

VERSION = 1
MAX_LINE = 16 * 1024 * 1024  # a welcome with a long history is big; anything bigger is not ours


class ProtocolError(Exception):
    pass


@dataclass(frozen=True)
class Message:
    TYPE: ClassVar[str] = ""


# ------------------------------------------------------------------ screen -> engine


@dataclass(frozen=True)
class Hello(Message):
    """The first line a screen sends. `mode`: drive (takes the helm if nobody holds it), watch (read-only,
    never takes it) or status (`shipdeck ps`: a welcome, then the engine hangs up)."""

    TYPE: ClassVar[str] = "hello"
    operator: str
    mode: str = "drive"


@dataclass(frozen=True)
class Command(Message):
    TYPE: ClassVar[str] = "command"
    name: str
    operator: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Ask(Message):
    """A question with an answer (`Reply` with the same `req`): describe a shift, or dry-run it."""

    TYPE: ClassVar[str] = "ask"
    req: int
    what: str  # describe | preview
    name: str = ""
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Stop(Message):
    """Stop the engine: the run stays resumable where it is (the driver only)."""

    TYPE: ClassVar[str] = "stop"
    operator: str
    reason: str


# ------------------------------------------------------------------ engine -> screen


@dataclass(frozen=True)
class Welcome(Message):
    """Everything a screen needs to show the run as it is now; recent events follow as `Event`s."""

    TYPE: ClassVar[str] = "welcome"
    pid: int
    operator: str  # who this screen is, as the engine verified it (its OS account; a name it gave in front)
    plan: dict[str, Any]  # secrets masked, as in the journal
    plan_path: str
    journal: str
    state: dict[str, Any]  # who drives is state["helm"]
    rollback_by: str  # anyone | driver
    describe: dict[str, list[str]] = field(default_factory=dict)  # confirm lines by "shift:N" and "rollback"
    can_preview: bool = False  # the traffic backend dry-runs a shift (ask "preview")
    failed: str = ""
    machine_broken: bool = False
    clients: list[str] = field(default_factory=list)  # "user@host (drive|watch)" per attached screen


@dataclass(frozen=True)
class Event(Message):
    TYPE: ClassVar[str] = "event"
    body: dict[str, Any]


@dataclass(frozen=True)
class Reply(Message):
    TYPE: ClassVar[str] = "reply"
    req: int
    lines: list[str] = field(default_factory=list)
    error: str = ""


@dataclass(frozen=True)
class Refused(Message):
    TYPE: ClassVar[str] = "refused"
    name: str
    reason: str


MESSAGES: dict[str, type[Message]] = {
    m.TYPE: m for m in (Hello, Command, Ask, Stop, Welcome, Event, Reply, Refused)
}


def encode(msg: Message) -> bytes:
    # Fields as they are (asdict would deep-copy every event); NaN goes as null, as JSON has no NaN.
    data = {"v": VERSION, "type": msg.TYPE, **{f.name: getattr(msg, f.name) for f in fields(msg)}}
    try:
        return orjson.dumps(data, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:  # what orjson refuses and json writes: integers past 64 bits
        return json.dumps(data, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> Message:
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError:
        try:
            data = json.loads(line)  # what json writes and orjson refuses to read (big integers, NaN)
        except ValueError as e:
            raise ProtocolError(f"not a JSON line: {e}") from e
    if not isinstance(data, dict):
        raise ProtocolError("not a JSON object")
    if data.get("v") != VERSION:
        raise ProtocolError(f"protocol version {data.get('v')!r}, this shipdeck speaks {VERSION}: "
                            "attach with the same shipdeck version as the engine")
    cls = MESSAGES.get(str(data.get("type")))
    if cls is None:
        raise ProtocolError(f"unknown message type {data.get('type')!r}")
    names = {f.name for f in fields(cls)}
    try:
        return cls(**{k: v for k, v in data.items() if k in names})
    except TypeError as e:
        raise ProtocolError(f"{cls.TYPE}: {e}") from e
