"""Metrics from the cluster itself, per colour: ready pods, restarts, and CPU and memory from metrics.k8s.io."""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Mapping
from typing import Any

from pydantic import Field, model_validator

from backends.base import BackendContext, BackendError, NoData, Problem, Sample
from backends.kubernetes.api import (
    DEPLOYMENT,
    POD,
    POD_METRICS,
    Kube,
    KubeOptions,
    access,
    pod_ready,
    reachable,
    wait_ready,
)

QUERIES = ("ready", "restarts", "cpu", "memory")
_QUERY = re.compile(r"^(ready|restarts|cpu|memory)(?::(\d+)(s|m|h))?$")


class KubernetesMetrics:
    """Per colour (a label selector each): ready pods % of desired, restarts in a window, CPU, memory.

    Queries: `ready`, `restarts` or `restarts:10m` (default 5m), `cpu` (millicores), `memory` (MiB).
    CPU and memory come from metrics.k8s.io; without a metrics server they are no data, said so.
    """

    class Config(KubeOptions):
        selectors: dict[str, str] = Field(description="colour -> label selector, e.g. green: app=web,color=green")

        @model_validator(mode="after")
        def _some(self) -> KubernetesMetrics.Config:
            if not self.selectors:
                raise ValueError("selectors needs at least one colour, e.g. green: app=web,color=green")
            return self

    def __init__(self, config: Config, ctx: BackendContext) -> None:
        self.config = config
        self.ctx = ctx
        self.kube = Kube(config)
        self.first_seen: dict[str, int] = {}  # pod uid -> restarts when first seen
        self.history: deque[tuple[float, dict[str, int]]] = deque()

    @staticmethod
    def validate_query(query: str) -> str:
        return "" if _QUERY.match(query) else f"unknown query {query!r}; one of: {', '.join(QUERIES)}, restarts:10m"

    async def validate(self, query: str) -> str:
        return self.validate_query(query)

    async def sample(self, queries: Mapping[str, str]) -> Mapping[str, Sample | NoData]:
        now = self.ctx.clock.now()
        colours = list(self.config.selectors)
        wanted = {_QUERY.match(q).group(1) for q in queries.values() if _QUERY.match(q)}  # type: ignore[union-attr]
        pods: dict[str, list[dict[str, Any]]] = {}
        deps: dict[str, list[dict[str, Any]]] = {}
        usage: dict[str, list[dict[str, Any]]] | BackendError = {}
        try:
            calls = [self.kube.list(POD, self.config.selectors[c]) for c in colours]
            if "ready" in wanted:
                calls += [self.kube.list(DEPLOYMENT, self.config.selectors[c]) for c in colours]
            got = await asyncio.gather(*calls)
            pods = dict(zip(colours, got[:len(colours)], strict=True))
            deps = dict(zip(colours, got[len(colours):], strict=False))
        except BackendError as e:
            return {n: NoData(str(e), now, source_down=True) for n in queries}
        if wanted & {"cpu", "memory"}:
            try:
                got = await asyncio.gather(*(self.kube.list(POD_METRICS, self.config.selectors[c]) for c in colours))
                usage = dict(zip(colours, got, strict=True))
            except BackendError as e:
                usage = e
        self._remember(now, pods)
        out: dict[str, Sample | NoData] = {}
        for name, query in queries.items():
            m = _QUERY.match(query)
            if m is None:
                out[name] = NoData(self.validate_query(query), now)
                continue
            what, window = m.group(1), _seconds(m.group(2), m.group(3)) or 300.0
            if what in ("cpu", "memory") and isinstance(usage, BackendError):
                out[name] = NoData(f"metrics.k8s.io not available (no metrics server?): {usage}", now)
                continue
            series: dict[str, float] = {}
            for c in colours:
                if what == "ready":
                    value = _ready_percent(pods[c], deps[c])
                elif what == "restarts":
                    value = self._restarts(pods[c], now - window)
                else:
                    assert isinstance(usage, dict)
                    value = _usage(usage[c], what) if usage[c] else None
                if value is not None:
                    series[c] = value
            if not series:
                why = "no Deployment matches the selectors" if what == "ready" else "no pod matches the selectors"
                out[name] = NoData(f"{what}: {why}" if what != "cpu" and what != "memory"
                                   else f"{what}: metrics.k8s.io has no pod metrics for the selectors", now,
                                   answered=True)
                continue
            total = (_ready_percent([p for c in colours for p in pods[c]], [d for c in colours for d in deps[c]])
                     if what == "ready" else sum(series.values()))
            out[name] = Sample(float(total if total is not None else 0.0), now, series)
        return out

    def _remember(self, now: float, pods: Mapping[str, list[dict[str, Any]]]) -> None:
        counts = {}
        for plist in pods.values():
            for p in plist:
                uid = (p.get("metadata") or {}).get("uid") or (p.get("metadata") or {}).get("name", "")
                counts[uid] = _pod_restarts(p)
                self.first_seen.setdefault(uid, counts[uid])
        self.history.append((now, counts))
        while len(self.history) > 1 and self.history[1][0] <= now - 3600:
            self.history.popleft()

    def _restarts(self, pods: list[dict[str, Any]], since: float) -> float | None:
        if not pods:
            return None  # a mistyped selector is no data, never "0 restarts"
        old = next((c for t, c in self.history if t >= since), self.history[-1][1] if self.history else {})
        total = 0
        for p in pods:
            uid = (p.get("metadata") or {}).get("uid") or (p.get("metadata") or {}).get("name", "")
            total += max(0, _pod_restarts(p) - old.get(uid, self.first_seen.get(uid, 0)))
        return float(total)

    async def wait_ready(self, deployment: str, ready_percent: int, timeout: float) -> str:
        return await wait_ready(self.kube, deployment, ready_percent, timeout)

    async def preflight(self) -> list[Problem]:
        problems = await reachable(self.kube)
        if problems:
            return problems
        for kind in (POD, DEPLOYMENT):
            problems += await access(self.kube, "list", kind, "", "selectors")
        return problems

    async def aclose(self) -> None:
        self.kube.close()


