"""Secrets never leave the process: values of the environment variables a plan refers to (`$NAME` or
`${NAME}`, as a shell would), passwords in URLs and literal webhook URLs are masked in everything the
engine journals, shows or sends.

A value is masked whole (never inside a longer word) and only when it could be a secret: long enough and
not a plain word, so a variable holding `hook` or `production` does not blank every such word on screen.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from backends.base import ENV_REF

MASK = "***"
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@")
# $NAME and ${NAME}: what a plan's commands hand to the shell, and what backends expand.
_SHELL_REF = re.compile(r"\$(?:\{([A-Za-z_]\w*)\}|([A-Za-z_]\w*))")
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASS|PWD|KEY|AUTH|CRED|WEBHOOK|COOKIE|SESSION", re.I)
# Variables every shell has and that hold no secret: masking their values would blank paths and names.
_PLAIN = {"HOME", "USER", "LOGNAME", "PATH", "PWD", "OLDPWD", "SHELL", "HOSTNAME", "LANG", "TERM", "TMPDIR",
          "EDITOR", "PAGER", "TZ"}
MIN_SECRET = 6


def secretish(value: str, name: str = "") -> bool:
    """Whether a value could be a credential: at least MIN_SECRET characters, and either held by a variable
    named like one (API_TOKEN) or not a plain word (two kinds of character, ~2.5 bits of entropy each)."""
    if len(value) < MIN_SECRET or name in _PLAIN:
        return False
    if name and _SECRET_NAME.search(name):
        return True
    kinds = sum(any(test(c) for c in value) for test in (str.islower, str.isupper, str.isdigit,
                                                          lambda c: not c.isalnum()))
    counts = Counter(value)
    entropy = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    return kinds >= 2 and entropy >= 2.5


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
        text = repr(plan_data)
        names = {a or b for a, b in _SHELL_REF.findall(text)}
        values = {os.environ.get(n, ""): n for n in names}
        found = {v for v, n in values.items() if secretish(v, n)}
        for url in _literal_urls(plan_data):
            found.add(url)
            parts = urlsplit(url)
            found.update(p for p in (parts.path.strip("/"), parts.query) if secretish(p))
        self.secrets = sorted(found, key=len, reverse=True)
        self._pattern = re.compile("|".join(rf"(?<![A-Za-z0-9]){re.escape(s)}(?![A-Za-z0-9])" for s in self.secrets)
                                   ) if self.secrets else None

    def text(self, text: str) -> str:
        if "://" in text and "@" in text:
            text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK + "@", text)
        if self._pattern is not None:
            text = self._pattern.sub(MASK, text)
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
