"""`probe:` steps over HTTP: status, latency, optional body match, with retries and a timeout."""

from __future__ import annotations

import asyncio
import time

import httpx
from pydantic import Field

from backends.base import BackendConfig, BackendContext, ProbeResult, Problem, SharedClient


class HttpProbe:
    class Config(BackendConfig):
        retries: int = Field(default=2, ge=0, le=10)
        backoff: float = Field(default=0.5, ge=0)

    def __init__(self, config: Config, ctx: BackendContext) -> None:
        self.config = config
        self._http = SharedClient(lambda: httpx.AsyncClient(follow_redirects=False))

    async def probe(self, url: str, expect_status: int, timeout: float, body: str | None = None) -> ProbeResult:
        last = ProbeResult(False, None, 0.0, "not tried")
        for attempt in range(self.config.retries + 1):
            if attempt:
                await asyncio.sleep(self.config.backoff * attempt)
            started = time.monotonic()
            try:
                resp = await self._http.get().get(url, timeout=timeout)
            except httpx.HTTPError as e:
                kind = "timed out" if isinstance(e, httpx.TimeoutException) else type(e).__name__
                last = ProbeResult(False, None, (time.monotonic() - started) * 1000, f"{kind} (try {attempt + 1})")
                continue
            latency = (time.monotonic() - started) * 1000
            if resp.status_code != expect_status:
                last = ProbeResult(False, resp.status_code, latency, f"expected {expect_status} (try {attempt + 1})")
                continue
            if body is not None and body not in resp.text:
                last = ProbeResult(False, resp.status_code, latency, f"body lacks {body!r} (try {attempt + 1})")
                continue
            return ProbeResult(True, resp.status_code, latency, f"try {attempt + 1}" if attempt else "")
        return last

    async def aclose(self) -> None:
        await self._http.aclose()

    async def preflight(self) -> list[Problem]:
        return []
