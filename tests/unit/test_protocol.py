"""The screen ↔ engine protocol: typed, versioned, and strict about what it reads."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tui.engine.initial import initial_state
from tui.engine.machine import transition
from tui.engine.plan import load_plan_text
from tui.engine.protocol import MESSAGES, VERSION, Ask, Command, Event, Hello, ProtocolError, decode, encode
from tui.engine.state import RunState, refusal

PLAN = """\
version: 1
name: p
backends: {traffic: {type: simulated}, metrics: [{type: simulated}]}
metrics: {error_rate: {unit: ratio}}
phases:
  - name: Canary
    steps:
      - gate: "go?"
        four_eyes: true
      - shift: 100
"""


@pytest.mark.parametrize("msg", [Hello("alice@h", "watch"), Command("shift", "alice@h", {"percent": 10}),
                                 Ask(3, "preview", args={"percent": 50}), Event({"type": "notice", "text": "x"})])
def test_messages_round_trip(msg):
    line = encode(msg)
    assert line.endswith(b"\n") and json.loads(line)["v"] == VERSION
    assert decode(line) == msg


def test_other_versions_and_unknown_types_are_errors_never_guesses():
    with pytest.raises(ProtocolError, match="protocol version 2"):
        decode(json.dumps({"v": 2, "type": "hello", "operator": "a"}).encode())
    with pytest.raises(ProtocolError, match="unknown message type"):
        decode(json.dumps({"v": VERSION, "type": "launch-missiles"}).encode())
    with pytest.raises(ProtocolError, match="hello"):
        decode(json.dumps({"v": VERSION, "type": "hello"}).encode())  # no operator
    with pytest.raises(ProtocolError):
        decode(b"{not json")


@given(st.binary(max_size=200))
def test_any_bytes_decode_to_a_message_or_a_protocol_error(data):
    try:
        msg = decode(data)
    except ProtocolError:
        return
    assert type(msg) in MESSAGES.values()


def test_state_survives_the_wire_and_four_eyes_needs_someone_else():
    plan = load_plan_text(PLAN, "p.yaml").plan
    s = initial_state(plan)
    s, _ = transition(s, {"type": "command", "name": "take", "operator": "alice@h", "args": {"reason": "first"}})
    s, _ = transition(s, {"type": "command", "name": "advance", "operator": "alice@h", "args": {}})
    again = RunState.from_dict(json.loads(json.dumps(s.to_dict())))
    assert again == s and again.helm == "alice@h"
    assert "four eyes" in (refusal(again, "approve", operator="alice@h") or "")
    assert "four eyes" in (refusal(again, "approve", operator="autopilot") or "")  # a machine is not a second pair
    assert refusal(again, "approve", operator="bob@h") is None
    # two names on one OS account are one person as far as anyone can prove
    shared = RunState.from_dict({**again.to_dict(), "helm": "alice (deploy@h)"})
    why = refusal(shared, "approve", operator="bob (deploy@h)") or ""
    assert why.startswith("four eyes cannot be verified: you and the driver (alice (deploy@h)) both act as the OS "
                          "account deploy@h")
    assert refusal(shared, "approve", operator="bob@h") is None
    s, effects = transition(s, {"type": "command", "name": "approve", "operator": "alice@h", "args": {}})
    assert s.current_step is not None and s.current_step.status == "waiting-gate"
    assert any("four eyes" in e.get("text", "") for e in effects)
    s, _ = transition(s, {"type": "command", "name": "approve", "operator": "bob@h", "args": {}})
    assert s.phases[0].steps[0].detail == "approved by bob@h"


async def test_an_engine_is_in_the_registry_before_its_socket_answers(tmp_path, monkeypatch):
    """spawn_engine returns once the socket answers, and `shipdeck ps` reads the registry: an engine listening but
    not yet registered was missing from it (a test found no engine right after spawn_engine returned)."""
    import asyncio

    from backends.clock import RealClock
    from tui.engine.driver import Driver
    from tui.engine.server import EngineServer
    from tui.engine.sockets import registered, socket_path

    journal = tmp_path / "j.jsonl"
    listening_with: list[list[str]] = []
    listen = asyncio.start_unix_server

    async def start_unix_server(*args, **kwargs):
        listening_with.append([e["journal"] for e in registered()])
        return await listen(*args, **kwargs)

    monkeypatch.setattr(asyncio, "start_unix_server", start_unix_server)
    driver = Driver(load_plan_text(PLAN, str(tmp_path / "p.yaml")), journal, clock=RealClock())
    server = asyncio.create_task(EngineServer(driver, socket_path(journal), idle_exit=60).run())
    try:
        while not listening_with and not server.done():
            await asyncio.sleep(0.01)
        assert listening_with == [[str(journal)]]
    finally:
        driver.suspend("test over")
        await asyncio.wait_for(server, 10)
