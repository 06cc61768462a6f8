"""Work done in a forked child while this process goes on.

`run` reads and validates its plan this way: the child imports pydantic and the plan's models (about 12 MB and
a tenth of a second), says what it found as plain data, and leaves; meanwhile this process imports the screen,
which then paints from that data. The screen's process never holds pydantic.
"""

from __future__ import annotations

import gc
import json
import os
import sys
from collections.abc import Callable
from typing import Any


class Aside:
    """`work` runs in a child forked now; `result()` waits for it. What the child prints reaches the terminal
    before the screen opens; its SystemExit (a plan error, a refusal) becomes its exit code."""

    def __init__(self, work: Callable[[], dict[str, Any]]) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child's coverage is its output
            os.close(r)
            os._exit(_child(work, w))
        os.close(w)
        self.pid, self._r = pid, r

    def result(self) -> tuple[int, dict[str, Any] | None]:
        """(the child's exit code, what it returned: None unless it exited 0)."""
        with os.fdopen(self._r, "rb") as f:
            data = f.read()
        _, status = os.waitpid(self.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        return code, json.loads(data) if code == 0 and data else None


def _child(work: Callable[[], dict[str, Any]], fd: int) -> int:
    # The child lives a tenth of a second and leaves by os._exit: the cyclic collector could only cost it time
    # (3-5 ms of the plan reader's imports), and the screen may be waiting on it.
    gc.disable()
    code = 0
    try:
        out = json.dumps(work()).encode()
        with os.fdopen(fd, "wb") as f:
            f.write(out)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
    except BaseException as e:  # noqa: BLE001 - said in one line: no traceback before the screen opens
        print(f"shipdeck: reading the plan failed: {type(e).__name__}: {e}", file=sys.stderr)
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return code
