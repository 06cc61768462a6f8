"""The run as a pure state machine: transition(state, event) -> (state, effects).

Events and effects are plain dicts (JSON-serialisable): commands from operators, results of
effects, timers and guard breaches come in; effects for the driver come out. Nothing here does
I/O or reads a clock: time arrives in each event's "at". Replaying the same events rebuilds
the same state, which is what the journal relies on. Commands are handled here; every other event in
tui/engine/reactions.py; the mechanics both share in tui/engine/steps.py.
"""

from __future__ import annotations

import copy
from typing import Any

from tui.engine.plan import format_duration
from tui.engine.reactions import EVENTS
from tui.engine.state import DONE, FAILED, PENDING, RUNNING, RunState, paused_by_guard, refusal
from tui.engine.steps import (
    Effect,
    Event,
    Tx,
    cancel_timer,
    continue_run,
    hold_run,
    rolled_back,
    start_rollback,
    thaw_bake,
    update_hold,
)


def transition(state: RunState, event: Event) -> tuple[RunState, list[Effect]]:
    tx = Tx(copy.deepcopy(state), event)
    kind = event.get("type")
    handler = EVENTS.get(str(kind))
    if kind == "command":
        _command(tx, str(event.get("name")), dict(event.get("args") or {}))
    elif handler is not None:
        handler(tx, event)
    else:
        tx.notice(f"ignored unknown event type {kind!r}")
    update_hold(tx)
    return tx.s, tx.effects


def _command(tx: Tx, name: str, args: dict[str, Any]) -> None:
    s = tx.s
    if name == "rollback":  # never blocked
        start_rollback(tx, str(args.get("reason") or f"rollback by {tx.who}"))
        return
    if name in ("take", "release"):
        (_take if name == "take" else _release)(tx, args)
        return
    if s.terminal:
        tx.notice(f"{name}: the run is over ({s.status})")
        return
    why = refusal(s, name, args, tx.who)
    if why is not None and name not in ("pause", "resume"):
        tx.notice(f"{name}: {why}")
        return
    handler = {
        "advance": _advance,
        "tick": _tick,
        "approve": _approve,
        "shift": _shift,
        "pause": _pause,
        "resume": _resume,
        "abort": _abort,
        "override": _override,
    }.get(name)
    if handler is None:
        tx.notice(f"unknown command {name!r}")
        return
    handler(tx, args)


def _advance(tx: Tx, args: dict[str, Any]) -> None:
    s = tx.s
    if s.status == "pending":
        s.status = "running"
        s.started_at = tx.now
    ph = s.current_phase
    step = s.current_step
    if ph is not None and ph.status != DONE and step is not None and step.status == FAILED:
        step.status = PENDING
        step.detail = f"retried by {tx.who}"
        ph.status = RUNNING
        continue_run(tx)
        return
    s.phase += 1
    ph = s.phases[s.phase]
    ph.status = RUNNING
    ph.started_at = tx.now
    tx.notify("phase-start", f"phase {ph.name!r} started by {tx.who}")
    continue_run(tx)


def _tick(tx: Tx, args: dict[str, Any]) -> None:
    ph = tx.s.current_phase
    assert ph is not None  # refusal() checked a phase has started
    idx = args.get("item")
    if not isinstance(idx, int) or not 0 <= idx < len(ph.checklist):
        tx.notice(f"tick: no checklist item {idx!r} in phase {ph.name!r}")
        return
    item = ph.checklist[idx]
    if item.ticked_by is None:
        item.ticked_by, item.ticked_at = tx.who, tx.now
    else:
        item.ticked_by, item.ticked_at = None, None
    continue_run(tx)


def _release(tx: Tx, args: dict[str, Any]) -> None:
    """The helm's holder left (their last screen detached): nobody drives until someone takes it."""
    if tx.s.helm:
        tx.notice(f"{tx.s.helm} left the helm: {args.get('reason') or 'their screen is gone'}; nobody drives — "
                  "the next screen to attach, or T, takes it")
        tx.s.helm = ""


