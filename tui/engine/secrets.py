"""Secrets never leave the process: values of the environment variables a plan refers to, passwords
in URLs and literal webhook URLs are masked in everything the engine journals, shows or sends."""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import urlsplit

from backends.base import ENV_REF

MASK = "***"
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@")
_MIN_SECRET = 4  # shorter values ("1", "on") would mask ordinary text


def mask_url(url: str) -> str:
    """Keep where a URL goes, not the credential in its path or query: https://hooks.example/***."""
    if ENV_REF.fullmatch(url.strip()):
        return url
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return MASK
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}/{MASK}"


class Redactor:
    def __init__(self, plan_data: Any) -> None:
        names = set(ENV_REF.findall(repr(plan_data)))
        values = {os.environ.get(n, "") for n in names}
        for url in _literal_urls(plan_data):
            values.add(url)
            parts = urlsplit(url)
            values.update(p for p in (parts.path.strip("/"), parts.query) if p)
        self.secrets = sorted((v for v in values if len(v) >= _MIN_SECRET), key=len, reverse=True)

    def text(self, text: str) -> str:
        if "://" in text and "@" in text:
            text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK + "@", text)
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def data(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value


def _literal_urls(plan_data: Any) -> list[str]:
    """Notification URLs written into the plan itself (a webhook URL is its own credential)."""
    if not isinstance(plan_data, dict):
        return []
    notify = (plan_data.get("backends") or {}).get("notify") or []
    return [n["url"] for n in notify if isinstance(n, dict) and isinstance(n.get("url"), str)
            and not ENV_REF.search(n["url"])]


def mask_plan(plan_data: dict[str, Any]) -> dict[str, Any]:
    """The plan as journalled: literal notification URLs masked."""
    backends = dict(plan_data.get("backends") or {})
    backends["notify"] = [{**n, "url": mask_url(n["url"])} if isinstance(n.get("url"), str) else n
                          for n in backends.get("notify") or []]
    return {**plan_data, "backends": backends}
