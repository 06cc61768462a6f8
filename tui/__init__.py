"""shipdeck: the command center (screens) and its engine."""

import sys

_OPENSSL = ("ssl", "_hashlib")
if not any(name in sys.modules for name in ("asyncio", "hashlib", "hmac", *_OPENSSL)):
    # asyncio loads ssl for loop-level TLS and hashlib/hmac load OpenSSL's digests; shipdeck uses neither, and libcrypto
    # costs every screen and engine ~4 MB resident and ~10 ms. Hide OpenSSL while they load (hashlib falls back to
    # CPython's own digests); httpx or the kubernetes client still import ssl when a backend needs it.
    for name in _OPENSSL:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        import asyncio  # noqa: F401
        import hashlib  # noqa: F401
        import hmac  # noqa: F401
    finally:
        for name in _OPENSSL:
            del sys.modules[name]
