"""Guards that hold the line without stalling the night, on the real lab: HAProxy, Prometheus and two apps whose
green counters exist at zero, so green's error ratio is NaN (0/0) until green gets traffic. The guards are
written as teams write them: a plain ratio, no `or vector(0)`."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from backends.base import RealClock, ScaledClock
from tests.backends.conftest import free_port, require_binary
from tests.backends.test_fault_matrix import wait
from tests.conftest import ROOT
from tui.engine import journal
from tui.engine.initial import initial_state
from tui.engine.machine import transition
from tui.engine.plan import load_plan, load_plan_text
from tui.headless import run_headless

sys.path.insert(0, str(ROOT / "examples" / "haproxy-lab"))
import lab as lab_mod  # noqa: E402

pytestmark = pytest.mark.integration

# The shape of Flagger's request-success-rate and Argo's analysis templates, on one colour.
GREEN_ONLY = ('sum(rate(app_requests_total{colour="green",code="500"}[15s])) / '
              'sum(rate(app_requests_total{colour="green"}[15s]))')


@pytest.fixture
def lab_factory():
    require_binary("haproxy")
    require_binary("prometheus")
    labs = []

    def start(**kw):
        ctx = lab_mod.running_lab(rps=80, rate_window="15s", guard_for="10s", **kw)
        labs.append(ctx)
        return ctx.__enter__()

    yield start
    for ctx in labs:
        ctx.__exit__(None, None, None)


def green_weight(lab) -> int:
    import socket

    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(lab.socket))
        s.sendall(b"get weight app/green\n")
        return int(s.recv(100).split()[0])


async def headless(lab, clock=None) -> tuple[int, list[str], list[dict]]:
    lines: list[str] = []
    path = lab.dir / "j.jsonl"
    code = await run_headless(load_plan(lab.plan), path, clock or RealClock(), yes=True, out=lines.append)
    return code, lines, journal.load(path).records


def guard_states(records) -> list[str]:
    """The first guard's state at each sample, with repeats folded."""
    out: list[str] = []
    for r in records:
        if r["kind"] == "sample":
            state = r["data"]["guards"][0]["state"]
            if not out or out[-1] != state:
                out.append(state)
    return out


async def test_a_healthy_canary_whose_green_ratio_is_nan_before_traffic_reaches_100(lab_factory):
    lab = lab_factory(bake="3s")
    text = lab.plan.read_text()
    lab.plan.write_text(text.replace(text.split("error_rate: {query: '")[1].split("'")[0], GREEN_ONLY))
    assert GREEN_ONLY in lab.plan.read_text()
    code, lines, records = await headless(lab)
    assert code == 0, "\n".join(lines[-30:])
    assert green_weight(lab) == 100
    states = guard_states(records)
    # green carried nothing: no traffic yet (the run starts and shifts); then it waits for green's data,
    # then judges it; it is never blind and never trips
    assert states[0] == "no-traffic" and "ok" in states and "blind" not in states and "tripped" not in states
    assert "guard error_rate[green]: no traffic yet: green carries none" in "\n".join(lines)
    first = next(r for r in records if r["kind"] == "sample")["data"]["guards"][0]
    assert first["side"] == "green"  # read from the query's own colour="green"


async def test_prometheus_refused_from_the_start_ends_a_headless_run_with_nothing_shifted(lab_factory):
    lab = lab_factory(hold_limit="3s")
    lab.prometheus_down()
    code, lines, records = await asyncio.wait_for(headless(lab), 60)
    assert code == 1
    assert any("held 3s (settings.hold_limit) with nobody to lift it: guard error_rate blind" in x for x in lines)
    assert green_weight(lab) == 0
    assert not [r for r in records if r["kind"] == "intent"]
    assert len(records) < 100 and records[-1]["kind"] == "suspend"
    assert len(lines) < 40, lines  # one line per thing that happened, never one per refusal


def bake_clock(records, phase: str) -> tuple[float, float]:
    """(seconds the bake counted, seconds it stood still) in a phase, replayed from the journal."""
    state = initial_state(journal.plan_of(records))
    counted = frozen = 0.0
    last: float | None = None
    for r in records:
        if r["kind"] != "event":
            continue
        t = float(r["data"]["at"])
        ph = state.current_phase
        if last is not None and ph is not None and ph.name == phase and state.bake is not None:
            if "timer" in state.bake:
                counted += t - last
            else:
                frozen += t - last
        state, _ = transition(state, r["data"])
        last = t
    return counted, frozen


