import asyncio
from pathlib import Path

import pytest

from backends.base import ScaledClock
from tui.app import make_app
from tui.engine.plan import load_plan, load_plan_text

PLANS = Path(__file__).parent / "plans"


class FrozenClock:
    """Time stands still: nothing samples or bakes on its own, so the screen is deterministic."""

    def __init__(self, t: float = 1_795_000_000.0) -> None:
        self.t = t
        self.speed = 1.0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        await asyncio.Event().wait()


def pilot_plan(**replace: str):
    text = (PLANS / "pilot.yaml").read_text()
    for old, new in replace.items():
        text = text.replace(old, new)
    return load_plan_text(text, str(PLANS / "pilot.yaml"))


@pytest.fixture
def app_factory(tmp_path):
    made = []

    def make(loaded=None, clock=None, **kw):
        made.append(1)  # one journal per app: a journal holds one run
        journal = tmp_path / ("j.jsonl" if len(made) == 1 else f"j{len(made)}.jsonl")
        return make_app(loaded or load_plan(PLANS / "pilot.yaml"), journal,
                        clock=clock or ScaledClock(20), operator="tester", keymap=kw.pop("keymap", {}), **kw)
    return make


async def until(pilot, cond, timeout: float = 10.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or cond}")
        await pilot.pause(0.05)


def screen_text(app) -> str:
    """The screen as the user sees it, one line per row (what tmux capture-pane would show)."""
    strips = app.screen._compositor.render_strips()
    return "\n".join(strip.text for strip in strips)
