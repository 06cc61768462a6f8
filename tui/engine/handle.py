"""Engine handles: what a screen holds to talk to a run, whether the engine is in this process or another.

Every handle has the same surface: `plan`, `state`, `journal_path`, `operator`, `subscribe(fn)` (plain event
dicts, called from the handle's own thread), `submit(name, **args)`, `describe`, `preview`, `refuses(command)`
(what this screen may not do here, before the engine's own rules), `start()`, `detach(reason)`, `join(timeout)`,
`ended` and `exit_status`. The command center is handed one and never builds an engine itself.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import queue
import socket
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol

from tui.engine.plandata import PlanData
from tui.engine.protocol import (
    MAX_LINE,
    Ask,
    Command,
    Event,
    Hello,
    ProtocolError,
    Refused,
    Reply,
    Stop,
    Welcome,
    decode,
    encode,
)
from tui.engine.sockets import connect
from tui.engine.state import RunState, Subscriber, exit_code, resume_command


class EngineHandle(Protocol):
    """The one surface a screen talks to a run through (see the module docstring)."""

    plan: PlanData  # as the engine validated it: no pydantic in a screen's process
    plan_path: str
    journal_path: Path
    operator: str
    detaches: bool  # closing this screen leaves the engine running

    @property
    def read_only(self) -> str: ...  # why this screen cannot drive ('' when it can)

    @property
    def state(self) -> RunState: ...
    @property
    def ended(self) -> bool: ...
    @property
    def exit_status(self) -> int: ...
    @property
    def failed(self) -> str: ...
    @property
    def machine_broken(self) -> bool: ...

    def subscribe(self, fn: Subscriber) -> None: ...
    def submit(self, name: str, operator: str | None = None, **args: Any) -> None: ...
    def describe(self, name: str, **args: Any) -> list[str]: ...
    def preview(self, percent: int) -> concurrent.futures.Future[list[str]] | None: ...
    def refuses(self, command: str) -> str | None: ...
    def alongside(self, factory: Callable[[], Coroutine[Any, Any, None]]) -> None: ...
    def start(self) -> None: ...
    def detach(self, reason: str) -> None: ...
    def join(self, timeout: float) -> None: ...


def screen_refusal(state: RunState, mode: str, operator: str, command: str, rollback_by: str) -> str | None:
    """Why an attached screen may not send `command`, or None. The engine's server and the screen's keys
    both ask this: one driver, any number of watchers.

    `mode`: drive (may hold the helm) or watch (--read-only: never takes it)."""
    drives = mode == "drive" and bool(state.helm) and state.helm == operator
    if command == "take":
        if mode != "drive":
            return "read-only screen (--read-only): it never takes the helm"
        return "you have the helm" if drives else None
    if command == "rollback":
        if rollback_by == "anyone" or mode == "drive":
            return None
        return "the plan lets only operators' screens roll back, not read-only ones (settings.rollback_by)"
    if drives:
        return None
    step = state.current_step
    if command == "approve" and mode == "drive" and step is not None and step.spec.get("four_eyes"):
        return None  # a second operator (not a read-only watcher) is exactly who approves this gate
    who = f"{state.helm} drives" if state.helm else "nobody drives"
    if mode != "drive":
        return f"read-only screen: {who}"
    return f"{who}: T takes the helm (with a reason)"


def welcome(path: Path, hello: Hello, timeout: float = 10.0) -> tuple[socket.socket, Any, Welcome]:
    """Connect, say hello, read the engine's welcome. Raises OSError or ProtocolError."""
    sock = connect(path, timeout)
    try:
        sock.sendall(encode(hello))
        reader = sock.makefile("rb")
        line = reader.readline(MAX_LINE)
        if not line:
            raise ProtocolError("the engine closed the connection without a welcome")
        msg = decode(line)
        if isinstance(msg, Refused):
            raise ProtocolError(msg.reason)
        if not isinstance(msg, Welcome):
            raise ProtocolError(f"expected a welcome, got {msg.TYPE}")
    except BaseException:
        sock.close()
        raise
    return sock, reader, msg


