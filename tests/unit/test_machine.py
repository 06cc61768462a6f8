from tui.engine.autopilot import next_action
from tui.engine.initial import initial_state
from tui.engine.machine import transition
from tui.engine.plan import load_plan_text

PLAN = """\
version: 1
name: m
phases:
  - name: Prep
    checklist: [backup done]
    steps:
      - run: {command: "true", manual: true}
  - name: Canary
    steps:
      - shift: 10
      - bake: 5m
      - gate: continue?
  - name: Full
    steps:
      - shift: 100
"""


def make():
    return initial_state(load_plan_text(PLAN, "m.yaml").plan)


def cmd(name, at=0.0, who="alice", **args):
    return {"type": "command", "name": name, "operator": who, "args": args, "at": at}


def kinds(effects):
    return [e["kind"] for e in effects if e["kind"] not in ("notify",)]


def test_happy_path_to_completion():
    s = make()
    s, eff = transition(s, cmd("advance", 1))
    assert s.status == "running" and s.phase == 0
    assert s.current_step.status == "waiting-gate" and "run by hand" in s.waiting
    assert kinds(eff) == []  # a manual step is never executed
    s, _ = transition(s, cmd("approve", 2))
    assert s.phases[0].steps[0].detail == "confirmed by alice"
    assert s.phases[0].status == "waiting-gate" and "checklist" in s.waiting
    s, _ = transition(s, cmd("tick", 3, item=0))
    assert s.phases[0].checklist[0].ticked_by == "alice" and s.phases[0].status == "done"
    s, eff = transition(s, cmd("advance", 4))
    shift = [e for e in eff if e["kind"] == "shift"][0]
    assert shift["percent"] == 10 and s.traffic_target == 10
    s, eff = transition(s, {"type": "result", "id": shift["id"], "ok": True, "data": {"green": 10}, "at": 5})
    assert s.traffic == 10
    timer = [e for e in eff if e["kind"] == "timer"][0]
    assert timer["seconds"] == 300 and s.current_step.status == "baking"
    s, _ = transition(s, {"type": "timer", "id": timer["id"], "at": 305})
    assert s.current_step.status == "waiting-gate"
    s, _ = transition(s, cmd("approve", 306, who="bob"))
    assert s.phases[1].status == "done" and s.phases[1].ended_at == 306
    s, eff = transition(s, cmd("advance", 307))
    shift = [e for e in eff if e["kind"] == "shift"][0]
    s, eff = transition(s, {"type": "result", "id": shift["id"], "ok": True, "data": {"green": 100}, "at": 308})
    assert s.status == "completed" and s.traffic == 100 and s.ended_at == 308


def test_pause_freezes_bake_and_resume_restarts_remaining():
    s = make()
    s.status, s.phase = "running", 1
    s.phases[1].status = "running"
    s, eff = transition(s, {"type": "command", "name": "advance", "args": {}, "at": 0})  # not finished
    assert any(e["kind"] == "notice" for e in eff)
    s.phases[1].steps[0].status = "done"
    s.phases[1].step = 1
    s, eff = transition(s, cmd("resume", 10))  # not paused: refused
    assert any("not paused" in e.get("text", "") for e in eff)
    s.status = "running"
    from tui.engine.steps import Tx, continue_run
    tx = Tx(s, {"at": 100})
    continue_run(tx)
    timer = [e for e in tx.effects if e["kind"] == "timer"][0]
    s, eff = transition(tx.s, cmd("pause", 160))
    assert s.status == "paused" and s.bake == {"remaining": 240}
    assert s.waiting == "bake paused with 4m left"  # not the bake's whole time, said when it began
    assert {"kind": "cancel", "id": timer["id"]} in eff
    s, _ = transition(s, {"type": "timer", "id": timer["id"], "at": 400})  # stale timer ignored
    assert s.current_step.status == "paused"
    s, eff = transition(s, cmd("resume", 500))
    new = [e for e in eff if e["kind"] == "timer"][0]
    assert new["seconds"] == 240 and new["id"] != timer["id"] and s.current_step.status == "baking"
    assert s.waiting == "baking 4m more while guards watch"


def test_rollback_always_allowed_and_supersedes_shift():
    s = make()
    s, _ = transition(s, cmd("rollback", 1))  # even before start
    assert s.status == "rolling-back"
    s = make()
    s, _ = transition(s, cmd("advance", 1))
    s, _ = transition(s, cmd("approve", 2))
    s, _ = transition(s, cmd("tick", 3, item=0))
    s, eff = transition(s, cmd("advance", 4))
    shift = [e for e in eff if e["kind"] == "shift"][0]
    s, eff = transition(s, cmd("rollback", 5, who="carol"))
    assert {"kind": "cancel", "id": shift["id"]} in eff
    rb = [e for e in eff if e["kind"] == "rollback"][0]
    assert rb["operator"] == "carol"
    s, _ = transition(s, {"type": "result", "id": shift["id"], "ok": False, "error": "cancelled", "at": 6})
    assert s.status == "rolling-back"
    s, _ = transition(s, {"type": "result", "id": rb["id"], "ok": True, "data": {"green": 0}, "at": 7})
    assert s.status == "rolled-back" and s.traffic == 0
    assert s.phases[1].status == "rolled-back"
    s, eff = transition(s, cmd("advance", 8))
    assert s.status == "rolled-back" and any("over" in e.get("text", "") for e in eff)
    s, eff = transition(s, cmd("rollback", 9))  # still allowed after the end
    assert any(e["kind"] == "rollback" for e in eff)


