"""The machine's answers to events other than commands: effect results, timers, guard breaches, read-backs,
the guards' evidence, the window, engine faults and recoveries, a restart."""

from __future__ import annotations

from tui.engine.state import BAKING, DONE, FAILED, RUNNING
from tui.engine.steps import (
    Event,
    Tx,
    continue_run,
    freeze_bake,
    hold_run,
    rolled_back,
    start_rollback,
    step_at,
    thaw_bake,
)


def _result(tx: Tx, event: Event) -> None:
    s = tx.s
    eff = s.pending.pop(str(event.get("id")), None)
    if eff is None:
        return  # superseded (cancelled timer, replaced bake)
    ok = bool(event.get("ok"))
    data = event.get("data") or {}
    error = str(event.get("error") or "")
    kind = eff["kind"]
    if kind in ("shift", "rollback") and isinstance(data.get("green"), int):
        s.traffic = data["green"]
    if kind == "rollback":
        if ok:
            rolled_back(tx)
        else:
            s.waiting = f"ROLLBACK FAILED: {error}; press rollback to retry"
            tx.notice(f"rollback failed: {error}", "error")
        return
    step = step_at(s, eff.get("step"))
    if kind == "shift" and step is None:  # an operator's ad-hoc shift
        if not ok:
            tx.notice(f"shift to {eff['percent']}% failed: {error}", "error")
        return
    if step is None or step.status != RUNNING:
        return
    step.ended_at = tx.now
    if ok:
        step.status = DONE
        step.detail = str(data.get("detail", ""))
    else:
        step.status = FAILED
        step.detail = error or "failed"
        ph = s.current_phase
        if ph is not None:
            ph.status = FAILED
        tx.notify("step-failed", f"step failed: {step.label}: {step.detail}")
    continue_run(tx)


def _timer(tx: Tx, event: Event) -> None:
    s = tx.s
    tid = str(event.get("id"))
    if tid not in s.pending or not s.bake or s.bake.get("timer") != tid:
        return
    s.pending.pop(tid)
    s.bake = None
    step = s.current_step
    if step is not None and step.status == BAKING:
        step.status = DONE
        step.ended_at = tx.now
        step.detail = "baked clean"
    continue_run(tx)


def _guard(tx: Tx, event: Event) -> None:
    s = tx.s
    if s.status not in ("running", "paused"):
        return
    idx = int(event.get("guard", -1))
    action = str(event.get("action"))
    desc = str(event.get("summary", f"guard {idx} breached"))
    if idx not in s.tripped:
        s.tripped.append(idx)
    tx.notify("guard-breach", desc)
    if action == "rollback":
        start_rollback(tx, desc)
    elif action == "pause":
        if s.status == "running":
            hold_run(tx, desc)
            s.waiting = "guard breached: resume or roll back"
    else:
        tx.notice(desc, "error")


def _observed(tx: Tx, event: Event) -> None:
    """A read-back of the live split outside any shift: at start, or someone else's change."""
    s = tx.s
    green = event.get("green")
    if isinstance(green, int):
        s.traffic = green  # the screen shows what the backend says
    drift = str(event.get("drift") or "")
    if not drift or drift == s.drift:
        return  # one alert per drift, not one per sample
    s.drift = drift
    tx.notify("drift", drift)
    if s.status == "paused" and s.restarted:  # not a restart hold any more: a human must look
        s.restarted = False
        s.reason = f"traffic drift after a restart: {drift}"
        s.waiting = "traffic changed while nobody drove: check, then resume or roll back"
    elif s.status == "running":
        hold_run(tx, f"traffic drift: {drift}")
        s.waiting = "traffic changed outside shipdeck: check, then resume or roll back"
    else:
        tx.notice(f"traffic drift: {drift}", "error")


