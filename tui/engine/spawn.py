"""Start a run's engine as a process of its own, detached from this terminal (its own session: an SSH drop
or a closed tmux never reaches it), and wait until its socket answers."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from tui.engine.sockets import connect, socket_path


class SpawnError(Exception):
    pass


def engine_log(journal: Path) -> Path:
    return journal.with_name(journal.name + ".engine.log")


def already_running(journal: Path) -> str:
    """What to say when an engine already runs this journal ('' when none does)."""
    sock = socket_path(journal)
    if sock.exists():
        try:
            connect(sock, 1.0).close()
        except OSError:
            return ""  # a socket left by an engine that died: a new engine replaces it
        return f"an engine already runs {journal}: shipdeck attach {journal}"
    return ""


def spawn_engine(plan: str, journal: Path, resume: bool = False, idle_exit: float | None = None,
                 timeout: float = 30.0, group: str = "") -> Path:
    """The engine's socket once it accepts screens. Raises SpawnError with the engine's own words."""
    sock = socket_path(journal)
    if running := already_running(journal):
        raise SpawnError(running)
    journal.parent.mkdir(parents=True, exist_ok=True)
    log = engine_log(journal)
    cmd = [sys.executable, "-m", "tui.engine.process", str(Path(plan).resolve()), "--journal", str(journal)]
    if resume:
        cmd.append("--resume")
    if idle_exit is not None:
        cmd += ["--idle-exit", str(idle_exit)]
    if group:
        cmd += ["--group", group]
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-8:]
            raise SpawnError(f"the engine stopped as it started (exit {code}); {log}:\n" + "\n".join(tail))
        try:
            connect(sock, 1.0).close()
        except OSError:
            time.sleep(0.01)  # a refused connect on a local socket costs microseconds; the wait is first paint
            continue
        # Reap it if it ends while this screen runs: a zombie would still look alive to `ps`.
        threading.Thread(target=proc.wait, name="shipdeck-engine-reaper", daemon=True).start()
        return sock
    raise SpawnError(f"the engine (pid {proc.pid}) did not open {sock} within {timeout:.0f}s; see {log}")