def test_failed_rollback_keeps_asking():
    s = make()
    s, eff = transition(s, cmd("rollback", 1))
    rb = [e for e in eff if e["kind"] == "rollback"][0]
    s, eff = transition(s, {"type": "result", "id": rb["id"], "ok": False, "error": "socket gone", "at": 2})
    assert s.status == "rolling-back" and "ROLLBACK FAILED" in s.waiting


def test_failed_step_holds_and_advance_retries():
    s = make()
    s, _ = transition(s, cmd("advance", 1))
    s, _ = transition(s, cmd("approve", 2))
    s, _ = transition(s, cmd("tick", 3, item=0))
    s, eff = transition(s, cmd("advance", 4))
    shift = [e for e in eff if e["kind"] == "shift"][0]
    s, _ = transition(s, {"type": "result", "id": shift["id"], "ok": False, "error": "timed out", "at": 5})
    assert s.current_step.status == "failed" and "advance retries" in s.waiting
    s, eff = transition(s, cmd("advance", 6))
    assert [e["percent"] for e in eff if e["kind"] == "shift"] == [10]


def test_guard_actions():
    s = make()
    s, _ = transition(s, cmd("advance", 1))
    g = {"type": "guard", "guard": 0, "action": "pause", "summary": "p95 high", "at": 2}
    s, _ = transition(s, g)
    assert s.status == "paused" and s.reason == "p95 high"
    s, eff = transition(s, {**g, "action": "rollback", "summary": "errors", "at": 3})
    assert s.status == "rolling-back" and any(e["kind"] == "rollback" for e in eff)
    s2 = make()
    s2, eff = transition(s2, g)  # not running yet: guards are quiet
    assert s2.status == "pending" and eff == []


def test_adhoc_shift_and_drift():
    s = make()
    s, _ = transition(s, cmd("advance", 1))
    s, eff = transition(s, cmd("shift", 2, percent=25))
    sh = [e for e in eff if e["kind"] == "shift"][0]
    assert sh["step"] is None and s.traffic_target == 25
    s, _ = transition(s, {"type": "result", "id": sh["id"], "ok": True, "data": {"green": 25}, "at": 3})
    assert s.traffic == 25
    s, eff = transition(s, cmd("shift", 4, percent=101))
    assert not any(e["kind"] == "shift" for e in eff)
    s, _ = transition(s, {"type": "traffic", "green": 40, "drift": "green weight 40 set outside shipdeck", "at": 5})
    assert s.traffic == 40 and s.status == "paused" and "drift" in s.reason


def test_autopilot_next_action():
    s = make()
    assert next_action(s) == ("advance", {})
    s, _ = transition(s, cmd("advance", 1))
    assert next_action(s) == ("approve", {})
    s, _ = transition(s, cmd("approve", 2))
    assert next_action(s) == ("tick", {"item": 0})
    s, _ = transition(s, cmd("pause", 3))
    assert next_action(s) is None  # never resumes a pause


def test_transition_does_not_mutate_input():
    s = make()
    before = s.to_dict()
    transition(s, cmd("advance", 1))
    assert s.to_dict() == before


def test_outside_the_window_forward_waits_for_a_journalled_override_and_rollback_never_does():
    from tui.engine.state import refusal

    s = make()
    s, eff = transition(s, {"type": "window", "outside": "outside the plan's window 22:00–02:00 UTC (closed)"})
    assert any(e["kind"] == "notify" and e["event"] == "window" for e in eff)
    assert refusal(s, "advance").startswith("outside the plan's window 22:00–02:00 UTC (closed): forward actions")
    s, _ = transition(s, cmd("advance", 1))
    assert s.status == "pending"
    assert refusal(s, "override", {"reason": " "}) == "say why (the reason is journalled and sent)"
    s, eff = transition(s, cmd("override", 2, who="bob", reason="the change board extended the window"))
    assert s.window_override == "the change board extended the window (by bob)"
    assert [e["message"] for e in eff if e["kind"] == "notify"] == [
        "window overridden by bob: the change board extended the window",
        "the hold is over after 2s: outside the plan's window 22:00–02:00 UTC (closed): forward actions need an "
        "override (with a reason)"]
    s, _ = transition(s, cmd("advance", 3))
    assert s.status == "running"
    s2, _ = transition(make(), {"type": "window", "outside": "outside"})
    s2, _ = transition(s2, cmd("rollback", 4, reason="r"))
    assert s2.status == "rolling-back"


