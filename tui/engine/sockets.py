"""Where a run's engine listens and registers: its socket beside the journal, its entry in the runtime directory.

Light on purpose: `run` checks for an engine already on a journal before its screen paints, and the engine
process itself names its socket from here; the screens' protocol is not needed for that.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
from pathlib import Path
from typing import Any


def _short_address(path: Path) -> tuple[str, int | None]:
    """A unix socket path the kernel accepts (108 bytes at most): long ones go through /proc/self/fd."""
    text = str(path)
    if len(text.encode()) < 100:
        return text, None
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    return f"/proc/self/fd/{fd}/{path.name}", fd


@contextlib.contextmanager
def unix_address(path: Path) -> Any:
    address, fd = _short_address(path)
    try:
        yield address
    finally:
        if fd is not None:
            os.close(fd)


def runtime_dir() -> Path:
    """Where running engines register themselves for `shipdeck ps`."""
    base = os.environ.get("SHIPDECK_RUNTIME_DIR") or os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    path = Path(base) / f"shipdeck-{os.getuid()}"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def registered() -> list[dict[str, Any]]:
    """Engines that registered and whose process is alive; leftovers of dead ones are removed."""
    out = []
    for f in sorted(runtime_dir().glob("*.json")):
        try:
            info = json.loads(f.read_text(encoding="utf-8"))
            os.kill(int(info["pid"]), 0)
        except (OSError, ValueError, KeyError):
            with contextlib.suppress(OSError):
                f.unlink()
            continue
        out.append(info)
    return out


def socket_path(journal: Path) -> Path:
    return journal.with_name(journal.name + ".sock")


def connect(path: Path, timeout: float = 5.0) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        with unix_address(path) as address:
            sock.connect(address)
    except OSError:
        sock.close()
        raise
    return sock
