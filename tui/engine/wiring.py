"""The engine's backends as the plan names them, and the rules every call to them follows: bounded in time,
health kept per backend, readings and lines as plain dicts for the journal and the screens."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from backends import registry
from backends.base import BackendConfig, BackendContext, LogLine, NoData, Sample
from tui import openssl
from tui.engine.plan import LoadedPlan

T = TypeVar("T")


def on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether the caller runs on `loop` (else it is another thread, which must post to it)."""
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


async def bounded(awaitable: Awaitable[T], seconds: float) -> T:
    """Await with a deadline. asyncio.timeout, unlike 3.11's wait_for, never swallows a cancel."""
    async with asyncio.timeout(seconds):
        return await awaitable


@dataclass
class BackendHealth:
    name: str
    kind: str
    status: str = "ok"  # ok | busy | failed | down
    detail: str = ""
    since: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "status": self.status, "detail": self.detail, "since": self.since}


@dataclass
class Backends:
    traffic: Any
    metrics: dict[str, Any] = field(default_factory=dict)
    logs: list[Any] = field(default_factory=list)
    notify: list[Any] = field(default_factory=list)
    probes: Any = None


def build_backends(loaded: LoadedPlan, ctx: BackendContext) -> Backends:
    cfg = loaded.backends
    traffic_cfg: BackendConfig = cfg["traffic"][0]
    out = Backends(traffic=registry.create("traffic", traffic_cfg, ctx))
    for mc in cfg.get("metrics", []):
        out.metrics[mc.name or mc.type] = registry.create("metrics", mc, ctx)
    out.logs = [registry.create("logs", c, ctx) for c in cfg.get("logs", [])]
    out.notify = [registry.create("notify", c, ctx) for c in cfg.get("notify", [])]
    if cfg.get("probes"):
        out.probes = registry.create("probes", cfg["probes"][0], ctx)
    openssl.asyncio_tls()  # a backend that imported ssl may speak TLS on the loop
    return out


async def close_all(backends: list[Any]) -> None:
    for backend in backends:
        close = getattr(backend, "aclose", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()


def sample_dict(v: Sample | NoData) -> dict[str, Any]:
    if isinstance(v, Sample):
        value = None if math.isnan(v.value) else v.value
        return {"value": value, "series": dict(v.series)}
    return {"value": None, "nodata": v.reason, "down": v.source_down}


def line_dict(line: LogLine) -> dict[str, Any]:
    return {"ts": line.ts, "source": line.source, "level": line.level, "text": line.text}
