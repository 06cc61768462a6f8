"""A screen process's memory: startup's objects kept out of the cyclic collector's scans, one arena, and a log
burst's pages given back (glibc; elsewhere the last two do nothing)."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

M_ARENA_MAX = -8  # glibc's mallopt parameter
_libc: Any = None


def _c() -> Any:
    global _libc
    if _libc is None:
        import ctypes  # here, not at import: ~2 ms

        _libc = ctypes.CDLL(None)
    return _libc


def keep_for_good() -> None:
    """What a screen's process made before its app runs (modules, classes, the plan) lives as long as it does.
    Frozen, the collector never scans it again: the collector took 40-60 ms of a screen's start, half of it one
    full collection in the first frame's render. Only where nothing of an earlier app is left to collect: in the
    process the CLI started, not in a test's."""
    gc.freeze()


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


class AfterBursts:
    """Gives the heap back once at least `lines` log lines came and then none for `quiet` seconds: after a burst,
    not during one, and never for a trickle."""

    def __init__(self, lines: int, quiet: float = 0.5) -> None:
        self.lines, self.quiet = lines, quiet
        self._count = 0
        self._due: asyncio.TimerHandle | None = None

    def came(self, n: int) -> None:
        """On the event loop, as lines arrive."""
        self._count += n
        if self._count < self.lines:
            return
        if self._due is not None:
            self._due.cancel()
        self._due = asyncio.get_running_loop().call_later(self.quiet, self._trim)

    def _trim(self) -> None:
        self._count, self._due = 0, None
        give_back()
