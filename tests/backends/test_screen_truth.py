"""What the screen claims, against what really happens: HAProxy going away, an engine dying, a run ended from
another terminal, the helm's holder leaving, the lab stopping. Real HAProxy on loopback, the real CLI in a
pseudo-terminal where the terminal matters."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import pytest

from backends.base import RealClock
from bench.term import Term
from bench.terminal import answered
from tests.backends.test_detached import FOUR_EYES, WHO, driven, engine_pids
from tests.backends.test_fault_matrix import PY, ROOT, haproxy_green, haproxy_traffic, wait
from tests.tui.conftest import screen_text, until
from tui.app import make_app
from tui.engine import journal
from tui.engine.plan import load_plan_text

pytestmark = pytest.mark.integration

BAKING = """\
version: 1
name: truth
backends:
  traffic: {traffic}
  metrics: [{{type: simulated, scenario: healthy}}]
metrics:
  rps: {{unit: rps}}
guards:
  - {{metric: rps, above: 100000, for: 10s, series: all}}
settings: {{sample_interval: 500ms, timeout: 2s}}
phases:
  - name: Canary
    steps: [{{shift: 10}}, {{bake: 1h}}]
"""


async def test_haproxy_gone_mid_bake_turns_the_split_bar_and_the_header_red(tmp_path, haproxy_factory):
    h = haproxy_factory()
    text = BAKING.format(traffic=haproxy_traffic(h))
    loaded = load_plan_text(text, str(tmp_path / "p.yaml"))
    app = make_app(loaded, tmp_path / "j.jsonl", clock=RealClock(), operator="tester", keymap={})
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("n", "enter")
        await until(pilot, lambda: app.state["bake"] and "ends_at" in app.state["bake"], timeout=20, what="baking")
        assert "✓ live" in screen_text(app)
        h.proc.kill()
        h.proc.wait()
        await until(pilot, lambda: "✗ NOT READ BACK" in screen_text(app), timeout=20, what="the split bar")
        first = screen_text(app).splitlines()[0]
        assert "✓ live" not in screen_text(app)
        # the failure comes first, right after the name of the tool: a narrow terminal cuts the plan's name
        assert first.startswith(" shipdeck  traffic ✗ read-back: "), first


async def test_a_screen_without_an_engine_claims_nothing_live(tmp_path):
    from tui.engine.handle import RemoteEngine
    from tui.engine.spawn import spawn_engine

    plan = tmp_path / "p.yaml"
    plan.write_text(BAKING.format(traffic="{type: simulated, scenario: healthy, delay: 0}"))
    sock = spawn_engine(str(plan), tmp_path / "j.jsonl")
    [pid] = engine_pids()
    remote = RemoteEngine(sock, "alice", "drive")
    app = make_app(None, remote.journal_path, engine=remote, keymap={})
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n", "enter")
        await until(pilot, lambda: "left)" in screen_text(app) and "✓ rps[all]" in screen_text(app), timeout=20,
                    what="a live bake and a live guard")
        os.kill(pid, signal.SIGKILL)
        await until(pilot, lambda: "ENGINE FAILED" in screen_text(app), what="the lost engine on screen")
        await pilot.pause(0.3)
        shown = screen_text(app)
        assert "STALE: no engine behind this screen" in shown and "✓ rps" not in shown  # no verdict left standing
        assert "while guards watch" not in shown
        assert "no engine: last read back green 10%" in shown and "✓ live" not in shown
        assert "left)" not in shown  # no bake countdown from a clock that stopped


async def stop_mid_bake(tmp_path, h, env, *stop_args: str) -> subprocess.CompletedProcess[str]:
    """A night driven by alice to its bake at 10% on HAProxy, alice gone, then `shipdeck stop` from elsewhere."""
    sock, alice, a = await driven(tmp_path, BAKING.format(traffic=haproxy_traffic(h)))
    alice.submit("advance")
    await wait(lambda: alice.state.bake is not None, what="the bake at 10%")
    alice.detach("alice leaves")  # her screen goes; the helm with it, so a stop from another terminal may end it
    alice.join(5)
    return await asyncio.to_thread(subprocess.run, [PY, "-m", "tui.cli", "stop", str(tmp_path / "j.jsonl"), *stop_args],
                                   capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)


async def test_shipdeck_stop_ends_a_run_where_its_traffic_is_and_the_engine_leaves(tmp_path, haproxy_factory,
                                                                                   clean_env):
    h = haproxy_factory()
    path = tmp_path / "j.jsonl"
    stop = await stop_mid_bake(tmp_path, h, clean_env, "--reason", "release cancelled by the change board")
    assert stop.returncode == 0, stop.stderr
    assert "run aborted: green 10% (read back); the engine has left" in stop.stdout
    assert await haproxy_green(h) == 10 and engine_pids() == []
    records = journal.load(path).records
    end = next(r for r in records if r["kind"] == "run-end")
    assert end["data"]["status"] == "aborted" and "release cancelled by the change board" in end["data"]["reason"]
    released = [r for r in records if r["kind"] == "event" and r["data"].get("name") == "release"]
    assert released and WHO["alice"] in released[0]["data"]["args"]["reason"]


async def test_shipdeck_stop_rollback_rolls_back_first(tmp_path, haproxy_factory, clean_env):
    h = haproxy_factory()
    stop = await stop_mid_bake(tmp_path, h, clean_env, "--reason", "bad night", "--rollback")
    assert stop.returncode == 0, stop.stderr
    assert "run rolled-back: green 0% (read back); the engine has left" in stop.stdout
    assert await haproxy_green(h) == 0 and engine_pids() == []


async def test_a_second_operator_is_not_driving_not_read_only_and_the_helm_follows_who_is_there(tmp_path):
    from tui.engine.handle import RemoteEngine

    sock, alice, a = await driven(tmp_path, FOUR_EYES)
    carol = RemoteEngine(sock, "carol", "drive")
    app = make_app(None, carol.journal_path, engine=carol, keymap={})
    try:
        async with app.run_test(size=(160, 40)) as pilot:
            await until(pilot, lambda: f"helm: {WHO['alice']}" in screen_text(app), what="who drives")
            assert " NOT DRIVING " in screen_text(app) and "READ-ONLY" not in screen_text(app)
            alice.detach("her SSH link dropped")
            await until(pilot, lambda: "helm: nobody (T takes it)" in screen_text(app), what="the helm released")
            await until(pilot, lambda: f"{WHO['alice']} left the helm" in screen_text(app), what="said in the logs")
    finally:
        alice.join(5)


async def test_the_run_end_is_journalled_when_the_run_ends_not_when_the_engine_leaves(tmp_path):
    sock, alice, a = await driven(tmp_path, FOUR_EYES)
    path = tmp_path / "j.jsonl"
    alice.submit("rollback", reason="test")
    await wait(lambda: alice.state.status == "rolled-back", what="rolled back")
    await wait(lambda: any(r["kind"] == "run-end" for r in journal.load(path).records), what="the end record")
    assert engine_pids()  # the engine is still there (a screen is attached): the run's end is journalled anyway
    alice.detach("done")
    alice.join(5)


def test_the_lab_ends_its_run_and_engine_when_it_stops_and_starts_fresh_each_time(tmp_path):
    from tests.backends.conftest import require_binary

    require_binary("haproxy")
    require_binary("prometheus")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for night in (1, 2):
        lab = Term([sys.executable, str(ROOT / "examples" / "haproxy-lab" / "lab.py")], 120, 40, cwd=tmp_path,
                   env=env)
        try:
            lab.wait(lambda s: answered(s) and "lab canary" in s, 60)
            lab.send(b"n")
            lab.wait(lambda s: "Start phase" in s, 10)
            lab.send(b"y")
            lab.wait(lambda s: "RUNNING" in s, 10)
            lab.send(b"q")  # the screen detaches; the lab ends the run and the engine before it stops
            assert lab.exit_code(60) == 0, lab.text()
        finally:
            lab.close(engines=False)
        journals = sorted((tmp_path / "journals").glob("lab-*.jsonl"))
        assert len(journals) == night  # a fresh journal each time, where `make clean` and git ignore it
        end = next(r for r in journal.load(journals[-1]).records if r["kind"] == "run-end")
        assert end["data"]["status"] == "aborted" and "the lab is stopping" in end["data"]["reason"]
        assert engine_pids() == []


def test_quitting_a_foreground_demo_prints_how_to_go_on(tmp_path):
    demo = Term([PY, "-m", "tui.cli", "demo", "--manual", "--journal", str(tmp_path / "d.jsonl")], 100, 30,
                cwd=ROOT)
    try:
        demo.wait(lambda s: "ROLLBACK" in s, 30)
        demo.send(b"n")
        demo.wait(lambda s: "Start phase" in s, 10)
        demo.send(b"y")
        demo.wait(lambda s: "RUNNING" in s, 10)
        demo.send(b"q")
        demo.wait(lambda s: "Quit with the run running?" in s, 10)
        demo.send(b"\r")
        assert demo.exit_code(30) == 1
        assert f"continue with: shipdeck demo --journal {tmp_path / 'd.jsonl'} --resume" in demo.raw_text()
    finally:
        demo.close(engines=False)
