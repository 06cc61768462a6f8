"""Prometheus metrics: one instant query per metric per tick, query_range to backfill the charts.

An empty vector or NaN is no data the source answered with (`answered`). Errors and timeouts are counted:
after `max_errors` consecutive failing ticks the source is down, and guards apply their no-data rule.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import Field

from backends.base import BackendConfig, BackendContext, NoData, Problem, Sample, SharedClient, expand_env

COLOUR_LABELS = ("colour", "color", "version", "track", "slot")


class PrometheusMetrics:
    class Config(BackendConfig):
        url: str
        timeout: float = Field(default=5.0, gt=0)
        max_errors: int = Field(default=4, ge=1)
        headers: dict[str, str] = Field(default_factory=dict)

    def __init__(self, config: Config, ctx: BackendContext) -> None:
        self.config = config
        self.ctx = ctx
        self.errors = 0  # consecutive failing ticks
        self.last_error = ""
        self._http = SharedClient(lambda: httpx.AsyncClient(
            base_url=self.config.url.rstrip("/"), timeout=self.config.timeout,
            headers={k: expand_env(v) for k, v in self.config.headers.items()}))

    def _client(self) -> httpx.AsyncClient:
        return self._http.get()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _get(self, client: httpx.AsyncClient, path: str, params: dict[str, Any]) -> Any:
        resp = await client.get(path, params=params)
        body = resp.json() if resp.headers.get("content-type", "").startswith("application/json") else {}
        if resp.status_code >= 400 or body.get("status") != "success":
            raise PrometheusError(body.get("error") or f"HTTP {resp.status_code}", body.get("errorType", ""))
        return body["data"]

    async def sample(self, queries: Mapping[str, str]) -> Mapping[str, Sample | NoData]:
        now = self.ctx.clock.now()
        try:
            client = self._client()
            results = await asyncio.gather(
                *(self._get(client, "/api/v1/query", {"query": q}) for q in queries.values()),
                return_exceptions=True,
            )
        except Exception as e:  # noqa: BLE001 - counted as a failing tick below
            results = [e] * len(queries)
        out: dict[str, Sample | NoData] = {}
        failed = 0
        for name, res in zip(queries, results, strict=True):
            if isinstance(res, BaseException):
                failed += 1
                out[name] = NoData(_describe(res), now)
            else:
                out[name] = _to_sample(res, now)
        if failed and failed == len(queries):
            self.errors += 1
            self.last_error = next(v.reason for v in out.values() if isinstance(v, NoData))
        else:
            self.errors = 0
        if self.errors >= self.config.max_errors:
            reason = f"prometheus down ({self.errors} failing ticks): {self.last_error}"
            return {name: NoData(reason, now, source_down=True) for name in queries}
        return out

    async def backfill(
        self, queries: Mapping[str, str], start: float, end: float, step: float
    ) -> Mapping[str, list[Sample]]:
        out: dict[str, list[Sample]] = {}
        client = self._client()
        for name, q in queries.items():
            data = await self._get(client, "/api/v1/query_range",
                                   {"query": q, "start": start, "end": end, "step": max(step, 1.0)})
            points: dict[float, dict[str, float]] = {}
            for series in data.get("result", []):
                label = _colour(series.get("metric", {}))
                for ts, value in series.get("values", []):
                    v = float(value)
                    if not math.isnan(v):
                        points.setdefault(float(ts), {})[label or "all"] = v
            out[name] = [_combine(per, ts) for ts, per in sorted(points.items())]
        return out

    async def validate(self, query: str) -> str | None:
        """Prometheus' own parse error for a query, or None when it parses."""
        try:
            await self._get(self._client(), "/api/v1/query", {"query": query, "time": 0})
        except PrometheusError as e:
            return f"prometheus rejects the query: {e}" if e.kind == "bad_data" else None
        except httpx.HTTPError as e:
            return f"prometheus at {self.config.url} did not answer: {_describe(e)}"
        return None

    async def preflight(self) -> list[Problem]:
        try:
            resp = await self._client().get("/-/ready")
        except httpx.HTTPError as e:
            return [Problem(f"prometheus at {self.config.url} is not reachable: {_describe(e)}", field="url")]
        if resp.status_code != 200:
            return [Problem(f"prometheus at {self.config.url} is not ready: HTTP {resp.status_code}", field="url")]
        return []


class PrometheusError(Exception):
    def __init__(self, message: str, kind: str = "") -> None:
        super().__init__(message)
        self.kind = kind


def _describe(e: BaseException) -> str:
    if isinstance(e, httpx.TimeoutException):
        return "timed out"
    if isinstance(e, httpx.ConnectError):
        return "connection refused"
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def _colour(labels: Mapping[str, str]) -> str:
    for key in COLOUR_LABELS:
        value = labels.get(key, "")
        if value in ("blue", "green"):
            return value
    return ""


def _combine(per: dict[str, float], ts: float) -> Sample:
    """One series: its value. Per-colour series: 'all' if present, else the sum of the colours."""
    series = {k: v for k, v in per.items() if k in ("blue", "green")}
    value = per["all"] if "all" in per else sum(series.values())
    return Sample(value, ts, series)


def _to_sample(data: Any, now: float) -> Sample | NoData:
    kind = data.get("resultType")
    if kind == "scalar":
        v = float(data["result"][1])
        return NoData("NaN", now, answered=True) if math.isnan(v) else Sample(v, now)
    per: dict[str, float] = {}
    for series in data.get("result", []):
        v = float(series["value"][1])
        if math.isnan(v):
            continue
        label = _colour(series.get("metric", {})) or "all"
        per.setdefault(label, v)
    if not per:
        return NoData("empty result" if not data.get("result") else "NaN", now, answered=True)
    return _combine(per, now)
