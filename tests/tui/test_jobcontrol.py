"""A job-control stop (SIGTSTP) and `fg` (SIGCONT) on a real screen in a pseudo-terminal: the stop is taken in the
event loop, never inside a write."""

from __future__ import annotations

import os
import signal

from bench.term import PY, Term
from tests.backends.conftest import wait_for
from tests.backends.test_detached import exited
from tests.tui.conftest import PLANS

# SIGTSTP lands while the screen's main thread holds the lock every frame's write takes (as it does, now and then,
# under a burst): a stop handled inside the signal handler writes too, and waits on that lock for ever.
SCREEN = """\
import os, signal, sys, threading, time
from tui.app import make_app
from tui.engine.plan import load_plan

plan, journal, trigger = sys.argv[1:]
app = make_app(load_plan(plan), journal, keymap={}, operator="t")

def poke():
    with app._driver._writer_thread._queue.mutex:
        os.kill(os.getpid(), signal.SIGTSTP)
        time.sleep(0.3)

def wait_for_trigger():
    while not os.path.exists(trigger):
        time.sleep(0.05)
    app.call_from_thread(poke)

threading.Thread(target=wait_for_trigger, daemon=True).start()
app.run()
"""


def test_a_screen_stopped_in_the_middle_of_a_write_stops_and_fg_brings_it_back(tmp_path):
    script, trigger = tmp_path / "screen.py", tmp_path / "go"
    script.write_text(SCREEN)
    t = Term([PY, str(script), str(PLANS / "pilot.yaml"), str(tmp_path / "j.jsonl"), str(trigger)], 100, 30)
    try:
        t.wait(lambda s: "pilot" in s.splitlines()[0], 30)
        trigger.touch()
        wait_for(lambda: t.proc.status() == "stopped", 15, what="the screen to stop on SIGTSTP")
        os.kill(t.pid, signal.SIGCONT)
        t.wait(lambda s: "pilot" in s.splitlines()[0] and "Quit" in s, 15)  # painted again after `fg`
        t.send(b"q")
        assert exited(t.pid, 15), t.text()
    finally:
        t.close()
