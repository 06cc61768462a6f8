"""NGINX traffic backend: render the weighted upstream, `nginx -t`, then reload.

A failed test or reload puts the previous include back, so the old config keeps serving, and
the step fails with nginx's own message. Weight 0 is written as `down` (nginx refuses weight=0).
"""

from __future__ import annotations

import os
import re
import shlex
import time
from pathlib import Path

from pydantic import Field

from backends.base import (
    BackendConfig,
    BackendContext,
    BackendError,
    LogLine,
    Problem,
    TrafficSplit,
    run_command,
)


class NginxTraffic:
    class Config(BackendConfig):
        include: str = Field(description="the upstream include file shipdeck owns")
        upstream: str
        blue: str = Field(description="blue server address, e.g. 127.0.0.1:8081")
        green: str
        nginx: str = "nginx"
        conf: str = Field(default="", description="main config (-c), if not nginx's default")
        timeout: float = Field(default=15.0, gt=0)

    def __init__(self, config: Config, ctx: BackendContext) -> None:
        self.config = config
        self.ctx = ctx
        self.include = self._path(config.include)

    def _path(self, p: str) -> Path:
        return Path(p) if p.startswith("/") else Path(self.ctx.plan_dir, p)

    def _nginx(self, *args: str) -> str:
        conf = ["-c", str(self._path(self.config.conf))] if self.config.conf else []
        return shlex.join([self.config.nginx, *conf, *args])

    def render(self, green: int) -> str:
        def server(addr: str, weight: int) -> str:
            return f"    server {addr} {'down' if weight == 0 else f'weight={weight}'};"

        return (f"# written by shipdeck: green {green}%\nupstream {self.config.upstream} {{\n"
                f"{server(self.config.blue, 100 - green)}\n{server(self.config.green, green)}\n}}\n")

    def describe_shift(self, green_percent: int) -> list[str]:
        return [f"write {self.include}: blue {self._weight_text(100 - green_percent)}, "
                f"green {self._weight_text(green_percent)}", f"run: {self._nginx('-t')}",
                f"run: {self._nginx('-s', 'reload')}", f"read back {self.include}"]

    @staticmethod
    def _weight_text(w: int) -> str:
        return "down" if w == 0 else f"weight={w}"

    async def _run(self, *args: str) -> None:
        res = await run_command(self._nginx(*args), self.config.timeout, cwd=self.ctx.plan_dir)
        if res.timed_out or res.exit_code != 0:
            raise BackendError(f"{self._nginx(*args)} failed: {res.output.strip()[-400:] or 'timed out'}")

    async def shift(self, green_percent: int) -> TrafficSplit:
        previous = self.include.read_text(encoding="utf-8") if self.include.exists() else None
        tmp = self.include.with_suffix(self.include.suffix + ".shipdeck-new")
        tmp.write_text(self.render(green_percent), encoding="utf-8")
        os.replace(tmp, self.include)
        try:
            await self._run("-t")
            await self._run("-s", "reload")
        except BackendError:
            if previous is None:
                self.include.unlink(missing_ok=True)
            else:
                self.include.write_text(previous, encoding="utf-8")
            raise
        self._log(f"upstream {self.config.upstream}: green {green_percent}% (tested, reloaded)")
        split = await self.current()
        return TrafficSplit(split.green, split.detail,
                            (f"write {self.include}", self._nginx("-t"), self._nginx("-s", "reload")))

    async def rollback(self) -> TrafficSplit:
        return await self.shift(0)

    async def current(self) -> TrafficSplit:
        try:
            text = self.include.read_text(encoding="utf-8")
        except FileNotFoundError as e:
            raise BackendError(f"{self.include} does not exist yet: shipdeck has not shifted traffic") from e
        weights: dict[str, int] = {}
        for addr, rest in re.findall(r"^\s*server\s+(\S+)\s+([^;]*);", text, re.M):
            w = re.search(r"weight=(\d+)", rest)
            weights[addr] = 0 if "down" in rest.split() else int(w.group(1)) if w else 1
        if self.config.blue not in weights or self.config.green not in weights:
            raise BackendError(f"{self.include} has no servers {self.config.blue} and {self.config.green}")
        blue, green = weights[self.config.blue], weights[self.config.green]
        total = blue + green
        return TrafficSplit(round(100 * green / total) if total else 0,
                            f"nginx {self.config.upstream}: blue {self._weight_text(blue)} green {self._weight_text(green)}")

    def _log(self, text: str) -> None:
        if self.ctx.emit_log is not None:
            self.ctx.emit_log(LogLine(time.time(), "nginx", "info", text))

    async def preflight(self) -> list[Problem]:
        problems = []
        if not os.access(self.include.parent, os.W_OK):
            problems.append(Problem(f"cannot write {self.include}", field="include"))
        try:
            await self._run("-t")
        except BackendError as e:
            problems.append(Problem(str(e), field="conf"))
        return problems
