"""The contract between the engine and every backend.

Backends import nothing of shipdeck but this module, and nothing of textual.
All values crossing this boundary are small frozen dataclasses or plain data.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict

from backends.clock import Clock, RealClock, ScaledClock  # noqa: F401 - backends and the engine import them from here

ENV_REF = re.compile(r"\$\{(\w+)\}")
_LEVEL = re.compile(r"\b(ERROR|ERR|FATAL|CRIT\w*|WARN\w*|INFO|DEBUG)\b", re.I)


def expand_env(text: str) -> str:
    """`${NAME}` from the environment, at use time, so secrets never sit in the plan or journal."""
    return ENV_REF.sub(lambda m: os.environ.get(m.group(1), ""), text)


def guess_level(text: str, default: str = "info") -> str:
    """A log line's level from the words in it."""
    m = _LEVEL.search(text)
    if not m:
        return default
    word = m.group(1).upper()
    if word.startswith(("ERR", "FATAL", "CRIT")):
        return "error"
    if word.startswith("WARN"):
        return "warning"
    return "debug" if word == "DEBUG" else "info"


class BackendError(Exception):
    """A backend call failed in a way the operator should read."""


class DriftError(BackendError):
    """The live traffic split is not the one shipdeck last set: someone else changed it."""

    def __init__(self, message: str, live: TrafficSplit | None = None) -> None:
        super().__init__(message)
        self.live = live  # what the backend reads now: the screen shows it, not what shipdeck last set


@dataclass(frozen=True)
class Problem:
    """A preflight finding. `field` is a dotted path inside the backend's config, if any."""

    message: str
    severity: str = "error"  # error | warning
    field: str = ""


@dataclass(frozen=True)
class TrafficSplit:
    """The live split as read back from the backend (percent of traffic on green)."""

    green: int
    detail: str = ""  # what the backend really reports, e.g. "blue=90 green=10 (weights)"
    commands: tuple[str, ...] = ()  # exactly what the backend sent to make this change (for the journal)

    @property
    def blue(self) -> int:
        return 100 - self.green


@dataclass(frozen=True)
class Sample:
    """One metric reading. `value` is what guards judge; `series` holds per-colour values."""

    value: float
    ts: float
    series: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class NoData:
    """A metric that could not be read this tick (empty result, NaN, source down).

    `answered`: the source answered and the series was empty or NaN (as a ratio is before its side has any
    traffic); otherwise the source failed (refused, timed out, the query failed)."""

    reason: str
    ts: float = 0.0
    source_down: bool = False
    answered: bool = False


@dataclass(frozen=True)
class LogLine:
    ts: float
    source: str
    level: str  # debug | info | warning | error
    text: str


@dataclass(frozen=True)
class CommandResult:
    exit_code: int | None  # None when killed at its timeout
    output: str  # bounded tail of stdout+stderr
    timed_out: bool = False
    duration: float = 0.0


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    status: int | None
    latency_ms: float
    detail: str = ""


@dataclass
class BackendContext:
    """What a backend factory receives besides its own config."""

    clock: Clock = field(default_factory=RealClock)
    plan_dir: str = "."
    # Backends of one provider may share state (the simulator's world) through this.
    shared: dict[str, Any] = field(default_factory=dict)
    # Sink for log lines a backend wants on screen (command output, backend chatter).
    emit_log: Any = None