def _take(tx: Tx, args: dict[str, Any]) -> None:
    before, reason = tx.s.helm, str(args.get("reason") or "").strip()
    tx.s.helm = tx.who
    if before and before != tx.who:
        text = f"{tx.who} took the helm from {before}: {reason}"
        tx.notice(text)  # on every screen, in the log pane too
        tx.notify("helm", text)
    else:
        tx.notice(f"{tx.who} drives" + (f": {reason}" if reason else ""), level="info")


def _approve(tx: Tx, args: dict[str, Any]) -> None:
    if tx.s.status == "rolling-back":  # rolled back by hand (refusal() allows it only then)
        tx.s.traffic = 0
        rolled_back(tx)
        return
    step = tx.s.current_step
    assert step is not None  # refusal() checked it waits
    step.status = DONE
    step.ended_at = tx.now
    step.detail = ("confirmed" if step.kind == "run" else "approved") + f" by {tx.who}"
    if step.kind == "shift":  # moved by hand: the operator's word, not a read-back
        tx.s.traffic = int(step.spec["percent"])
        step.detail = f"moved by hand, confirmed by {tx.who} (not read back)"
    continue_run(tx)


def _shift(tx: Tx, args: dict[str, Any]) -> None:
    s = tx.s
    pct = args.get("percent")
    if not isinstance(pct, int) or isinstance(pct, bool) or not 0 <= pct <= 100:
        tx.notice(f"shift: {pct!r} is not a percentage 0..100")
        return
    s.traffic_target = pct
    tx.effect("shift", percent=pct, step=None, operator=tx.who)
    tx.notify("shift", f"{tx.who} shifts green to {pct}%")


def _pause(tx: Tx, args: dict[str, Any]) -> None:
    reason = str(args.get("reason") or f"paused by {tx.who}")
    if tx.s.status == "running":
        tx.notify("paused", reason)
    hold_run(tx, reason)


def _resume(tx: Tx, args: dict[str, Any]) -> None:
    s = tx.s
    if s.status != "paused":
        tx.notice(f"resume: the run is {s.status}, not paused")
        return
    if paused_by_guard(s):  # an override: said, journalled, sent; the guard watches again from now
        why = refusal(s, "resume", args)
        if why:
            tx.notice(f"resume: {why}")
            return
        silence = float(args.get("silence") or 0)
        until = tx.now + silence if silence > 0 else None
        override = {"guards": list(s.tripped), "breach": s.reason, "by": tx.who,
                    "reason": str(args["reason"]).strip(), "at": tx.now, "silence_until": until}
        s.overrides.append(override)
        s.tripped = []
        tx.effects.append({"kind": "rearm", "guards": override["guards"], "silence_until": until})
        quiet = f"; silenced for {format_duration(silence)}" if until else "; it acts again if the breach lasts " \
                                                                           "another full window"
        tx.notify("guard-override", f"{tx.who} resumed past a red guard ({s.reason}): {override['reason']}{quiet}")
    s.status = "running"
    s.reason = ""
    s.restarted = False
    thaw_bake(tx)
    continue_run(tx)


def _abort(tx: Tx, args: dict[str, Any]) -> None:
    s = tx.s
    cancel_timer(tx)
    for eid in list(s.pending):
        tx.effects.append({"kind": "cancel", "id": eid})
    s.status = "aborted"
    s.reason = f"ended by {tx.who}: {str(args.get('reason') or '').strip() or 'no reason given'}"
    s.ended_at = tx.now
    s.waiting = ""
    tx.notify("abort", s.reason)


def _override(tx: Tx, args: dict[str, Any]) -> None:
    s = tx.s
    s.window_override = f"{str(args['reason']).strip()} (by {tx.who})"
    tx.notify("window-override", f"window overridden by {tx.who}: {str(args['reason']).strip()}")
    if s.status == "running":
        continue_run(tx)
