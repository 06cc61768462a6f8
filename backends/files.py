"""Follow a log file like `tail -F`: survives rotation (new inode) and truncation."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from pydantic import Field

from backends.base import BackendConfig, BackendContext, LogLine, Problem, guess_level

MAX_BATCH = 1000


class FileLogs:
    class Config(BackendConfig):
        path: str
        source: str = ""
        level_pattern: str = ""
        from_start: bool = False
        poll: float = Field(default=0.2, gt=0)

    def __init__(self, config: Config, ctx: BackendContext) -> None:
        self.config = config
        self.path = Path(ctx.plan_dir, config.path) if not config.path.startswith("/") else Path(config.path)
        self.source = config.source or self.path.name
        self.pattern = re.compile(config.level_pattern) if config.level_pattern else None

    def _level(self, text: str) -> str:
        if self.pattern and (m := self.pattern.search(text)) and m.groupdict().get("level"):
            return guess_level(m.group("level"))
        return guess_level(text)

    async def lines(self) -> AsyncIterator[Sequence[LogLine]]:
        inode: int | None = None
        offset = 0
        partial = b""
        first = True
        while True:
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                await asyncio.sleep(self.config.poll)
                continue
            if st.st_ino != inode:  # new or rotated file: read it from the start
                inode, partial = st.st_ino, b""
                offset = st.st_size if first and not self.config.from_start else 0
            elif st.st_size < offset:  # truncated in place
                offset, partial = 0, b""
            first = False
            if st.st_size > offset:
                with open(self.path, "rb") as f:
                    f.seek(offset)
                    chunk = f.read(1 << 20)
                offset += len(chunk)
                data = partial + chunk
                *complete, partial = data.split(b"\n")
                now = time.time()
                batch = [LogLine(now, self.source, self._level(t), t)
                         for t in (c.decode("utf-8", "replace").rstrip("\r") for c in complete)]
                for i in range(0, len(batch), MAX_BATCH):
                    yield batch[i:i + MAX_BATCH]
                continue
            await asyncio.sleep(self.config.poll)

    async def preflight(self) -> list[Problem]:
        if not self.path.exists():
            return [Problem(f"{self.path} does not exist (yet); shipdeck will wait for it", severity="warning",
                            field="path")]
        if not os.access(self.path, os.R_OK):
            return [Problem(f"{self.path} is not readable", field="path")]
        return []
