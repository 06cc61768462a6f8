"""A program in a pseudo-terminal: every byte it writes timestamped and rendered by pyte, so "on screen" means what
a terminal would show; CPU and RSS from psutil. The bench and the tests that look at a real screen share it."""

from __future__ import annotations

import os
import pty
import queue
import re
import select
import signal
import struct
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pyte

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


class Term:
    """A program in a pty, its output timestamped and rendered by pyte."""

    def __init__(self, argv: list[str], cols: int, rows: int, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        import fcntl
        import termios

        self.started = time.monotonic()
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.environ.update({"TERM": "xterm-256color", "PYTHONPATH": str(ROOT), **(env or {})})
            if cwd is not None:
                os.chdir(cwd)
            os.execv(argv[0], argv)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.chunks: list[tuple[float, int]] = []
        self.raw = bytearray()  # everything it wrote, as written (what stays after a full-screen app leaves)
        self._watch: Callable[[str], bool] | None = None  # what a wait waits for: the reader checks each chunk
        self._met: float | None = None  # arrival of the chunk that satisfied it
        self.lock = threading.Condition()
        self.proc = psutil.Process(self.pid)
        self.alive = True
        # Reading and parsing are apart: the pty holds 4 KiB, and a reader that parsed each chunk with pyte
        # before reading the next made the program wait on pyte, a frame the longer the bigger it was. The reader
        # takes the GIL back as soon as bytes arrive, not after pyte's 5 ms turn (for the process: set where a
        # Term runs, not when this module is imported).
        sys.setswitchinterval(0.0005)
        self._arrived: queue.SimpleQueue[tuple[float, bytes] | None] = queue.SimpleQueue()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._parse, daemon=True).start()

    def _read(self) -> None:
        while self.alive:
            try:
                r, _, _ = select.select([self.fd], [], [], 0.1)
            except (OSError, ValueError):
                break  # the terminal was closed under us (a hang-up test)
            if not r:
                continue
            try:
                data = os.read(self.fd, 1 << 16)
            except OSError:
                break
            if not data:
                break
            self._arrived.put((time.monotonic(), data))
        self._arrived.put(None)

    def _parse(self) -> None:
        while (item := self._arrived.get()) is not None:
            arrived, data = item
            with self.lock:
                self.chunks.append((arrived, len(data)))
                self.raw += data
                self.stream.feed(data)
                if self._watch is not None and self._watch("\n".join(self.screen.display)):
                    self._met, self._watch = arrived, None  # these bytes did it
                self.lock.notify_all()
        with self.lock:
            self.alive = False
            self.lock.notify_all()

    def text(self) -> str:
        with self.lock:
            return "\n".join(self.screen.display)

    def raw_text(self) -> str:
        """All it wrote, escape sequences removed: the lines printed after a full-screen app left."""
        with self.lock:
            return re.sub(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07]*(\x07|\x1b\\)|[@-Z\\-_])", "",
                          self.raw.decode(errors="replace"))

    def exit_code(self, timeout: float = 30.0) -> int:
        """The program's exit status once it has exited (TimeoutError if it does not in time)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                time.sleep(0.2)  # its last bytes reach the reader
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.05)
        raise TimeoutError(f"still running; it shows:\n{self.text()}")

    def wait(self, cond: Callable[[str], bool], timeout: float = 30.0) -> float:
        """Monotonic time at which the bytes that made the screen satisfy `cond` arrived (not when pyte
        was done reading them: a terminal emulator's own parsing is not the program's latency); now, if the
        screen satisfies it already."""
        deadline = time.monotonic() + timeout
        with self.lock:
            if cond("\n".join(self.screen.display)):
                return time.monotonic()
            self._watch, self._met = cond, None
            try:
                while self._met is None:
                    left = deadline - time.monotonic()
                    if left <= 0 or not self.alive:
                        raise TimeoutError(f"screen never matched; it shows:\n{chr(10).join(self.screen.display)}")
                    self.lock.wait(min(left, 0.05))
                return self._met
            finally:
                self._watch = None

    def send(self, data: bytes) -> float:
        t = time.monotonic()
        os.write(self.fd, data)
        return t

    def bytes_between(self, t0: float, t1: float) -> int:
        with self.lock:
            return sum(n for t, n in self.chunks if t0 <= t < t1)

    def cpu_seconds(self) -> float:
        total = 0.0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                c = p.cpu_times()
                total += c.user + c.system
            except psutil.NoSuchProcess:
                pass
        return total

    def rss_mb(self) -> tuple[float, float]:
        """RSS of the screen's process and of the engine it started (`shipdeck run` detaches it; 0 for
        programs without one), not of log sources."""
        engines = []
        for c in self.proc.children(recursive=True):
            try:
                if "tui.engine.process" in " ".join(c.cmdline()):
                    engines.append(c)
            except psutil.Error:
                pass  # a log source that just ended
        return (float(self.proc.memory_info().rss) / 2**20,
                sum(float(p.memory_info().rss) for p in engines) / 2**20)

    def close(self, engines: bool = True) -> None:
        """Kill the program, and (`engines`) every engine registered in this run's runtime directory."""
        self.alive = False
        try:
            kids = self.proc.children(recursive=True)  # the detached engine outlives its screen on purpose
        except psutil.NoSuchProcess:
            kids = []
        for kid in kids:
            try:
                kid.kill()
            except psutil.NoSuchProcess:
                pass
        from tui.engine.sockets import registered

        for engine in registered() if engines else []:  # one whose screen had gone is no longer its child
            try:
                os.kill(int(engine["pid"]), signal.SIGKILL)
            except OSError:
                pass
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(self.fd)


# ---------------------------------------------------------------- what is run
