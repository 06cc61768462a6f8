"""A job-control stop (SIGTSTP: `kill -TSTP`, a terminal that sends signals) and `fg` (SIGCONT) for a screen, taken
in the event loop.

Textual's terminal driver leaves application mode from inside a Python signal handler, which runs between any two
bytecodes of the main thread. When SIGTSTP lands while that thread is putting a frame on the writer's queue, the
handler's own writes wait for the lock the interrupted put holds: the screen hangs for good, its terminal still in
application mode (reproduced under a 20,000 lines/s burst, about one stop in twenty on a loaded machine). Run as
loop callbacks, the same steps never interrupt a write.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any

from textual.app import App


def take_job_control(app: App[Any]) -> None:
    """From the app's on_mount (its driver exists by then): a driver without job control (headless, the browser)
    is left as it is."""
    driver = app._driver
    stop = getattr(driver, "_sigtstp_application", None)
    cont = getattr(driver, "_sigcont_application", None)
    if stop is None or cont is None:
        return
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTSTP, stop)
        loop.add_signal_handler(signal.SIGCONT, cont)
