"""Notifications: Slack incoming webhooks and plain JSON webhooks. Never block, never raise.

URLs may be `${ENV}` references, expanded at send time; the secret never reaches a log line.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import Field

from backends.base import ENV_REF, BackendConfig, BackendContext, LogLine, Problem, SharedClient, expand_env

EVENTS = ("phase-start", "phase-end", "shift", "gate-waiting", "guard-breach", "rollback", "completed",
          "step-failed", "drift", "abort", "message")


def redact(url_template: str) -> str:
    """What may be shown of a webhook URL: the ${VAR} name, or scheme and host only."""
    if ENV_REF.search(url_template):
        return url_template
    parts = urlsplit(url_template)
    return f"{parts.scheme}://{parts.hostname}/…" if parts.hostname else "(webhook)"


class _Webhook:
    class Config(BackendConfig):
        url: str
        events: list[str] = Field(default_factory=list)
        timeout: float = Field(default=5.0, gt=0)

    def __init__(self, config: Config, ctx: BackendContext) -> None:
        self.config = config
        self.ctx = ctx
        self.sent = 0
        self.failed = 0
        self._http = SharedClient(lambda: httpx.AsyncClient(timeout=self.config.timeout))

    def payload(self, event: str, message: str, context: Mapping[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    async def notify(self, event: str, message: str, context: Mapping[str, Any]) -> None:
        if self.config.events and event not in self.config.events:
            return
        url = expand_env(self.config.url)
        try:
            resp = await self._http.get().post(url, json=self.payload(event, message, context))
            if resp.status_code >= 300:
                raise httpx.HTTPStatusError(f"HTTP {resp.status_code}", request=resp.request, response=resp)
            self.sent += 1
        except Exception as e:  # noqa: BLE001 - a notification never stops a deploy
            self.failed += 1
            what = f"HTTP {e.response.status_code}" if isinstance(e, httpx.HTTPStatusError) else type(e).__name__
            self._log(f"{self.config.type} notification to {redact(self.config.url)} failed: {what}")

    async def aclose(self) -> None:
        await self._http.aclose()

    def _log(self, text: str) -> None:
        if self.ctx.emit_log is not None:
            self.ctx.emit_log(LogLine(time.time(), "notify", "warning", text))

    async def preflight(self) -> list[Problem]:
        missing = [m.group(1) for m in ENV_REF.finditer(self.config.url) if not os.environ.get(m.group(1))]
        if missing:
            return [Problem(f"environment variable {', '.join(missing)} is not set", field="url")]
        unknown = [e for e in self.config.events if e not in EVENTS]
        if unknown:
            return [Problem(f"unknown events {unknown}; known: {', '.join(EVENTS)}", field="events")]
        return []


class WebhookNotifier(_Webhook):
    def payload(self, event: str, message: str, context: Mapping[str, Any]) -> dict[str, Any]:
        return {"event": event, "message": message, **context}


class SlackNotifier(_Webhook):
    def payload(self, event: str, message: str, context: Mapping[str, Any]) -> dict[str, Any]:
        where = f"{context.get('plan', '')} › {context.get('phase', '')}".strip(" ›")
        return {"text": f"*{event}* {message}" + (f"\n_{where}_ (green {context.get('traffic')}%)" if where else "")}