class RemoteEngine:
    """A detached engine, over its unix socket. Closing this screen leaves the engine guarding."""

    detaches = True

    def __init__(self, path: Path, operator: str, mode: str = "drive") -> None:
        self.mode = mode
        self.path = path
        self._sock, self._reader, w = welcome(path, Hello(operator, mode))
        self.welcome = w
        self.operator = w.operator  # as the engine knows this screen: its OS account, proved by the socket
        self.pid = w.pid
        self.plan = PlanData(w.plan)
        self.plan_path = w.plan_path
        self.journal_path = Path(w.journal)
        self.resume = resume_command(w.plan_path, w.journal)
        self._state = RunState.from_dict(w.state)
        self.failed = w.failed
        self.machine_broken = w.machine_broken
        self.rollback_by = w.rollback_by
        self._describe = w.describe
        self.ended = False
        self.run_ended = False
        self.lost = False  # the link broke without this screen leaving and the engine is gone
        self.dropped = False  # the link broke without this screen leaving and the engine still runs
        self.stopped = ""  # why the engine stopped with the run live ('' unless it did)
        self._subscribers: list[Subscriber] = []
        self._replies: dict[int, concurrent.futures.Future[list[str]]] = {}
        self._req = 0
        self._lock = threading.Lock()  # replies and `ended`, between the reader thread and the screen's
        self._outbox: queue.SimpleQueue[Any] = queue.SimpleQueue()  # a key never waits on the socket
        self._closing = False
        self._thread: threading.Thread | None = None
        self._writer: threading.Thread | None = None

    @property
    def state(self) -> RunState:
        return self._state

    @property
    def exit_status(self) -> int:
        return exit_code(self._state)

    @property
    def read_only(self) -> str:
        return screen_refusal(self._state, self.mode, self.operator, "advance", self.rollback_by) or ""

    def subscribe(self, fn: Subscriber) -> None:
        self._subscribers.append(fn)

    def alongside(self, factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
        raise ValueError("the autopilot flies in-process runs only (the demo)")

    def refuses(self, command: str) -> str | None:
        if self.ended:
            return "the engine is gone: nothing reaches it from this screen"
        return screen_refusal(self._state, self.mode, self.operator, command, self.rollback_by)

    def submit(self, name: str, operator: str | None = None, **args: Any) -> None:
        self._send(Command(name, operator or self.operator, args))

    def stop_engine(self, reason: str) -> None:
        self._send(Stop(self.operator, reason))

    def describe(self, name: str, **args: Any) -> list[str]:
        key = "rollback" if name == "rollback" else f"shift:{args.get('percent')}"
        return list(self._describe.get(key, []))

    def preview(self, percent: int) -> concurrent.futures.Future[list[str]] | None:
        with self._lock:
            if not self.welcome.can_preview or self.ended:
                return None
            self._req += 1
            fut: concurrent.futures.Future[list[str]] = concurrent.futures.Future()
            self._replies[self._req] = fut
        self._send(Ask(self._req, "preview", args={"percent": percent}))
        return fut

    def _send(self, msg: Any) -> None:
        self._outbox.put(msg)

    def _write(self) -> None:
        while (msg := self._outbox.get()) is not None:
            try:
                self._sock.sendall(encode(msg))
            except OSError as e:
                self._emit({"type": "notice", "level": "error",
                            "text": f"{msg.TYPE} not sent: engine connection: {e}"})

    def _emit(self, ev: dict[str, Any]) -> None:
        for fn in list(self._subscribers):
            fn(ev)

    def start(self) -> None:
        sys.setswitchinterval(0.001)  # a command's send must not wait 5 ms turns behind a repaint
        self._sock.settimeout(None)
        self._thread = threading.Thread(target=self._read, name="shipdeck-attach", daemon=True)
        self._thread.start()
        self._writer = threading.Thread(target=self._write, name="shipdeck-attach-send", daemon=True)
        self._writer.start()

    def _read(self) -> None:
        why = "the engine closed the connection"
        try:
            while True:
                line = self._reader.readline(MAX_LINE)
                if not line:
                    break
                self._handle(decode(line))
        except Exception as e:  # noqa: BLE001 - whatever broke the link, the screen must say so
            why = f"{type(e).__name__}: {e}"
        finally:
            with self._lock:
                self.ended = True
                waiting, self._replies = list(self._replies.values()), {}
            for fut in waiting:
                if not fut.done():
                    fut.set_exception(ConnectionError("the engine connection closed"))
            self._outbox.put(None)
            if not self._closing and not self.run_ended:
                if _still_runs(self.pid, self.path):
                    self.dropped = True
                    self._emit({"type": "engine", "status": "dropped",
                                "reason": f"the engine (pid {self.pid}) still guards the run but closed this screen's "
                                          f"link ({why}; a screen that stops reading is dropped): what you see is frozen "
                                          f"and nothing reaches the engine from here; back to it: shipdeck attach "
                                          f"{self.journal_path}"})
                else:
                    self.lost = True
                    self._emit({"type": "engine", "status": "failed",
                                "reason": f"lost the engine (pid {self.pid}): {why}; `shipdeck ps` lists running "
                                          f"engines; if it is gone: {self.resume}"})

    def _handle(self, msg: Any) -> None:
        if isinstance(msg, Event):
            ev = msg.body
            kind = ev.get("type")
            if kind == "state":
                self._state = RunState.from_dict(ev["state"])
            elif kind == "engine":
                self.failed = "" if ev.get("status") == "ok" else self.failed or str(ev.get("reason", ""))
            elif kind == "end":
                self.run_ended = True
            self._emit(ev)
            if kind == "end" and ev.get("suspended"):  # stopped with the run live: nobody guards it now
                self.stopped = str(ev["suspended"])
                self.failed = f"the engine stopped: {self.stopped}"
                self._emit({"type": "engine", "status": "failed",
                            "reason": f"{self.failed}; NO GUARD WATCHES with {ev.get('words')}; "
                                      f"resume: {self.resume}"})
        elif isinstance(msg, Reply):
            with self._lock:
                fut = self._replies.pop(msg.req, None)
            if fut is not None and not fut.done():
                if msg.error:
                    fut.set_exception(RuntimeError(msg.error))
                else:
                    fut.set_result(list(msg.lines))
        elif isinstance(msg, Refused):
            self._emit({"type": "notice", "level": "warning", "text": f"{msg.name}: {msg.reason}"})

    def detach(self, reason: str) -> None:
        """Leave; commands already queued (a rollback confirmed just before q) are sent first."""
        self._closing = True
        self._outbox.put(None)
        if self._writer is not None and self._writer is not threading.current_thread():
            self._writer.join(5.0)
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
        with contextlib.suppress(OSError):
            self._sock.close()


def _still_runs(pid: int, path: Path) -> bool:
    """Whether the engine outlived this screen's link: its process lives and its socket still takes screens (an
    engine on its way out closes the socket first)."""
    import psutil

    time.sleep(0.2)
    try:
        if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return False
        connect(path, 1.0).close()
    except (psutil.Error, OSError):
        return False
    return True
