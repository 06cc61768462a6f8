"""The contract between the engine and every backend.

Backends import nothing of shipdeck but this module, and nothing of textual.
All values crossing this boundary are small frozen dataclasses or plain data.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict


class BackendError(Exception):
    """A backend call failed in a way the operator should read."""


class DriftError(BackendError):
    """The live traffic split is not the one shipdeck last set: someone else changed it."""


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
    """A metric that could not be read this tick (empty result, NaN, source down)."""

    reason: str
    ts: float = 0.0
    source_down: bool = False


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


class Clock(Protocol):
    """Time as the engine and the simulator see it. Tests and the demo inject their own."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class RealClock:
    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ScaledClock:
    """Wall time running `speed` times faster: the demo compresses a night into a minute."""

    def __init__(self, speed: float = 1.0, start: float | None = None) -> None:
        self.speed = speed
        self._t0 = time.time() if start is None else start
        self._m0 = time.monotonic()

    def now(self) -> float:
        return self._t0 + (time.monotonic() - self._m0) * self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)


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


@runtime_checkable
class Backfillable(Protocol):
    async def backfill(
        self, queries: Mapping[str, str], start: float, end: float, step: float
    ) -> Mapping[str, list[Sample]]: ...
