"""A deterministic deploy-night world: traffic, metrics, logs and probes for demos and tests.

Every value depends only on the seed, the scenario, the injected clock and the traffic the
engine set, so a run replays identically for the same seed and clock.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Literal

from pydantic import Field

from backends.base import (
    BackendConfig,
    BackendContext,
    BackendError,
    LogLine,
    NoData,
    ProbeResult,
    Problem,
    Sample,
    TrafficSplit,
)
from backends.scenarios import SCENARIO_OVERRIDE, SCENARIOS

Scenario = Literal["healthy", "bad-canary", "slow-canary", "flapping"]
METRICS = ("error_rate", "latency_p95", "rps", "cpu", "memory")
WORLD_KEY = "simulated.world"


class World:
    def __init__(self, scenario: str, seed: int, ctx: BackendContext) -> None:
        if scenario not in SCENARIOS:
            raise BackendError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
        self.scenario = scenario
        self.seed = seed
        self.clock = ctx.clock
        self.green = 0
        self.green_since: dict[int, float] = {}  # threshold -> when green first reached it
        self.started = self.clock.now()
        self.restored = False  # a resumed run: its world did not start now, and its past is not all blue

    def set_green(self, percent: int) -> None:
        now = self.clock.now()
        self.green = percent
        for threshold in (10, 50, 100):
            if percent >= threshold:
                self.green_since.setdefault(threshold, now)
            else:
                self.green_since.pop(threshold, None)

    def _noise(self, key: str, t: float, scale: float) -> float:
        rng = random.Random(f"{self.seed}:{key}:{int(t)}")
        return rng.gauss(0.0, scale)

    def _since(self, threshold: int, t: float) -> float:
        start = self.green_since.get(threshold)
        return -1.0 if start is None else t - start

    def values(self, t: float, green: int | None = None) -> dict[str, dict[str, float]]:
        """metric -> {blue, green, all}; 'all' weights colours by their traffic share (`green`: the share at t
        when it is not the live one)."""
        green = self.green if green is None else green
        share = green / 100
        err = {"blue": 0.002, "green": 0.002}
        p95 = {"blue": 180.0, "green": 175.0}
        if self.scenario == "bad-canary" and self._since(50, t) >= 0:
            # Climbs past 5% within a minute of taking half the traffic.
            err["green"] = min(0.12, 0.01 + 0.0015 * self._since(50, t))
        elif self.scenario == "slow-canary" and self._since(10, t) >= 0:
            p95["green"] = 175.0 + min(900.0, 4.0 * self._since(10, t)) * (0.5 + share)
        elif self.scenario == "flapping" and green > 0 and (t - self.started) % 90 < 8:
            # Brief spikes: a sustained guard must not fire on them.
            err["green"] = 0.06
        out: dict[str, dict[str, float]] = {}
        for colour in ("blue", "green"):
            err[colour] = max(0.0, err[colour] + self._noise(f"err.{colour}", t, 0.0006))
            p95[colour] = max(1.0, p95[colour] + self._noise(f"p95.{colour}", t, 8.0))
        total_rps = 1200 + 150 * math.sin((t - self.started) / 300) + self._noise("rps", t, 25.0)
        shares = {"blue": 1 - share, "green": share}
        rps = {c: total_rps * shares[c] for c in shares}
        cpu = {c: 18 + 45 * shares[c] + self._noise(f"cpu.{c}", t, 2.0) for c in shares}
        mem = {c: 52 + 10 * shares[c] + self._noise(f"mem.{c}", t, 0.5) for c in shares}
        for name, per in (("error_rate", err), ("latency_p95", p95), ("rps", rps), ("cpu", cpu), ("memory", mem)):
            if name == "rps":
                agg = sum(per.values())
            elif name in ("cpu", "memory"):
                agg = (per["blue"] + per["green"]) / 2
            else:
                agg = per["blue"] * shares["blue"] + per["green"] * shares["green"]
            out[name] = {"blue": per["blue"], "green": per["green"], "all": agg}
        return out


HISTORY_POINTS = 3600  # a sub-second sample interval must not make the past cost more than an hour of samples


class SimConfig(BackendConfig):
    scenario: Scenario = "healthy"
    seed: int = 1


def world_for(config: SimConfig, ctx: BackendContext) -> World:
    world = ctx.shared.get(WORLD_KEY)
    if world is None:
        scenario = ctx.shared.get(SCENARIO_OVERRIDE) or config.scenario
        world = World(scenario, config.seed, ctx)
        ctx.shared[WORLD_KEY] = world
    assert isinstance(world, World)
    return world


class SimulatedTraffic:
    class Config(SimConfig):
        delay: float = Field(default=0.2, ge=0, description="seconds a shift takes")
        hang: bool = Field(default=False, description="never answer a shift (to test timeouts)")

    def __init__(self, config: Config, ctx: BackendContext) -> None:
        self.config = config
        self.world = world_for(config, ctx)
        self.calls: list[tuple[str, int]] = []

    async def current(self) -> TrafficSplit:
        return self._split()

    def _split(self) -> TrafficSplit:
        g = self.world.green
        return TrafficSplit(g, f"simulated: blue {100 - g}% green {g}%")

    async def shift(self, green_percent: int) -> TrafficSplit:
        self.calls.append(("shift", green_percent))
        if self.config.hang:
            await asyncio.Event().wait()
        await asyncio.sleep(self.config.delay)
        self.world.set_green(green_percent)
        return self._split()

    async def rollback(self) -> TrafficSplit:
        self.calls.append(("rollback", 0))
        self.world.set_green(0)
        return self._split()

    async def preflight(self) -> list[Problem]:
        return []

    def restore(self, green_percent: int) -> None:
        self.world.set_green(green_percent)
        self.world.restored = True

    def describe_shift(self, green_percent: int) -> list[str]:
        return [f"simulator: set blue {100 - green_percent}% / green {green_percent}%"]


class SimulatedMetrics:
    class Config(SimConfig):
        down_after: float | None = Field(default=None, description="seconds after start the source dies")
        history: bool = Field(default=False, description="charts open on the simulated past (blue only), "
                                                          "as they do from Prometheus")

    def __init__(self, config: Config, ctx: BackendContext) -> None:
        self.config = config
        self.world = world_for(config, ctx)

    async def sample(self, queries: Mapping[str, str]) -> Mapping[str, Sample | NoData]:
        t = self.world.clock.now()
        if self.config.down_after is not None and t - self.world.started >= self.config.down_after:
            return {n: NoData("simulated source down", t, source_down=True) for n in queries}
        values = self.world.values(t)
        out: dict[str, Sample | NoData] = {}
        for name, query in queries.items():
            per = values.get(query or name)
            if per is None:
                out[name] = NoData(f"simulator has no metric {query or name!r}", t)
                continue
            series = {"blue": per["blue"]} if self.world.green == 0 else {"blue": per["blue"], "green": per["green"]}
            out[name] = Sample(per["all"], t, series)
        return out

    async def backfill(self, queries: Mapping[str, str], start: float, end: float, step: float
                       ) -> Mapping[str, list[Sample]]:
        """Before the world started all traffic was on blue; nothing of the run itself is made up (a resumed
        run's past is in its journal, not here)."""
        if not self.config.history or self.world.restored or step <= 0:
            return {}
        # Ten minutes of samples take tens of milliseconds: off the engine's loop, which is welcoming screens.
        return await asyncio.to_thread(self._history, queries, start, end, step)

    def _history(self, queries: Mapping[str, str], start: float, end: float, step: float) -> dict[str, list[Sample]]:
        out: dict[str, list[Sample]] = {name: [] for name in queries}
        t = max(start, end - HISTORY_POINTS * step)
        while t < min(end, self.world.started):
            values = self.world.values(t, green=0)
            for name, query in queries.items():
                per = values.get(query or name)
                if per is not None:
                    out[name].append(Sample(per["all"], t, {"blue": per["blue"]}))
            t += step
        return out

    async def preflight(self) -> list[Problem]:
        return []


_PATHS = ("/api/orders", "/api/cart", "/api/users/me", "/health", "/api/search?q=boots")


class SimulatedLogs:
    class Config(SimConfig):
        interval: float = Field(default=0.5, gt=0)
        lines_per_tick: int = Field(default=6, ge=0, le=10000)

    def __init__(self, config: Config, ctx: BackendContext) -> None:
        self.config = config
        self.world = world_for(config, ctx)
        self.source = config.name or "app"

    async def lines(self) -> AsyncIterator[Sequence[LogLine]]:
        tick = 0
        while True:
            await self.world.clock.sleep(self.config.interval)
            tick += 1
            yield self.batch(tick)

    def batch(self, tick: int) -> list[LogLine]:
        t = self.world.clock.now()
        rng = random.Random(f"{self.world.seed}:logs:{tick}")
        values = self.world.values(t)
        out: list[LogLine] = []
        for _ in range(self.config.lines_per_tick):
            colour = "green" if rng.random() * 100 < self.world.green else "blue"
            src = f"{self.source}-{colour}"
            path = rng.choice(_PATHS)
            latency = max(1, int(rng.gauss(values["latency_p95"][colour] * 0.6, 20)))
            if rng.random() < values["error_rate"][colour] * 8:
                out.append(LogLine(t, src, "error", f"GET {path} 502 {latency}ms upstream reset: connection refused"))
            else:
                out.append(LogLine(t, src, "info", f"GET {path} 200 {latency}ms"))
        if values["latency_p95"]["green"] > 400 and self.world.green:
            out.append(LogLine(t, f"{self.source}-green", "warning", "slow query: orders_by_user took 812ms"))
        return out

    async def preflight(self) -> list[Problem]:
        return []


class SimulatedProbe:
    class Config(SimConfig):
        pass

    def __init__(self, config: Config, ctx: BackendContext) -> None:
        self.world = world_for(config, ctx)

    async def probe(self, url: str, expect_status: int, timeout: float, body: str | None = None) -> ProbeResult:
        values = self.world.values(self.world.clock.now())
        colour = "green" if "green" in url else "blue"
        status = 503 if values["error_rate"][colour] > 0.05 else 200
        latency = values["latency_p95"][colour] * 0.5
        return ProbeResult(status == expect_status, status, latency, f"simulated {url}")

    async def preflight(self) -> list[Problem]:
        return []