def test_a_window_closing_holds_the_next_automatic_step():
    s = make()
    s, _ = transition(s, cmd("advance", 1))
    s, _ = transition(s, cmd("approve", 2))
    s, _ = transition(s, cmd("tick", 3, item=0))
    s, eff = transition(s, cmd("advance", 4))
    shift = next(e for e in eff if e["kind"] == "shift")
    s, eff = transition(s, {"type": "result", "id": shift["id"], "ok": True, "data": {"green": 10}, "at": 5})
    timer = next(e for e in eff if e["kind"] == "timer")
    s, _ = transition(s, {"type": "window", "outside": "outside the plan's window (closed)", "at": 6})
    s, _ = transition(s, {"type": "timer", "id": timer["id"], "at": 306})
    assert s.current_step.kind == "gate" and s.current_step.status == "pending"  # the bake ended; nothing started
    assert s.waiting == "holding: outside the plan's window (closed): forward actions need an override (with a reason)"
    s, eff = transition(s, cmd("rollback", 307, reason="r"))
    assert "rollback" in kinds(eff)


def evidence(at, blind=(), awaiting=(), no_traffic=()):
    return {"type": "blind", "guards": list(blind), "awaiting": list(awaiting), "no_traffic": list(no_traffic),
            "at": at}


def test_no_traffic_yet_lets_the_night_start_and_take_its_first_canary_weight_only():
    from tui.engine.state import refusal

    s, _ = transition(make(), evidence(0, no_traffic=["error_rate"]))
    assert s.hold is None and refusal(s, "advance") is None
    s, _ = transition(s, cmd("advance", 1))
    s, _ = transition(s, cmd("approve", 2))
    s, _ = transition(s, cmd("tick", 3, item=0))
    assert refusal(s, "shift", {"percent": 10}) is None
    assert (refusal(s, "shift", {"percent": 50}) or "").startswith(
        "no evidence yet: guard error_rate has seen no traffic; the first shift goes to 10% at most")
    s, eff = transition(s, cmd("advance", 4))
    assert [e["percent"] for e in eff if e["kind"] == "shift"] == [10]  # the plan's first shift is how evidence comes


def test_waiting_for_data_stops_bakes_and_forward_shifts_but_not_gates_and_is_a_hold_with_an_age():
    from tui.engine.state import refusal

    s = make()
    for i, c in enumerate((cmd("advance"), cmd("approve"), cmd("tick", item=0), cmd("advance"))):
        s, eff = transition(s, {**c, "at": i})
    shift = next(e for e in eff if e["kind"] == "shift")
    s, eff = transition(s, {"type": "result", "id": shift["id"], "ok": True, "data": {"green": 10}, "at": 10})
    assert s.bake is not None and "timer" in s.bake
    s, eff = transition(s, evidence(10, awaiting=["error_rate"]))  # green got traffic: its data is not in yet
    assert s.bake == {"remaining": 300.0} and "cancel" in kinds(eff)
    assert s.hold == {"kind": "evidence", "since": 10, "reason": s.evidence_wait}
    assert s.evidence_wait.startswith("waiting for evidence: guard error_rate has no data yet")
    assert refusal(s, "shift", {"percent": 50}) == s.evidence_wait and refusal(s, "shift", {"percent": 0}) is None
    s, eff = transition(s, evidence(14))  # the first value: the bake counts from now, whole
    assert [e["seconds"] for e in eff if e["kind"] == "timer"] == [300.0] and s.hold is None
    assert not [e for e in eff if e["kind"] == "notify"]  # a wait for data after a shift is routine: no alert
    # the same wait with a gate as the current step holds nothing: gates and steps that move no traffic go on
    g = make()
    g, _ = transition(g, evidence(0, awaiting=["error_rate"]))
    g, _ = transition(g, cmd("advance", 1))
    assert g.current_step.status == "waiting-gate" and g.hold is None


def test_a_blind_hold_starts_once_and_its_end_is_said_once():
    s, _ = transition(make(), cmd("advance", 1))
    s, eff = transition(s, evidence(5, blind=["error_rate"]))
    assert s.hold["kind"] == "blind" and s.hold["since"] == 5
    assert [e["event"] for e in eff if e["kind"] == "notify"] == ["no-data"]
    s, eff = transition(s, evidence(6, blind=["error_rate"]))
    assert s.hold["since"] == 5 and eff == []  # the same evidence again is not news
    s, eff = transition(s, evidence(65))
    assert s.hold is None
    assert [e["message"] for e in eff if e["kind"] == "notify"] == [
        "the hold is over after 1m: guard error_rate blind (no data; no_data: hold): forward actions wait"]