def _seconds(n: str | None, unit: str | None) -> float:
    return float(n) * {"s": 1, "m": 60, "h": 3600}[unit] if n and unit else 0.0


def _pod_restarts(pod: Mapping[str, Any]) -> int:
    return sum(int(c.get("restartCount") or 0) for c in (pod.get("status") or {}).get("containerStatuses") or [])


def _ready_percent(pods: list[dict[str, Any]], deps: list[dict[str, Any]]) -> float | None:
    desired = sum(int((d.get("spec") or {}).get("replicas") or 0) for d in deps)
    if not deps:
        return None
    if desired == 0:
        return 100.0  # scaled to zero on purpose: nothing is missing
    return 100.0 * min(desired, sum(pod_ready(p) for p in pods)) / desired


# Kubernetes quantities: decimal and binary suffixes, to cores and to bytes.
_SUFFIX = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
           "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60}
_QUANTITY = re.compile(r"^([0-9.]+(?:[eE][-+]?\d+)?)([a-zA-Z]*)$")


def quantity(raw: str) -> float | None:
    """'250m' -> 0.25, '64Mi' -> 67108864.0; None for what is not a Kubernetes quantity."""
    m = _QUANTITY.match(raw.strip())
    if m is None or m.group(2) not in _SUFFIX:
        return None
    return float(m.group(1)) * _SUFFIX[m.group(2)]


def _usage(items: list[dict[str, Any]], what: str) -> float | None:
    """CPU in millicores or memory in MiB over the pods; None if any value cannot be read (never a silent 0)."""
    total = 0.0
    for item in items:
        for c in item.get("containers") or []:
            value = quantity(str((c.get("usage") or {}).get(what, "0")))
            if value is None:
                return None
            total += value * 1000 if what == "cpu" else value / 2**20
    return total
