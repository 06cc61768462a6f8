"""The detached engine: one process per run owns the journal, guards and backends, and serves its screens
over a unix socket next to the journal (mode 0600, or 0660 for the operators' group). Screens come and go; the guards never stop watching.

The engine leaves by itself only when nobody is attached and nothing is at stake: the run is over, or it
never started. A live run with no screen keeps guarding until someone attaches.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import json
import os
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends.base import LogLine, Previewable
from tui.engine.driver import Driver
from tui.engine.handle import screen_refusal
from tui.engine.identity import MAX_NAME, MAX_TEXT, peer_uid, verified
from tui.engine.protocol import (
    MAX_LINE,
    Ask,
    Command,
    Event,
    Hello,
    Message,
    ProtocolError,
    Refused,
    Reply,
    Stop,
    Welcome,
    decode,
    encode,
)
from tui.engine.sockets import runtime_dir, unix_address
from tui.engine.state import exit_code
from tui.engine.wiring import bounded, line_dict, on_loop

IDLE_EXIT_S = 60.0  # nobody attached and nothing at stake for this long: the engine leaves
# A screen behind by SHED_AT (a burst faster than its link) goes without log sources' lines until it catches
# up, and is told how many; a screen that takes nothing for STALLED_S (ctrl+z, a dead SSH link), or falls
# MAX_BEHIND behind anyway, is dropped: never waited for.
SHED_AT = 1024 * 1024
STALLED_S = 20.0
MAX_BEHIND = 8 * 1024 * 1024
HISTORY_SAMPLES = 900
HISTORY_LOG_LINES = 2000


@dataclass(eq=False)
class _Screen:
    operator: str  # as verified: the account its peer credentials prove, with the name it gave
    mode: str
    writer: asyncio.StreamWriter
    said: str = ""  # the operator name the screen itself sent
    now: Callable[[], float] = time.time  # the run's clock, for the lines this screen is told
    skipped: int = 0  # log lines it went without, not yet told
    _written: int = 0
    _taken: int = 0  # bytes the screen's side has taken so far
    _moved: float = field(default_factory=time.monotonic)  # when it last took something

    def send(self, data: bytes, lines: int = 0) -> str:
        """'' once `data` is sent, or skipped: `lines` > 0 says it carries that many log source lines, which a
        screen behind goes without. Otherwise why the screen must be dropped."""
        if self.writer.is_closing():
            return "its link closed"
        behind = self.writer.transport.get_write_buffer_size()
        taken, now = self._written - behind, time.monotonic()
        if taken > self._taken or not behind:
            self._taken, self._moved = taken, now
        elif now - self._moved > STALLED_S:
            return f"took nothing for {STALLED_S:.0f}s (a dead link, or a stopped screen)"
        if behind > MAX_BEHIND:
            return "too far behind (slow or dead link)"
        if behind > SHED_AT:
            if lines:
                self.skipped += lines
                return ""
        elif self.skipped:
            text = (f"{self.skipped:,} log line(s) were not sent to this screen: it fell behind a burst faster than "
                    "its link (guards and other screens had them all)")
            self.write(encode(Event({"type": "logs", "lines": [line_dict(LogLine(self.now(), "shipdeck", "warning", text))]})))
            self.skipped = 0
        self.write(data)
        return ""

    def write(self, data: bytes) -> None:
        """Unconditionally (what a screen must have to start: its welcome's replay)."""
        self.writer.write(data)
        self._written += len(data)


class EngineServer:
    def __init__(self, driver: Driver, sock: Path, idle_exit: float = IDLE_EXIT_S, group: str = "") -> None:
        self.driver = driver
        self.sock = sock
        self.idle_exit = idle_exit
        self.group = group  # an OS group whose members may attach too (socket mode 0660)
        self.screens: list[_Screen] = []
        self._samples: deque[dict[str, Any]] = deque(maxlen=HISTORY_SAMPLES)
        self._logs: deque[dict[str, Any]] = deque(maxlen=HISTORY_LOG_LINES)
        self._latest: dict[str, dict[str, Any]] = {}  # the last backend health per backend, history, journal
        self._loop: asyncio.AbstractEventLoop | None = None
        self._helm_claimed = False
        self._registration = runtime_dir() / f"{os.getpid()}.json"
        plan = driver.plan
        traffic = driver.backends.traffic
        self._describe = {f"shift:{p}": driver.describe("shift", percent=p) for p in range(101)}
        self._describe["rollback"] = driver.describe("rollback")
        self._can_preview = isinstance(traffic, Previewable)
        self._plan = plan.screen_data()

    async def run(self) -> int:
        self._loop = asyncio.get_running_loop()
        self.driver.subscribe(self._on_event)
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._loop.add_signal_handler(sig, self.driver.suspend, f"engine stopped by signal {sig.name}")
        self._loop.add_signal_handler(signal.SIGHUP, lambda: None)  # no terminal to lose: keep guarding
        with contextlib.suppress(FileNotFoundError):
            self.sock.unlink()
        # Registered before it listens: whoever its socket answered finds it in `shipdeck ps` (a test that read the
        # registry right after spawn_engine returned once found nothing).
        self._register()
        old = os.umask(0o077)  # the socket is born 0600: commands from this user only
        try:
            with unix_address(self.sock) as address:
                server = await asyncio.start_unix_server(self._serve, path=address, limit=MAX_LINE)
        finally:
            os.umask(old)
        if self.group:  # the operators' group may attach; each screen is still who its credentials say
            os.chown(self.sock, -1, grp.getgrnam(self.group).gr_gid)
            os.chmod(self.sock, 0o660)
        else:
            os.chmod(self.sock, 0o600)
        watchdog = asyncio.create_task(self._idle_watch())
        try:
            final = await self.driver.run(linger=True)
        finally:
            watchdog.cancel()
            server.close()
            for s in list(self.screens):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(s.writer.drain(), 2.0)
                s.writer.close()
            with contextlib.suppress(OSError):
                self.sock.unlink()
            with contextlib.suppress(OSError):
                self._registration.unlink()
        return exit_code(final)

    def _register(self) -> None:
        info = {"pid": os.getpid(), "socket": str(self.sock), "journal": str(self.driver.journal_path),
                "plan": self.driver.plan.name, "plan_path": self.driver.loaded.path, "started": time.time()}
        tmp = self._registration.with_suffix(".tmp")
        tmp.write_text(json.dumps(info), encoding="utf-8")
        tmp.replace(self._registration)

    async def _idle_watch(self) -> None:
        assert self._loop is not None
        idle_since = self._loop.time()
        while True:
            await asyncio.sleep(1.0)
            s = self.driver.state
            if self.screens or not (s.terminal or s.status == "pending"):
                idle_since = self._loop.time()
            elif self._loop.time() - idle_since >= self.idle_exit:
                if s.terminal:
                    await self.driver.stop("no screen attached")
                else:
                    self.driver.suspend("no screen attached before the run started")
                return

    # ------------------------------------------------------------ events out

    def _on_event(self, ev: dict[str, Any]) -> None:
        loop = self._loop
        if loop is not None and not on_loop(loop):  # a backend thread's log line
            loop.call_soon_threadsafe(self._on_event, ev)
            return
        kind = ev.get("type")
        if kind == "state" and ev["cause"].get("name") == "abort" and ev["state"]["status"] == "aborted":
            asyncio.create_task(self.driver.stop("the run was ended"))  # an ended run needs no engine
        if kind == "samples":
            self._samples.append(ev)
        elif kind == "logs":
            self._logs.extend(ev["lines"])
        elif kind in ("history", "journal", "engine"):
            self._latest[str(kind)] = ev
        elif kind == "backend":
            self._latest[f"backend:{ev['name']}"] = ev
        if self.screens:
            self._broadcast(encode(Event(ev)), len(ev["lines"]) if kind == "logs" and ev.get("bulk") else 0)

    def _broadcast(self, data: bytes, lines: int = 0) -> None:
        for s in list(self.screens):
            if why := s.send(data, lines):
                self._drop(s, why)

    def _drop(self, s: _Screen, why: str) -> None:
        if s in self.screens:
            self.screens.remove(s)
            s.writer.close()
            self._say(f"{s.operator} ({s.mode}) detached: {why}")
            helm = self.driver.state.helm
            if s.operator == helm and not any(x.operator == helm and x.mode == "drive" for x in self.screens):
                self._helm_claimed = False  # the helm is not left with someone whose screen is gone
                self.driver.submit("release", "shipdeck", reason=f"{helm}'s screen left ({why})")

    def _say(self, text: str, level: str = "info") -> None:
        self.driver.ctx.emit_log(LogLine(self.driver.clock.now(), "shipdeck", level, text))

    def _welcome(self, operator: str) -> Welcome:
        d = self.driver
        return Welcome(pid=os.getpid(), operator=operator, plan=self._plan, plan_path=d.loaded.path,
                       journal=str(d.journal_path),
                       state=d.redact.data(d.state.to_dict()), rollback_by=d.plan.settings.rollback_by, describe=self._describe,
                       can_preview=self._can_preview, failed=d.failed, machine_broken=d.machine_broken,
                       clients=[f"{s.operator} ({s.mode})" for s in self.screens])

    def _replay(self) -> list[dict[str, Any]]:
        """What a screen that attaches now missed: chart history, recent samples and log lines, health. Sent as
        few events (the samples as one history, the last one whole for its guards; the lines as one batch): a
        screen takes a batch in one go instead of thousands of messages."""
        out = [ev for kind, ev in self._latest.items() if kind != "journal"]
        samples = list(self._samples)
        if len(samples) > 1:
            out.append({"type": "history", "points": [[ev["ts"], ev["values"]] for ev in samples[:-1]]})
        out += samples[-1:]
        lines = list(self._logs)
        if lines:
            out.append({"type": "logs", "lines": lines})
        # The screen logs where the journal is as it hears it, stamped now: after the older lines, not above them.
        out += [self._latest["journal"]] if "journal" in self._latest else []
        out.append({"type": "replayed"})  # all it missed is in: the screen paints it now, not on its next tick
        return out

    # ------------------------------------------------------------ commands in

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            hello = decode(await asyncio.wait_for(reader.readline(), 10.0))
            if not isinstance(hello, Hello) or hello.mode not in ("drive", "watch", "status"):
                raise ProtocolError("the first message must be a hello (drive, watch or status)")
            if not isinstance(hello.operator, str) or not hello.operator.strip():
                raise ProtocolError("a screen says who it is: an operator name (user@host)")
            if len(hello.operator) > 2 * MAX_NAME or not hello.operator.isprintable():
                raise ProtocolError(f"an operator name is at most {2 * MAX_NAME} printable characters")
            operator = verified(hello.operator, peer_uid(writer.get_extra_info("socket")))
        except (ProtocolError, TimeoutError, OSError, ValueError) as e:
            with contextlib.suppress(Exception):
                writer.write(encode(Refused("hello", str(e))))
                await writer.drain()
            writer.close()
            return
        if hello.mode == "drive" and not self.driver.state.helm and not self._helm_claimed:
            self._helm_claimed = True  # a second screen attaching meanwhile watches
            with contextlib.suppress(TimeoutError):
                # Taken before the welcome: the first screen opens driving, never "not driving" for a frame.
                await asyncio.wait_for(self.driver.command("take", operator, reason="first to attach"), 1.0)
        writer.write(encode(self._welcome(operator)))
        if hello.mode == "status":
            with contextlib.suppress(Exception):
                await writer.drain()
            writer.close()
            return
        screen = _Screen(operator, hello.mode, writer, hello.operator, self.driver.clock.now)
        for ev in self._replay():
            screen.write(encode(Event(ev)))
        self.screens.append(screen)
        self._say(f"{operator} attached ({'read-only' if hello.mode == 'watch' else hello.mode}); "
                  f"{len(self.screens)} screen(s)")
        try:
            while line := await reader.readline():
                try:
                    self._handle(screen, decode(line))
                except Exception as e:  # noqa: BLE001 - a malformed message is refused, the screen stays
                    screen.send(encode(Refused("message", f"{type(e).__name__}: {e}")))
        except (OSError, ValueError):
            pass  # a dropped link is a detach
        finally:
            self._drop(screen, "left")

    def _handle(self, screen: _Screen, msg: Message) -> None:
        d = self.driver
        if isinstance(msg, Command):
            if not isinstance(msg.name, str) or not isinstance(msg.args, dict) or "operator" in msg.args:
                raise ProtocolError("a command is a name and a mapping of arguments")
            why = screen_refusal(d.state, screen.mode, screen.operator, msg.name, d.plan.settings.rollback_by)
            long = next((k for k, v in msg.args.items() if isinstance(v, str) and len(v) > MAX_TEXT), None)
            if msg.operator not in (screen.operator, screen.said):
                why = f"sent as {msg.operator} on {screen.operator}'s connection"
            elif long is not None:
                why = f"{long} is {len(msg.args[long])} characters; at most {MAX_TEXT}"
            elif msg.name == "take" and not str(msg.args.get("reason") or "").strip():
                why = why or "say why you take the helm (journalled and sent)"
            if why:
                screen.send(encode(Refused(msg.name, why)))
                return
            d.submit(msg.name, screen.operator, **msg.args)
        elif isinstance(msg, Ask) and msg.what == "preview":
            asyncio.create_task(self._preview(screen, msg))
        elif isinstance(msg, Stop):
            why = screen_refusal(d.state, screen.mode, screen.operator, "advance", d.plan.settings.rollback_by)
            if not why and (not isinstance(msg.reason, str) or len(msg.reason) > MAX_TEXT):
                why = f"a reason is text of at most {MAX_TEXT} characters"
            if why:
                screen.send(encode(Refused("stop", why)))
                return
            d.suspend(f"engine stopped by {screen.operator}: {msg.reason}")
        else:
            screen.send(encode(Refused(msg.TYPE, "not something a screen sends")))

    async def _preview(self, screen: _Screen, ask: Ask) -> None:
        try:
            pending = self.driver.preview(int(ask.args.get("percent", 0)))
            if pending is None:
                raise RuntimeError("the traffic backend cannot dry-run")
            answer: asyncio.Future[list[str]] = asyncio.wrap_future(pending)
            reply = Reply(ask.req, list(await bounded(answer, self.driver.plan.settings.timeout)))
        except Exception as e:  # noqa: BLE001 - the refusal is the answer the operator reads
            reply = Reply(ask.req, error=str(e) or type(e).__name__)
        screen.send(encode(reply))
