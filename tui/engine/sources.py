"""The metrics sources as the engine reads them: every source at once each sample, each call bounded. A source that
fails or does not answer in time is no data for its metrics (never a crash, never healthy), and its health is said
on every screen when it changes. At start, the charts get the recent past from sources that keep it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from backends.base import Backfillable, Clock, LogLine, NoData, Sample
from tui.engine.wiring import BackendHealth, bounded, sample_dict

if TYPE_CHECKING:
    from tui.engine.plan.models import Settings

BACKFILL_S = 600.0  # chart history fetched at start


class MetricSources:
    def __init__(self, metrics: dict[str, Any], queries: dict[str, dict[str, str]], clock: Clock,
                 settings: Settings, health: dict[str, BackendHealth], emit: Callable[[dict[str, Any]], None],
                 log: Callable[[LogLine], None]) -> None:
        self.metrics, self.queries, self.clock, self.settings = metrics, queries, clock, settings
        self.health, self.emit, self.log = health, emit, log

    async def read(self) -> dict[str, Sample | NoData]:
        """Every metric's reading now, by name."""
        samples: dict[str, Sample | NoData] = {}
        for part in await asyncio.gather(*(self._source(src, q) for src, q in self.queries.items())):
            samples.update(part)
        return samples

    async def _source(self, source: str, queries: dict[str, str]) -> dict[str, Sample | NoData]:
        backend = self.metrics.get(source)
        health = self.health.setdefault(f"metrics:{source}", BackendHealth(source, "metrics"))
        now = self.clock.now()
        if backend is None:
            return {n: NoData(f"no metrics source {source!r}", now, True) for n in queries}
        try:
            out = dict(await bounded(backend.sample(queries), self.settings.timeout))
        except Exception as e:  # noqa: BLE001 - a failing source is no data, never a crash
            reason = "timed out" if isinstance(e, TimeoutError) else f"{type(e).__name__}: {e}"
            out = {n: NoData(reason, now, True) for n in queries}
        down = [v for v in out.values() if isinstance(v, NoData) and v.source_down]
        status = "down" if down and len(down) == len(out) else "ok"
        if status != health.status:
            health.status, health.detail, health.since = status, down[0].reason if down else "", now
            self.emit({"type": "backend", **health.to_dict()})
        return out

    async def backfill(self) -> None:
        """Fill the charts with the recent past from sources that keep history (Prometheus)."""
        now = self.clock.now()
        for source, queries in self.queries.items():
            backend = self.metrics.get(source)
            if not isinstance(backend, Backfillable):
                continue
            try:
                history = await bounded(backend.backfill(queries, now - BACKFILL_S, now,
                                                         self.settings.sample_interval), self.settings.timeout)
            except Exception as e:  # noqa: BLE001 - charts start empty, nothing worse
                self.log(LogLine(now, "shipdeck", "warning", f"no chart history from {source}: {e}"))
                continue
            points = sorted({s.ts for samples in history.values() for s in samples})
            by_ts: dict[float, dict[str, Any]] = {t: {} for t in points}
            for name, samples in history.items():
                for smp in samples:
                    by_ts[smp.ts][name] = sample_dict(smp)
            self.emit({"type": "history", "points": [[t, by_ts[t]] for t in points]})
