"""This machine's CPU, memory, load, disk and network via psutil (calls run in a thread)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping

import psutil

from backends.base import BackendConfig, BackendContext, NoData, Problem, Sample

QUERIES = "cpu, memory, load1, disk:<path>, net_rx, net_tx"


class HostMetrics:
    class Config(BackendConfig):
        pass

    def __init__(self, config: Config, ctx: BackendContext) -> None:
        self.ctx = ctx
        self._net: tuple[float, int, int] | None = None

    def _read(self, queries: Mapping[str, str]) -> dict[str, Sample | NoData]:
        now = self.ctx.clock.now()
        out: dict[str, Sample | NoData] = {}
        for name, query in queries.items():
            q = query or name
            try:
                value = self._one(q)
            except (OSError, ValueError) as e:
                out[name] = NoData(f"{q}: {e}", now)
                continue
            out[name] = NoData(f"unknown host query {q!r}; known: {QUERIES}", now) if value is None else Sample(
                value, now)
        return out

    def _one(self, q: str) -> float | None:
        if q == "cpu":
            return float(psutil.cpu_percent(interval=None))
        if q == "memory":
            return float(psutil.virtual_memory().percent)
        if q == "load1":
            return float(os.getloadavg()[0])
        if q.startswith("disk:"):
            return float(psutil.disk_usage(q.split(":", 1)[1] or "/").percent)
        if q in ("net_rx", "net_tx"):
            io = psutil.net_io_counters()
            t = time.monotonic()
            prev, self._net = self._net, (t, io.bytes_recv, io.bytes_sent)
            if prev is None or t <= prev[0]:
                return 0.0
            delta = (io.bytes_recv - prev[1]) if q == "net_rx" else (io.bytes_sent - prev[2])
            return max(0.0, delta / (t - prev[0]))
        return None

    async def sample(self, queries: Mapping[str, str]) -> Mapping[str, Sample | NoData]:
        return await asyncio.to_thread(self._read, queries)

    async def preflight(self) -> list[Problem]:
        return []
