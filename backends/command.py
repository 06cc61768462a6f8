"""Shell commands: the runner behind `run:` steps, and the `command` traffic backend."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import deque
from collections.abc import Callable

from backends.base import CommandResult

OUTPUT_TAIL_LINES = 200


async def run_command(
    command: str,
    timeout: float,
    cwd: str | None = None,
    on_line: Callable[[str, str], None] | None = None,
    env: dict[str, str] | None = None,
) -> CommandResult:
    """Run `command` in a shell in its own process group.

    Output is streamed line by line to `on_line(stream, text)` and only a bounded tail is kept.
    At the timeout the whole process group is killed, so a hung pipeline cannot outlive its step.
    """
    started = time.monotonic()
    proc = await asyncio.create_subprocess_shell(
        command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    tail: deque[str] = deque(maxlen=OUTPUT_TAIL_LINES)

    async def pump(stream: asyncio.StreamReader | None, name: str) -> None:
        if stream is None:
            return
        while True:
            raw = await stream.readline()
            if not raw:
                return
            text = raw.decode("utf-8", "replace").rstrip("\n")
            tail.append(text)
            if on_line is not None:
                on_line(name, text)

    pumps = asyncio.gather(pump(proc.stdout, "stdout"), pump(proc.stderr, "stderr"))
    timed_out = False
    try:
        await asyncio.wait_for(asyncio.shield(proc.wait()), timeout)
    except TimeoutError:
        timed_out = True
    finally:
        if proc.returncode is None:
            _kill_group(proc.pid)
            await proc.wait()
    try:
        # Grandchildren may hold the pipes open; don't wait on them forever.
        await asyncio.wait_for(pumps, 2.0)
    except TimeoutError:
        pumps.cancel()
    return CommandResult(
        exit_code=None if timed_out else proc.returncode,
        output="\n".join(tail),
        timed_out=timed_out,
        duration=time.monotonic() - started,
    )


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