def _blind(tx: Tx, event: Event) -> None:
    """The guards' evidence changed: which are blind (the run holds), which wait for data from traffic their
    side just got (bakes and forward shifts wait), which have seen no traffic yet (green goes no further than
    the first canary weight)."""
    s = tx.s
    names = sorted({str(n) for n in event.get("guards") or []})
    awaiting = sorted({str(n) for n in event.get("awaiting") or []})
    no_traffic = sorted({str(n) for n in event.get("no_traffic") or []})
    if (names, awaiting, no_traffic) == (s.blind, s.awaiting, s.no_traffic):
        return
    was, s.blind, s.awaiting, s.no_traffic = s.blind, names, awaiting, no_traffic
    if names and not was:
        tx.notify("no-data", f"guards blind, the run holds: no data for {', '.join(names)}")
        tx.notice(f"guard {', '.join(names)} blind: forward actions wait", "error")
    if s.status == "running" and s.evidence_wait:
        freeze_bake(tx)
        if s.bake is not None:
            s.waiting = f"bake paused: {s.evidence_wait}"
    if s.status == "running":
        thaw_bake(tx)
        continue_run(tx)


def _window(tx: Tx, event: Event) -> None:
    """The plan's window opened or closed (the driver's clock says so): forward moves wait outside it."""
    s = tx.s
    outside = str(event.get("outside") or "")
    if outside == s.outside_window:
        return
    s.outside_window = outside
    if outside and not s.window_override and not s.terminal:
        tx.notify("window", f"{outside}: forward actions wait for an override")
        tx.notice(f"{outside}: forward actions need an override", "error")
    if s.status == "running":
        continue_run(tx)


def _fault(tx: Tx, event: Event) -> None:
    """A part of the engine failed (journal, sampler, ...): forward actions stop, rollback stays."""
    s = tx.s
    text = str(event.get("text") or "engine fault")
    if text in s.faults:
        return
    s.faults.append(text)
    tx.notify("engine-fault", f"ENGINE FAULT: {text}; forward actions stopped, rollback still works")
    tx.notice(f"engine fault: {text}", "error")
    if s.status == "running":  # a bake counts only while the engine works
        freeze_bake(tx)
        if s.bake is not None:
            s.waiting = f"bake paused: {s.hold_reason}"


def _recovered(tx: Tx, event: Event) -> None:
    """A failed part of the engine works again: its fault ends, and the run goes on if nothing else holds it."""
    s = tx.s
    part = f"{event.get('part')}:"
    left = [f for f in s.faults if not f.startswith(part)]
    if left == s.faults:
        return
    s.faults = left
    tx.notice(f"{event.get('part')} recovered: {event.get('text') or 'it works again'}", "info")
    if s.status == "running":
        thaw_bake(tx)
        continue_run(tx)


def _restart(tx: Tx, event: Event) -> None:
    """The engine came back after a crash: finish a rollback in flight, otherwise wait for a human."""
    s = tx.s
    live = event.get("live")
    said = f"green reads {live}%" if isinstance(live, int) else "traffic could not be read back"
    if s.terminal or s.status == "pending":
        return
    if s.status == "rolling-back":
        for eid, eff in list(s.pending.items()):
            if eff["kind"] == "rollback":
                s.pending.pop(eid)
        tx.effect("rollback", reason=f"{s.reason} (sent again after a restart)", operator=tx.who)
        tx.notify("restart", f"engine restarted during a rollback; rollback sent again ({said})")
        return
    crashed_at = event.get("crashed_at")
    if s.status == "running":
        step = s.current_step
        freeze_bake(tx, float(crashed_at) if isinstance(crashed_at, int | float) else None)
        if s.bake is not None and step is not None and step.kind == "bake":  # never more than the whole bake
            s.bake["remaining"] = min(s.bake["remaining"], float(step.spec["seconds"]))
        hold_run(tx, f"resumed after a restart ({said}): check, then resume")
        s.restarted = True
        s.waiting = "resumed after a restart: nothing moves until an operator resumes"
    tx.notify("restart", f"engine restarted; {said}; the run waits for an operator")


# Events other than commands, by type.
EVENTS = {"result": _result, "timer": _timer, "guard": _guard, "traffic": _observed, "blind": _blind,
           "fault": _fault, "recovered": _recovered, "restart": _restart, "window": _window}