async def test_prometheus_stopped_mid_bake_and_back_within_the_limit_resumes_the_bake(lab_factory):
    lab = lab_factory(bake="10s", hold_limit="1m")
    text = lab.plan.read_text()
    lab.plan.write_text(text[:text.index("  - name: Canary 50%")])  # the first canary's bake is the one watched
    path = lab.dir / "j.jsonl"
    task = asyncio.create_task(headless(lab))

    def baking_with_evidence() -> bool:
        if not path.exists() or not path.stat().st_size:
            return False
        recs = journal.load(path).records
        s = journal.replay(recs)
        last = [r for r in recs if r["kind"] == "sample"][-1:]
        return (s.traffic == 10 and s.bake is not None and "timer" in s.bake
                and bool(last) and last[0]["data"]["guards"][0]["state"] == "ok")

    await wait(baking_with_evidence, timeout=60, what="the bake at 10% with green's data")
    await asyncio.sleep(2)
    await asyncio.to_thread(lab.prometheus_down)
    await wait(lambda: journal.replay(journal.load(path).records).blind == ["error_rate"], timeout=30, what="blind")
    await asyncio.sleep(5)
    await asyncio.to_thread(lab.prometheus_up)
    code, lines, records = await asyncio.wait_for(task, 120)
    assert code == 0, "\n".join(lines[-30:])
    counted, frozen = bake_clock(records, "Canary 10%")
    assert 9.0 <= counted <= 11.0, (counted, frozen)  # the bake's 10 s, counted only while guards saw
    assert frozen >= 5.0  # the blind time (and the wait for fresh data) is not part of it
    blind = [r for r in records if r["kind"] == "event" and r["data"]["type"] == "blind"]
    assert any(r["data"]["guards"] == ["error_rate"] for r in blind) and blind[-1]["data"]["guards"] == []


async def test_prometheus_down_past_the_limit_stops_with_traffic_where_it_is_and_resumable(lab_factory):
    lab = lab_factory(bake="1h", hold_limit="4s")
    path = lab.dir / "j.jsonl"
    task = asyncio.create_task(headless(lab))
    await wait(lambda: path.exists() and path.stat().st_size and journal.replay(
        journal.load(path).records).bake is not None, timeout=60, what="the bake at 10%")
    await asyncio.to_thread(lab.prometheus_down)
    code, lines, records = await asyncio.wait_for(task, 60)
    assert code == 1 and green_weight(lab) == 10
    assert records[-1]["kind"] == "suspend" and records[-1]["data"]["traffic"] == 10
    assert f"continue with: shipdeck run {lab.plan} --journal {path} --resume" in lines[-1]
    journal.Journal(path, resume=True).close()  # resumable


HELD = """\
version: 1
name: held
backends:
  traffic: {{type: simulated, scenario: healthy, delay: 0}}
  metrics: [{{name: prom, type: prometheus, url: "http://127.0.0.1:{port}", timeout: 1, max_errors: 1}}]
metrics:
  error_rate: {{query: app_error_ratio, unit: ratio}}
guards:
  - {{metric: error_rate, above: 0.01, for: 10s}}
settings: {{sample_interval: 1s, hold_limit: {limit}}}
phases:
  - name: Canary
    steps: [{{shift: 10}}, {{bake: 1m}}]
"""


def non_samples(records) -> list[str]:
    return [r["kind"] if r["kind"] != "event" else f"event:{r['data']['type']}" for r in records
            if r["kind"] != "sample"]


async def test_a_headless_run_held_for_a_minute_writes_its_samples_and_a_handful_more(tmp_path):
    plan = tmp_path / "p.yaml"
    plan.write_text(HELD.format(port=free_port(), limit="1m"))
    lines: list[str] = []
    path = tmp_path / "j.jsonl"
    # Sixty seconds of engine time in six: the autopilot's presses are not slowed down, so a spin would show.
    code = await run_headless(load_plan_text(plan.read_text(), str(plan)), path, ScaledClock(10), yes=True,
                              out=lines.append)
    records = journal.load(path).records
    assert code == 1
    samples = sum(r["kind"] == "sample" for r in records)
    assert 50 <= samples <= 70
    # the start, the guards going blind, the samples' layout, the first read-back, one refused start (said once),
    # the stop
    assert non_samples(records) == ["run-start", "event:blind", "layout", "event:traffic", "event:command",
                                    "suspend"], \
        non_samples(records)


async def test_a_detached_engine_held_blind_writes_a_handful_of_records_whatever_is_pressed(tmp_path):
    from tui.engine.handle import RemoteEngine
    from tui.engine.spawn import spawn_engine

    plan = tmp_path / "p.yaml"
    plan.write_text(HELD.format(port=free_port(), limit="5m"))
    path = tmp_path / "j.jsonl"
    sock = spawn_engine(str(plan), path)
    screen = RemoteEngine(sock, "alice", "drive")
    screen.subscribe(lambda ev: None)
    screen.start()
    try:
        await wait(lambda: screen.state.blind == ["error_rate"] and screen.state.helm, timeout=20, what="blind, driven")
        for _ in range(300):  # a key held down, a script retrying: every press refused for the same reason
            screen.submit("advance")
            await asyncio.sleep(0.03)
        await asyncio.sleep(1)
        records = journal.load(path).records
        assert sum(r["kind"] == "sample" for r in records) >= 8  # the guards kept looking
        # the take, and the first refusal: said once
        assert sorted(non_samples(records)) == ["event:blind", "event:command", "event:command", "event:traffic",
                                                "layout", "run-start"], non_samples(records)
    finally:
        screen.stop_engine("test over")
        screen.detach("test over")
        screen.join(5)


def test_the_lab_plan_uses_the_plain_ratio(tmp_path):
    lab = lab_mod.Lab(Path(tmp_path))
    lab.ports = {}
    lab.write()
    text = lab.plan.read_text()
    assert "or label_replace" not in text and "vector(0)" not in text
    assert "error_rate: {query: 'sum by (colour) (rate(app_requests_total{code=~\"5..\"}[15s]))" in text
