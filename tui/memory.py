"""A screen's heap: one arena, and a burst's pages given back (glibc; elsewhere these do nothing)."""

from __future__ import annotations

from typing import Any

M_ARENA_MAX = -8  # glibc's mallopt parameter
_libc: Any = None


def _c() -> Any:
    global _libc
    if _libc is None:
        import ctypes  # here, not at import: ~2 ms

        _libc = ctypes.CDLL(None)
    return _libc


def one_arena() -> None:
    """Each thread (Textual's input and output, the engine's link) would get a glibc arena of its own and keep what a
    burst grew it to: ~2.5 MB of a screen after a million log lines. They allocate under the GIL anyway, so sharing
    one arena costs no contention. Call before the screen's threads start."""
    mallopt = getattr(_c(), "mallopt", None)
    if mallopt is not None:
        mallopt(M_ARENA_MAX, 1)


def give_back() -> None:
    """glibc keeps the heap as large as a burst grew it; malloc_trim returns its free pages (~3 MB of a screen after
    a million log lines)."""
    trim = getattr(_c(), "malloc_trim", None)
    if trim is not None:
        trim(0)
