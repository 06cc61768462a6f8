"""The autopilot: what a cooperative operator would press next, as a pure function of the state.

Headless `--yes` runs and the demo use it; `shipdeck run` in the command center never does.
It never resumes a guard's pause and never rolls back: those stay human (or guard) decisions. The one
pause it confirms is the hold after a restart, and only when it may approve (`--yes`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from tui.engine.state import DONE, FAILED, WAITING, RunState


def next_action(state: RunState) -> tuple[str, dict[str, Any]] | None:
    if state.status == "pending":
        return "advance", {}
    if state.status == "paused" and state.restarted:
        return "resume", {}
    if state.status != "running":
        return None
    ph = state.current_phase
    if ph is None or ph.status == DONE:
        return ("advance", {}) if state.phase + 1 < len(state.phases) else None
    step = state.current_step
    if step is not None:
        if step.status == WAITING:
            return None if step.spec.get("four_eyes") else ("approve", {})  # a machine is no second pair of eyes
        if step.status == FAILED:
            return None
        return None
    for i, item in enumerate(ph.checklist):
        if item.ticked_by is None:
            return "tick", {"item": i}
    return None


def describe(name: str, args: dict[str, Any], state: RunState) -> str:
    """How the autopilot announces an action on screen."""
    ph = state.current_phase
    if name == "tick" and ph is not None:
        return f"ticks “{ph.checklist[args['item']].text}”"
    if name == "approve" and state.current_step is not None:
        return f"approves “{state.current_step.label}”"
    if name == "resume":
        return "confirms the run may go on after the restart"
    if name == "advance":
        nxt = state.phase + 1
        return f"starts phase “{state.phases[nxt].name}”" if nxt < len(state.phases) else "advances"
    return name


class Autopilot:
    """Presses `next_action` on a driver, one command at a time, `delay` seconds apart, and only when the state
    has changed: a refused press is never repeated into the same state (no spin on a refusal).

    `on_action(text)` announces each action; `stop()` hands the helm back to the human.
    """

    OPERATOR = "autopilot"

    def __init__(
        self,
        driver: Any,
        delay: float = 0.0,
        approve: bool = True,
        on_action: Any = None,
    ) -> None:
        self.driver = driver
        self.delay = delay
        self.approve = approve
        self.on_action = on_action
        self.active = True
        self._changed = asyncio.Event()
        self._awaiting = False
        self._last: tuple[str, dict[str, Any], Any] | None = None  # the last press, and the state it was made in
        self._loop: asyncio.AbstractEventLoop | None = None
        driver.subscribe(self._on_event)

    def _on_event(self, event: dict[str, Any]) -> None:
        if event.get("type") not in ("state", "refused"):
            return
        if event.get("cause", {}).get("operator") == self.OPERATOR:
            self._awaiting = False
        self._changed.set()

    def stop(self) -> None:
        """Hand the helm back; safe from any thread."""
        self.active = False
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._changed.set)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        while self.active:
            await self._changed.wait()
            self._changed.clear()
            if not self.active or self._awaiting:
                continue
            if self.delay:
                await asyncio.sleep(self.delay)
                if not self.active or self._awaiting:
                    continue
            state = self.driver.state
            action = next_action(state)
            if action is None:
                continue
            name, args = action
            if name in ("approve", "tick", "resume") and not self.approve:
                continue
            if (name, args, state) == self._last:
                continue  # refused in this very state: the same press gets the same answer until the state moves
            self._last = (name, args, state)
            self._awaiting = True
            if self.on_action is not None:
                self.on_action(describe(name, args, state))
            self.driver.submit(name, operator=self.OPERATOR, **args)