class BackendConfig(BaseModel):
    """Base of every backend's config model; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")
    type: str
    name: str = ""

    def shift_error(self, percent: int) -> str:
        """Why this backend cannot put `percent` on green (checked against the plan's shift steps)."""
        return ""


@runtime_checkable
class TrafficBackend(Protocol):
    Config: ClassVar[type[BackendConfig]]

    async def current(self) -> TrafficSplit: ...

    async def shift(self, green_percent: int) -> TrafficSplit: ...

    async def rollback(self) -> TrafficSplit: ...

    async def preflight(self) -> list[Problem]: ...

    def describe_shift(self, green_percent: int) -> list[str]:
        """What `shift` will do, in the backend's own terms, for the confirm preview."""
        ...


@runtime_checkable
class MetricsBackend(Protocol):
    Config: ClassVar[type[BackendConfig]]

    async def sample(self, queries: Mapping[str, str]) -> Mapping[str, Sample | NoData]:
        """queries: metric name -> backend query. Returns one entry per name."""
        ...

    async def preflight(self) -> list[Problem]: ...


@runtime_checkable
class LogSource(Protocol):
    Config: ClassVar[type[BackendConfig]]

    def lines(self) -> AsyncIterator[Sequence[LogLine]]:
        """Batches of lines, never one message per line."""
        ...

    async def preflight(self) -> list[Problem]: ...


@runtime_checkable
class Notifier(Protocol):
    Config: ClassVar[type[BackendConfig]]

    async def notify(self, event: str, message: str, context: Mapping[str, Any]) -> None: ...

    async def preflight(self) -> list[Problem]: ...


@runtime_checkable
class Prober(Protocol):
    Config: ClassVar[type[BackendConfig]]

    async def probe(
        self, url: str, expect_status: int, timeout: float, body: str | None = None
    ) -> ProbeResult: ...

    async def preflight(self) -> list[Problem]: ...


# Capabilities: small protocols a backend may also implement. The keymap greys out
# actions whose backend lacks one.
@runtime_checkable
class Drainable(Protocol):
    async def drain(self, colour: str) -> None: ...


C = TypeVar("C")


class SharedClient(Generic[C]):
    """One client (e.g. httpx.AsyncClient) for a backend's life: made on first use, reused by every
    call (no new connection each sample), made again if it was closed."""

    def __init__(self, make: Callable[[], C]) -> None:
        self._make = make
        self._client: C | None = None

    def get(self) -> C:
        if self._client is None or getattr(self._client, "is_closed", False):
            self._client = self._make()
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()  # type: ignore[attr-defined]


@runtime_checkable
class Previewable(Protocol):
    async def preview_shift(self, green_percent: int) -> list[str]:
        """The change checked by the backend itself without applying it (e.g. a server-side dry run)."""
        ...


@runtime_checkable
class Waitable(Protocol):
    async def wait_ready(self, deployment: str, ready_percent: int, timeout: float) -> str:
        """Until the rollout is ready; the detail as read. Raises BackendError at the timeout."""
        ...


@runtime_checkable
class Restorable(Protocol):
    """An in-process world (the simulator) that a real backend would have kept across a restart."""

    def restore(self, green_percent: int) -> None: ...


@runtime_checkable
class Backfillable(Protocol):
    async def backfill(
        self, queries: Mapping[str, str], start: float, end: float, step: float
    ) -> Mapping[str, list[Sample]]: ...


# ---------------------------------------------------------------- shell commands

MAX_LINE = 4096  # longer output without a newline is cut into lines of this size
OUTPUT_TAIL_LINES = 200


async def run_command(
    command: str,
    timeout: float,
    cwd: str | None = None,
    on_line: Callable[[str, str], None] | None = None,
    env: dict[str, str] | None = None,
) -> CommandResult:
    """Run `command` in a shell in its own process group.

    Output is streamed line by line to `on_line(stream, text)` and only a bounded tail is kept.
    At the timeout the whole process group is killed, so a hung pipeline cannot outlive its step.
    """
    started = time.monotonic()
    proc = await asyncio.create_subprocess_shell(
        command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    tail: deque[str] = deque(maxlen=OUTPUT_TAIL_LINES)

    async def pump(stream: asyncio.StreamReader | None, name: str) -> None:
        # Chunks, not readline: a progress bar without newlines (or a 1 MB line) must neither
        # overflow the reader's limit nor stop the pipe from draining.
        if stream is None:
            return
        partial = ""
        while True:
            chunk = await stream.read(65536)
            if not chunk:
                break
            partial += chunk.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")
            *lines, partial = partial.split("\n")
            while len(partial) > MAX_LINE:
                lines.append(partial[:MAX_LINE])
                partial = partial[MAX_LINE:]
            for text in lines:
                emit(name, text)
        if partial:
            emit(name, partial)

    def emit(name: str, text: str) -> None:
        tail.append(text)
        if on_line is not None:
            on_line(name, text)

    pumps = asyncio.gather(pump(proc.stdout, "stdout"), pump(proc.stderr, "stderr"))
    # Poll the exit status, not proc.wait(): that also waits for the pipes to close, which a child
    # left running in the background would hold open until the timeout (a false "timed out").
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while proc.returncode is None and loop.time() < deadline:
            await asyncio.sleep(0.05)
    except asyncio.CancelledError:  # the step was cancelled (rollback, abort, quit): its processes go too
        kill_group(proc.pid)
        pumps.cancel()
        raise
    timed_out = proc.returncode is None
    # The whole group goes, also when the shell exited on time: nothing outlives its step.
    kill_group(proc.pid)
    while proc.returncode is None:
        await asyncio.sleep(0.02)
    try:
        # A child that left the group (setsid) may still hold the pipes; don't wait on it forever.
        await asyncio.wait_for(pumps, 2.0)
        await proc.wait()  # pipes closed: returns at once, and lets asyncio close the transport
    except TimeoutError:
        pumps.cancel()
    return CommandResult(
        exit_code=None if timed_out else proc.returncode,
        output="\n".join(tail),
        timed_out=timed_out,
        duration=time.monotonic() - started,
    )


def kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
