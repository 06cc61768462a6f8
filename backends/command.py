"""The `command` traffic backend (your own traffic-switch script) and `command` logs."""

from __future__ import annotations

import asyncio
import os
import shlex
import time
from collections.abc import AsyncIterator, Sequence

from pydantic import Field, model_validator

from backends.base import (
    BackendConfig,
    BackendContext,
    BackendError,
    LogLine,
    Problem,
    TrafficSplit,
    guess_level,
    kill_group,
    run_command,
)


def render_template(template: str, green: int) -> str:
    """{percent} (green), {blue_percent}, {target} (green, or blue at 0%) and {target_percent} (the target's
    share: 100 at a rollback to blue), shell-quoted."""
    target = "green" if green > 0 else "blue"
    values = {"percent": green, "blue_percent": 100 - green, "target": target,
              "target_percent": green if green > 0 else 100}
    try:
        return template.format(**{k: shlex.quote(str(v)) for k, v in values.items()})
    except (KeyError, IndexError, ValueError) as e:
        raise BackendError(f"bad command template {template!r}: {e}") from e


class CommandTraffic:
    """Traffic shifted by the team's own script, the way most runbooks do it today.

    `manual: true`: shipdeck never runs it; each shift waits for an operator who moves traffic by hand
    (the rendered command is shown) and confirms, and the split is shown as not read back.
    """

    class Config(BackendConfig):
        shift: str = Field(default="", description="e.g. ./scripts/traffic-switch.sh --percentage={percent} "
                                                    "--target={target}")
        rollback: str = ""
        current: str = ""
        timeout: float = Field(default=60.0, gt=0)
        cwd: str = ""
        manual: bool = False

        @model_validator(mode="after")
        def _shift_or_manual(self) -> CommandTraffic.Config:
            if not self.shift and not self.manual:
                raise ValueError("a command traffic backend needs 'shift' (or 'manual: true' to move traffic by hand)")
            return self

    def __init__(self, config: Config, ctx: BackendContext) -> None:
        self.config = config
        self.ctx = ctx
        self.last: int | None = None

    def render(self, template: str, green: int) -> str:
        return render_template(template, green)

    async def _run(self, command: str) -> str:
        cwd = os.path.join(self.ctx.plan_dir, self.config.cwd) if self.config.cwd else self.ctx.plan_dir
        res = await run_command(command, self.config.timeout, cwd=cwd, on_line=self._line)
        if res.timed_out:
            raise BackendError(f"{command!r} timed out after {self.config.timeout:g}s; process group killed")
        if res.exit_code != 0:
            tail = "\n".join(res.output.splitlines()[-5:])
            raise BackendError(f"{command!r} exited {res.exit_code}: {tail}")
        return res.output

    def _line(self, stream: str, text: str) -> None:
        if self.ctx.emit_log is not None:
            self.ctx.emit_log(LogLine(time.time(), "traffic-cmd", "warning" if stream == "stderr" else "info", text))

    def _commands(self, green: int) -> str:
        if green == 0 and self.config.rollback:
            return self.config.rollback
        return self.config.shift

    def describe_shift(self, green_percent: int) -> list[str]:
        command = self.render(self._commands(green_percent), green_percent) if self._commands(green_percent) else ""
        if self.config.manual:
            return [f"by hand (shipdeck runs nothing): {command or f'move green to {green_percent}%'}"]
        return [f"runs: {command}"]

    async def shift(self, green_percent: int) -> TrafficSplit:
        if self.config.manual:
            how = self.describe_shift(green_percent)[0].removeprefix("by hand (shipdeck runs nothing): ")
            raise BackendError(f"traffic is moved by hand in this plan: {how}; set manual: false to let shipdeck run it")
        command = self.render(self._commands(green_percent), green_percent)
        await self._run(command)
        self.last = green_percent
        split = await self.current()
        return TrafficSplit(split.green, split.detail, (command,))

    async def rollback(self) -> TrafficSplit:
        return await self.shift(0)

    async def current(self) -> TrafficSplit:
        if not self.config.current:
            if self.last is None:
                raise BackendError("no 'current' command configured: the live split cannot be read back")
            return TrafficSplit(self.last, "as last set (no 'current' command to read it back)")
        out = (await self._run(self.config.current)).strip()
        digits = out.split()[-1].rstrip("%") if out else ""
        if not digits.isdigit() or not 0 <= int(digits) <= 100:
            raise BackendError(f"'current' command printed {out[-80:]!r}, expected a green percentage 0..100")
        return TrafficSplit(int(digits), f"read back by: {self.config.current}")

    async def preflight(self) -> list[Problem]:
        problems = []
        for name in ("shift", "rollback", "current"):
            template = getattr(self.config, name)
            if not template:
                continue
            try:
                self.render(template, 10)
            except BackendError as e:
                problems.append(Problem(str(e), field=name))
                continue
            exe = shlex.split(template)[0] if template.strip() else ""
            cwd = os.path.join(self.ctx.plan_dir, self.config.cwd)
            if exe and "/" in exe and not os.path.exists(os.path.join(cwd, exe)):
                # By hand (manual), the operator runs it on their own machine: shipdeck only shows it.
                problems.append(Problem(f"{exe} not found (relative to {cwd})" + (
                    "; it is run by hand (manual: true), so it may live elsewhere" if self.config.manual else ""),
                    severity="warning" if self.config.manual else "error", field=name))
        return problems


class CommandLogs:
    """Lines from a long-running command (e.g. `journalctl -fu app`), restarted with backoff."""

    class Config(BackendConfig):
        command: str
        source: str = ""
        cwd: str = ""

    def __init__(self, config: Config, ctx: BackendContext) -> None:
        self.config = config
        self.ctx = ctx
        self.source = config.source or config.command.split()[0]
        self.proc: asyncio.subprocess.Process | None = None

    async def lines(self) -> AsyncIterator[Sequence[LogLine]]:
        backoff = 1.0
        while True:
            cwd = os.path.join(self.ctx.plan_dir, self.config.cwd) if self.config.cwd else self.ctx.plan_dir
            self.proc = await asyncio.create_subprocess_shell(
                self.config.command, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, cwd=cwd, start_new_session=True)
            assert self.proc.stdout is not None
            partial = b""
            try:
                while True:
                    # Whatever is buffered comes as one batch, never one message per line.
                    chunk = await self.proc.stdout.read(1 << 16)
                    if not chunk:
                        break
                    *complete, partial = (partial + chunk).split(b"\n")
                    now = time.time()
                    texts = [c.decode("utf-8", "replace").rstrip("\r") for c in complete]
                    if texts:
                        yield [LogLine(now, self.source, guess_level(t), t) for t in texts]
            finally:
                await self.aclose()
            code = self.proc.returncode
            yield [LogLine(time.time(), self.source, "warning",
                           f"log command exited ({code}); restarting in {backoff:g}s")]
            await asyncio.sleep(backoff)
            backoff = min(30.0, backoff * 2)

    async def aclose(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            kill_group(self.proc.pid)
            await self.proc.wait()

    async def preflight(self) -> list[Problem]:
        return []
