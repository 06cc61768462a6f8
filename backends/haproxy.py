"""HAProxy traffic backend over the Runtime API (the admin stats socket).

Weights are absolute for the blue/green pair (green = percent, blue = 100 - percent), read back
after every change, and saved to the server-state-file so a reload does not silently undo a
shift. A weight changed by someone else is drift: the engine holds the run and says so.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

from pydantic import Field

from backends.base import (
    BackendConfig,
    BackendContext,
    BackendError,
    DriftError,
    LogLine,
    Problem,
    TrafficSplit,
)


class HAProxyTraffic:
    class Config(BackendConfig):
        socket: str = Field(description="admin stats socket: a path, or host:port on loopback")
        backend: str
        blue: str
        green: str
        state_file: str = ""
        timeout: float = Field(default=5.0, gt=0)

    def __init__(self, config: Config, ctx: BackendContext) -> None:
        self.config = config
        self.ctx = ctx
        self.expected: tuple[int, int] | None = None  # (blue, green) weights last set by us
        self.commands: list[str] = []

    # ------------------------------------------------------------ runtime API

    async def command(self, line: str) -> str:
        """One Runtime API command per connection (non-interactive mode): send, read to EOF."""
        cfg = self.config
        try:
            async with asyncio.timeout(cfg.timeout):
                if cfg.socket.startswith("/") or not _is_host_port(cfg.socket):
                    reader, writer = await asyncio.open_unix_connection(self._path(cfg.socket))
                else:
                    host, port = cfg.socket.rsplit(":", 1)
                    reader, writer = await asyncio.open_connection(host, int(port))
                writer.write(line.encode() + b"\n")
                await writer.drain()
                data = await reader.read()
                writer.close()
        except TimeoutError as e:
            raise BackendError(f"haproxy socket {cfg.socket}: no answer to {line!r} within {cfg.timeout:g}s") from e
        except OSError as e:
            raise BackendError(f"haproxy socket {cfg.socket}: {e.strerror or e}") from e
        answer = data.decode("utf-8", "replace").strip()
        self.commands.extend(line.split("; "))  # each command of a batch, as sent
        if not line.startswith(("show ", "get ")):  # changes are news; the 1 Hz read-back is not
            self._log(f"> {line}" + (f"  < {answer.splitlines()[0][:120]}" if answer else ""))
        return answer

    async def _set(self, line: str) -> None:
        answer = await self.command(line)
        if answer:  # set commands answer nothing when they work
            raise BackendError(f"haproxy refused {line!r}: {answer}")

    def _path(self, p: str) -> str:
        return str(Path(self.ctx.plan_dir, p)) if not p.startswith("/") else p

    def _log(self, text: str) -> None:
        if self.ctx.emit_log is not None:
            self.ctx.emit_log(LogLine(time.time(), "haproxy", "info", text))

    async def weights(self) -> dict[str, tuple[int, str]]:
        """server name -> (user weight, admin state) from `show servers state`."""
        return self._parse_weights(await self.command(f"show servers state {self.config.backend}"))

    def _parse_weights(self, answer: str) -> dict[str, tuple[int, str]]:
        lines = [ln for ln in answer.splitlines() if ln.strip()]
        header = next((ln for ln in lines if ln.startswith("#")), None)
        if header is None:
            raise BackendError(f"haproxy: unexpected answer to show servers state: {answer[:200]!r}")
        cols = header.lstrip("# ").split()
        out: dict[str, tuple[int, str]] = {}
        for ln in lines:
            if ln.startswith("#") or len(ln.split()) < len(cols) - 2:
                continue
            row = dict(zip(cols, ln.split(), strict=False))
            if row.get("be_name") == self.config.backend:
                out[row["srv_name"]] = (int(row["srv_uweight"]), row.get("srv_admin_state", "0"))
        return out

    async def _pair(self) -> tuple[int, int]:
        return self._pair_of(await self.weights())

    def _pair_of(self, w: dict[str, tuple[int, str]]) -> tuple[int, int]:
        missing = [s for s in (self.config.blue, self.config.green) if s not in w]
        if missing:
            raise BackendError(f"haproxy backend {self.config.backend!r} has no server {', '.join(missing)}")
        return w[self.config.blue][0], w[self.config.green][0]

    def _split(self, blue: int, green: int) -> TrafficSplit:
        total = blue + green
        pct = round(100 * green / total) if total else 0
        return TrafficSplit(pct, f"haproxy {self.config.backend}: {self.config.blue} w={blue} {self.config.green} w={green}")

    # ------------------------------------------------------------ TrafficBackend

    async def current(self) -> TrafficSplit:
        blue, green = await self._pair()
        if self.expected is not None and (blue, green) != self.expected:
            raise DriftError(
                f"weights changed outside shipdeck: {self.config.blue}={blue} {self.config.green}={green}, "
                f"expected {self.expected[0]}/{self.expected[1]}", self._split(blue, green)
            )
        return self._split(blue, green)

    def plan_commands(self, green_percent: int) -> list[str]:
        be, blue, green = self.config.backend, self.config.blue, self.config.green
        bw, gw = 100 - green_percent, green_percent
        cmds = []
        # Drain the side going to zero before taking it out; bring a side back to ready first.
        for srv, w in ((green, gw), (blue, bw)):
            cmds.append(f"set server {be}/{srv} state {'drain' if w == 0 else 'ready'}")
        cmds += [f"set weight {be}/{green} {gw}", f"set weight {be}/{blue} {bw}"]
        return cmds

    def describe_shift(self, green_percent: int) -> list[str]:
        where = f"haproxy {self.config.socket}"
        return [f"{where}: {c}" for c in self.plan_commands(green_percent)] + [
            f"{where}: show servers state {self.config.backend} (read back)"
        ] + ([f"save server state to {self.config.state_file}"] if self.config.state_file else [])

    async def shift(self, green_percent: int) -> TrafficSplit:
        if self.expected is not None:
            await self.current()  # refuse to build on weights someone else changed
        sent = self.plan_commands(green_percent)
        # One connection: the sets and the read-back, separated by ';' (the Runtime API runs them in
        # order). Sets answer nothing when they work, so whatever precedes the state table is a refusal.
        show = f"show servers state {self.config.backend}"
        answer = await self.command("; ".join([*sent, show]))
        table = answer.find("# be_id")
        refusal = answer[:table].strip().removesuffix("1").strip() if table >= 0 else answer
        if refusal:
            raise BackendError(f"haproxy refused {'; '.join(sent)!r}: {refusal}")
        self.expected = (100 - green_percent, green_percent)
        blue, green = self._pair_of(self._parse_weights(answer))
        if (blue, green) != self.expected:
            raise BackendError(f"haproxy read back {blue}/{green} after setting {self.expected[0]}/{self.expected[1]}")
        await self._save_state()
        return dataclasses.replace(self._split(blue, green), commands=tuple(sent))

    async def rollback(self) -> TrafficSplit:
        self.expected = None  # a rollback wins over any drift
        return await self.shift(0)

    async def drain(self, colour: str) -> None:
        srv = self.config.green if colour == "green" else self.config.blue
        await self._set(f"set server {self.config.backend}/{srv} state drain")

    async def _save_state(self) -> None:
        if not self.config.state_file:
            return
        state = await self.command("show servers state")
        path = Path(self._path(self.config.state_file))
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(state + "\n", encoding="utf-8")
        tmp.replace(path)

    async def preflight(self) -> list[Problem]:
        cfg = self.config
        if not _is_host_port(cfg.socket) and not Path(self._path(cfg.socket)).exists():
            return [Problem(f"haproxy stats socket {cfg.socket} does not exist; add "
                            f"'stats socket {cfg.socket} level admin' to haproxy.cfg's global section", field="socket")]
        try:
            level = await self.command("show cli level")
        except BackendError as e:
            return [Problem(str(e), field="socket")]
        problems = []
        if level.strip() != "admin":
            problems.append(Problem(f"haproxy stats socket {cfg.socket} is at level {level.strip() or '?'!r}; "
                                    f"shipdeck needs 'level admin' to set weights", field="socket"))
        try:
            await self._pair()
        except BackendError as e:
            problems.append(Problem(str(e), field="backend"))
        return problems


def _is_host_port(text: str) -> bool:
    host, _, port = text.rpartition(":")
    return bool(host) and port.isdigit() and "/" not in text
