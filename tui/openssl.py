"""OpenSSL waits for a backend that speaks TLS.

asyncio imports ssl for loop-level TLS and hashlib/hmac load OpenSSL's digests: libcrypto costs every screen and
engine ~4 MB resident and ~10 ms, for nothing when no backend speaks HTTPS. `tui/__init__` hides OpenSSL while
they load (hashlib falls back to CPython's own digests). A backend that speaks TLS imports ssl itself (httpx,
the kubernetes client, aiohttp); once backends are built, `asyncio_tls()` gives asyncio its loop-level TLS back,
which a backend's `loop.create_connection(ssl=...)` (aiohttp's https) needs.
"""

from __future__ import annotations

import sys

_HIDDEN = ("ssl", "_hashlib")
_ASYNCIO_TLS = ("asyncio.base_events", "asyncio.selector_events", "asyncio.sslproto")


def load_without_openssl() -> None:
    """asyncio, hashlib and hmac, loaded with OpenSSL hidden; nothing if any of them is loaded already."""
    if any(name in sys.modules for name in ("asyncio", "hashlib", "hmac", *_HIDDEN)):
        return
    for name in _HIDDEN:
        sys.modules[name] = None  # type: ignore[assignment]  # `import` raises ImportError: documented
    try:
        import asyncio  # noqa: F401
        import hashlib  # noqa: F401
        import hmac  # noqa: F401
    finally:
        for name in _HIDDEN:
            del sys.modules[name]


def asyncio_tls() -> None:
    """Once something imported ssl: asyncio's modules that found none get it (the names CPython 3.11-3.13 use)."""
    ssl = sys.modules.get("ssl")
    if ssl is None:
        return
    for name in _ASYNCIO_TLS:
        module = sys.modules.get(name)
        if module is not None and getattr(module, "ssl", ssl) is None:
            module.ssl = ssl  # type: ignore[attr-defined]
    proto = sys.modules.get("asyncio.sslproto")
    if proto is not None and not hasattr(proto, "SSLAgainErrors"):
        proto.SSLAgainErrors = (ssl.SSLWantReadError, ssl.SSLSyscallError)  # type: ignore[attr-defined]
