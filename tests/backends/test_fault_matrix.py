"""The fault matrix: one test per way the engine could go blind (docs/faults.md lists the behaviour).

Real HAProxy and Prometheus on loopback wherever the case involves them; the one metrics source
the test must steer (a breach on cue) is Prometheus scraping a gauge the test sets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from backends.base import RealClock, run_command
from backends.haproxy import HAProxyTraffic
from tests.backends.conftest import free_port, start_prometheus, stop, wait_for
from tests.backends.test_host_logs_probe_notify import recorder  # noqa: F401 - fixture
from tests.tui.conftest import screen_text, until
from tui.app import make_app
from tui.engine import driver as driver_mod
from tui.engine import journal
from tui.engine.autopilot import Autopilot
from tui.engine.driver import Driver
from tui.engine.plan import PlanError, load_plan_text
from tui.engine.report import build_report

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable

PLAN = """\
version: 1
name: faults
backends:
  traffic: {traffic}
  metrics: [{{name: prom, type: prometheus, url: "{prom}", timeout: 1, max_errors: 1}}]
{notify}
metrics:
  error_rate: {{query: app_error_ratio, unit: ratio}}
guards:
  - {{metric: error_rate, above: 0.01, for: {window}, no_data: {no_data}}}
settings: {{sample_interval: 500ms, timeout: 3s}}
phases:
  - name: Canary
    steps:
{steps}
  - name: Full
    steps:
      - shift: 100
"""


def make_plan(tmp_path: Path, prom: str, traffic: str = "{type: simulated, scenario: healthy, delay: 0}",
              steps: str = "      - shift: 10\n      - bake: 1h", window: str = "2s", no_data: str = "hold",
              notify: str = ""):
    text = PLAN.format(traffic=traffic, prom=prom, steps=steps, window=window, no_data=no_data,
                       notify=f"  notify: [{{type: webhook, url: \"{notify}\"}}]" if notify else "")
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    return load_plan_text(text, str(path))


def haproxy_traffic(h) -> str:
    return f'{{type: haproxy, socket: "{h.socket}", backend: app, blue: blue, green: green}}'


def haproxy_backend(h) -> HAProxyTraffic:
    """A second client of the same HAProxy: the test's own eyes and hands on it."""
    return HAProxyTraffic(HAProxyTraffic.Config(type="haproxy", socket=h.socket, backend="app", blue="blue",
                                                green="green"), driver_mod.BackendContext())


async def haproxy_green(h) -> int:
    return (await haproxy_backend(h).weights())["green"][0]


class Exporter:
    """app_error_ratio as a real scrape target; the test sets the value."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.gauge = Gauge("app_error_ratio", "errors", registry=self.registry)
        self.gauge.set(0.002)
        self.port = free_port()
        self.server, _ = start_http_server(self.port, addr="127.0.0.1", registry=self.registry)


@contextlib.contextmanager
def scraped(tmp: Path) -> Iterator[Exporter]:
    exp = Exporter()
    prom = start_prometheus(tmp, [f"127.0.0.1:{exp.port}"])
    exp.url = prom.url  # type: ignore[attr-defined]
    try:
        wait_for(lambda: _value(prom.url) is not None, timeout=30, what="first scrape")
        yield exp
    finally:
        stop(prom.proc)
        exp.server.shutdown()


@pytest.fixture(scope="module")
def module_metrics(tmp_path_factory) -> Iterator[Exporter]:
    """One Prometheus scraping one exporter for the whole module: starting one costs seconds."""
    with scraped(tmp_path_factory.mktemp("prometheus")) as exp:
        yield exp


@pytest.fixture
def metrics(module_metrics: Exporter) -> Iterator[Exporter]:
    """The module's Prometheus, healthy again: the value a test set before is scraped away first."""
    module_metrics.gauge.set(0.002)
    wait_for(lambda: _value(module_metrics.url) == 0.002, timeout=10, what="the healthy value scraped")
    yield module_metrics


@pytest.fixture
def own_metrics(tmp_path) -> Iterator[Exporter]:
    """A Prometheus and exporter of this test's own: it takes the target away."""
    with scraped(tmp_path) as exp:
        yield exp


def _value(url: str) -> float | None:
    import urllib.request
    with urllib.request.urlopen(url + "/api/v1/query?query=app_error_ratio", timeout=2) as r:
        result = json.loads(r.read())["data"]["result"]
    return float(result[0]["value"][1]) if result else None


async def wait(cond, timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def start(drv: Driver, autopilot: bool = True) -> asyncio.Task:
    if autopilot:
        pilot = Autopilot(drv, approve=True)
        asyncio.get_running_loop().create_task(pilot.run())
    return asyncio.create_task(drv.run())


async def finish(drv: Driver, task: asyncio.Task) -> None:
    drv.suspend("test over")
    await asyncio.wait_for(task, 20)


def notices(drv: Driver) -> list[str]:
    seen: list[str] = []
    drv.subscribe(lambda ev: seen.append(ev["text"]) if ev["type"] == "notice" else None)
    return seen


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


# ---------------------------------------------------------------- 1. no data never means healthy


async def test_prometheus_refused_holds_the_run_before_any_shift(tmp_path, haproxy_factory):
    h = haproxy_factory()
    loaded = make_plan(tmp_path, closed_port_url(), traffic=haproxy_traffic(h))
    drv = Driver(loaded, tmp_path / "j.jsonl", clock=RealClock())
    said = notices(drv)
    task = await start(drv)
    await wait(lambda: drv.state.blind == ["error_rate"], what="blind")
    await asyncio.sleep(2.0)  # the autopilot keeps pressing; nothing may move
    assert drv.state.status == "pending" and drv.state.traffic == 0
    assert await haproxy_green(h) == 0
    assert any("guard error_rate blind" in t for t in said)
    await finish(drv, task)


async def test_prometheus_stopped_mid_run_freezes_bake_and_refuses_forward(tmp_path, haproxy_factory, own_metrics):
    metrics = own_metrics
    h = haproxy_factory()
    loaded = make_plan(tmp_path, metrics.url, traffic=haproxy_traffic(h), steps="      - shift: 10\n      - bake: 3s")
    drv = Driver(loaded, tmp_path / "j.jsonl", clock=RealClock())
    said = notices(drv)
    task = await start(drv)
    await wait(lambda: drv.state.current_step is not None and drv.state.current_step.status == "baking", what="bake")
    metrics.server.shutdown()  # the target goes away: Prometheus answers with an empty vector soon after
    metrics.server.server_close()
    await wait(lambda: drv.state.blind == ["error_rate"], timeout=30, what="blind after the target died")
    assert drv.state.bake is not None and "remaining" in drv.state.bake  # the bake clock stopped
    await asyncio.sleep(4.0)  # longer than the whole bake: it must not complete while blind
    assert drv.state.phase == 0 and drv.state.traffic == 10 and await haproxy_green(h) == 10
    drv.submit("shift", percent=50)
    await wait(lambda: any("shift: guard error_rate blind" in t for t in said), what="forward shift refused")
    drv.submit("shift", percent=0)  # towards blue is always allowed
    await wait(lambda: drv.state.traffic == 0, what="shift back")
    assert await haproxy_green(h) == 0
    await finish(drv, task)


async def test_no_data_fail_counts_as_breach_and_rolls_back(tmp_path, haproxy_factory):
    h = haproxy_factory()
    loaded = make_plan(tmp_path, closed_port_url(), traffic=haproxy_traffic(h), no_data="fail", window="1s")
    drv = Driver(loaded, tmp_path / "j.jsonl", clock=RealClock())
    task = await start(drv)
    await asyncio.wait_for(task, 30)
    assert drv.state.status == "rolled-back" and await haproxy_green(h) == 0


def test_check_warns_about_ignore(tmp_path):
    loaded = make_plan(tmp_path, closed_port_url(), no_data="ignore")
    line = Path(loaded.path).read_text().splitlines().index(
        next(x for x in Path(loaded.path).read_text().splitlines() if "no_data: ignore" in x)) + 1
    res = subprocess.run([PY, "-m", "tui.cli", "check", loaded.path, "--offline"], capture_output=True, text=True,
                         cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert f"plan.yaml:{line}:" in res.stderr and "no_data: ignore" in res.stderr and "blind" in res.stderr


# ---------------------------------------------------------------- 2. engine failures are loud


async def test_engine_exception_shows_engine_failed_notifies_and_rollback_still_reaches_haproxy(
        tmp_path, haproxy_factory, metrics, recorder, monkeypatch):  # noqa: F811
    h = haproxy_factory()
    hook = recorder()
    loaded = make_plan(tmp_path, metrics.url, traffic=haproxy_traffic(h), notify=hook.url)
    real = driver_mod.transition

    def broken(state, event):
        if event.get("name") == "pause":
            raise RuntimeError("state machine bug")
        return real(state, event)

    monkeypatch.setattr(driver_mod, "transition", broken)
    app = make_app(loaded, tmp_path / "j.jsonl", clock=RealClock(), operator="tester", keymap={})
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, lambda: not app.engine.state.blind and app.series.last, timeout=20, what="data")
        await pilot.press("n", "enter")
        await until(pilot, lambda: app.state["traffic"] == 10, timeout=20, what="shift to 10")
        assert await haproxy_green(h) == 10
        await pilot.press("p")  # the engine breaks on this command
        await until(pilot, lambda: "ENGINE FAILED" in screen_text(app), what="ENGINE FAILED on screen")
        assert "RUNNING" not in screen_text(app).splitlines()[0]
        await pilot.press("R")
        await pilot.press("enter")
        await until(pilot, lambda: app.state["status"] == "rolled-back", what="emergency rollback")
        assert await haproxy_green(h) == 0
        assert app.why_not("advance") and "ENGINE FAILED" in app.why_not("advance")
    await wait(lambda: any(b["event"] == "engine-failed" for b in hook.bodies), what="engine-failed alert")


async def test_a_failing_subscriber_or_sampler_is_loud_and_forward_stops(tmp_path, metrics, monkeypatch):
    loaded = make_plan(tmp_path, metrics.url)
    drv = Driver(loaded, tmp_path / "j.jsonl", clock=RealClock())
    engine_events: list[dict] = []
    drv.subscribe(lambda ev: engine_events.append(ev) if ev["type"] == "engine" else None)
    task = await start(drv)
    await wait(lambda: drv.state.traffic == 10, what="canary")

    def bad_subscriber(ev):
        if ev["type"] == "samples":
            raise ValueError("screen bug")

    drv.subscribe(bad_subscriber)
    await wait(lambda: engine_events, what="engine failure event")
    assert "subscriber" in engine_events[0]["reason"] and "screen bug" in engine_events[0]["reason"]
    await wait(lambda: drv.state.faults, what="fault in the state")
    drv.submit("shift", percent=50)
    await asyncio.sleep(0.5)
    assert drv.state.traffic == 10
    # the guards still evaluate: the sampler is alive and a breach still rolls back
    metrics.gauge.set(0.5)
    await asyncio.wait_for(task, 30)
    assert drv.state.status == "rolled-back"


async def test_journal_disk_full_keeps_guarding_and_rolls_back(tmp_path, haproxy_factory, metrics):
    h = haproxy_factory()
    loaded = make_plan(tmp_path, metrics.url, traffic=haproxy_traffic(h))
    drv = Driver(loaded, tmp_path / "j.jsonl", clock=RealClock())
    said = notices(drv)
    task = await start(drv)
    await wait(lambda: drv.state.traffic == 10 and drv.state.bake is not None, what="baking at 10%")
    full = os.open("/dev/full", os.O_WRONLY)
    os.dup2(full, drv.journal._fd)  # the kernel now answers every write with ENOSPC
    os.close(full)
    await wait(lambda: drv.state.faults, what="journal fault")
    assert "journal" in drv.failed and "No space left" in drv.failed
    drv.submit("shift", percent=50)
    await wait(lambda: any("shift: engine fault" in t for t in said), what="forward refused")
    metrics.gauge.set(0.5)  # breach
    await asyncio.wait_for(task, 30)
    assert drv.state.status == "rolled-back" and await haproxy_green(h) == 0
    # What the disk refused until the end was kept in memory, in order, and written beside the journal at exit;
    # the last word says how many and where, and the report reads them: rolled back, not "running at 10%".
    path = tmp_path / "j.jsonl"
    assert f"they are in {path}.unwritten (report and --resume read them)" in drv.spilled
    records = journal.load(path).records
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    report = build_report(records)
    assert "- Outcome: **rolled-back**" in report and "- Traffic at the end: green 0%" in report
    assert "read from" in build_report(records, journal.load(path).warnings)
    # --resume takes them back into the journal itself
    journal.Journal(path, resume=True).close()
    assert not (tmp_path / "j.jsonl.unwritten").exists() and len(journal.load(path).records) == len(records)


async def test_the_journal_disk_coming_back_ends_the_fault_by_itself(tmp_path, metrics):
    loaded = make_plan(tmp_path, metrics.url)
    path = tmp_path / "j.jsonl"
    drv = Driver(loaded, path, clock=RealClock())
    task = await start(drv)
    await wait(lambda: drv.state.traffic == 10 and drv.state.bake is not None, what="baking at 10%")
    disk = os.dup(drv.journal._fd)
    full = os.open("/dev/full", os.O_WRONLY)
    os.dup2(full, drv.journal._fd)
    os.close(full)
    await wait(lambda: drv.state.faults and drv.failed, what="journal fault")
    assert "remaining" in drv.state.bake  # the bake waits while the engine is failed
    os.dup2(disk, drv.journal._fd)  # the disk takes writes again
    os.close(disk)
    await wait(lambda: not drv.state.faults and not drv.failed, what="the fault to end by itself")
    assert "timer" in drv.state.bake  # and the bake goes on
    await finish(drv, task)
    records = journal.load(path).records
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))  # nothing lost, in order
    kinds = [r["data"]["type"] for r in records if r["kind"] == "event"]
    assert kinds.index("fault") < kinds.index("recovered")


async def test_fsync_eio_is_a_journal_fault(tmp_path, metrics, monkeypatch):
    loaded = make_plan(tmp_path, metrics.url)
    drv = Driver(loaded, tmp_path / "j.jsonl", clock=RealClock())
    task = await start(drv)
    await wait(lambda: drv.state.traffic == 10, what="canary")
    size = (tmp_path / "j.jsonl").stat().st_size

    def eio(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(journal.os, "fsync", eio)
    await wait(lambda: drv.state.faults, what="fault")
    assert "Input/output error" in drv.state.faults[0]
    assert (tmp_path / "j.jsonl").stat().st_size == size  # the failed record was taken back, not left torn
    monkeypatch.undo()
    await finish(drv, task)
    records = journal.load(tmp_path / "j.jsonl").records  # intact, and what was kept in memory got written
    assert any(r["kind"] == "event" and r["data"]["type"] == "fault" for r in records)


async def test_an_engine_that_breaks_outside_the_machine_leaves_the_run_suspended_not_ended(tmp_path):
    """Whatever escapes the engine's loop ends it as a suspension, journalled and sent to every screen (which
    then says NO GUARD WATCHES), never as a run that ended while traffic was live."""
    text = ("version: 1\nname: breaks\nbackends:\n  metrics: [{type: simulated}]\nmetrics:\n  rps: {unit: rps}\n"
            "phases:\n  - name: Bake\n    steps: [{shift: 10}, {bake: 1h}]\n")
    drv = Driver(load_plan_text(text, str(tmp_path / "p.yaml")), tmp_path / "j.jsonl", clock=RealClock())
    seen: list[dict] = []
    drv.subscribe(seen.append)
    real = drv._process

    def breaks(event):
        if event.get("name") == "pause":
            raise RuntimeError("boom")
        real(event)

    drv._process = breaks  # type: ignore[method-assign]
    task = asyncio.create_task(drv.run())
    drv.submit("advance")
    await wait(lambda: drv.state.traffic == 10, what="the shift")
    drv.submit("pause")
    with pytest.raises(RuntimeError, match="boom"):
        await asyncio.wait_for(task, 10)
    last = journal.load(tmp_path / "j.jsonl").records[-1]
    assert last["kind"] == "suspend" and last["data"]["reason"] == "engine error: RuntimeError: boom", last
    end = next(e for e in seen if e["type"] == "end")
    assert end["suspended"] == "engine error: RuntimeError: boom" and end["traffic"] == 10


# ---------------------------------------------------------------- 3. crash recovery


def journal_until(src: Path, dst: Path, keep) -> list[dict]:
    """The journal as a kill -9 right after the last record `keep` accepts would have left it."""
    records = journal.load(src).records
    cut = max(i for i, r in enumerate(records) if keep(r)) + 1
    lines = src.read_bytes().split(b"\n")[:cut]
    dst.write_bytes(b"\n".join(lines) + b"\n")
    return records[:cut]


async def run_to(tmp_path, loaded, cond, name="first.jsonl") -> Path:
    path = tmp_path / name
    drv = Driver(loaded, path, clock=RealClock())
    task = await start(drv)
    await wait(lambda: cond(drv), what="the crash point")
    await finish(drv, task)
    return path


async def resume(tmp_path, loaded, path: Path, autopilot=False) -> tuple[Driver, asyncio.Task]:
    drv = Driver(loaded, path, clock=RealClock(), resume=True)
    return drv, await start(drv, autopilot=autopilot)


async def test_resume_after_shift_intent_reads_back_and_never_moves_forward(tmp_path, haproxy_factory, metrics):
    h = haproxy_factory()
    loaded = make_plan(tmp_path, metrics.url, traffic=haproxy_traffic(h))
    first = await run_to(tmp_path, loaded, lambda d: d.state.traffic == 10)
    crashed = tmp_path / "crashed.jsonl"
    journal_until(first, crashed, lambda r: r["kind"] == "intent" and r["data"]["kind"] == "shift")
    # HAProxy did apply the shift before the crash (weights are at 10 from the first run)
    drv, task = await resume(tmp_path, loaded, crashed)
    await wait(lambda: drv.state.restarted, what="restart hold")
    assert drv.state.status == "paused" and drv.state.traffic == 10
    assert drv.state.phases[0].steps[0].status == "done"  # the shift was judged by reading HAProxy back
    await asyncio.sleep(1.0)
    assert drv.state.phase == 0 and await haproxy_green(h) == 10  # nothing moved on by itself
    await finish(drv, task)


async def test_resume_after_outcome_before_result_feeds_the_result(tmp_path, metrics):
    loaded = make_plan(tmp_path, metrics.url)
    first = await run_to(tmp_path, loaded, lambda d: d.state.traffic == 10)
    crashed = tmp_path / "crashed.jsonl"
    kept = journal_until(first, crashed, lambda r: r["kind"] == "outcome" and r["data"]["kind"] == "shift")
    assert journal.replay(kept).pending  # the machine never saw the result
    drv, task = await resume(tmp_path, loaded, crashed)
    await wait(lambda: drv.state.restarted, what="restart hold")
    assert drv.state.traffic == 10 and not any(e["kind"] == "shift" for e in drv.state.pending.values())
    await finish(drv, task)


async def test_resume_during_a_rollback_finishes_it_first(tmp_path, haproxy_factory, metrics):
    h = haproxy_factory()
    loaded = make_plan(tmp_path, metrics.url, traffic=haproxy_traffic(h))
    path = tmp_path / "first.jsonl"
    drv = Driver(loaded, path, clock=RealClock())
    task = await start(drv)
    await wait(lambda: drv.state.traffic == 10, what="canary")
    await finish(drv, task)
    # the operator pressed rollback and the process died after the intent, before HAProxy was told
    crashed = tmp_path / "crashed.jsonl"
    journal_until(path, crashed, lambda r: True)
    j = journal.Journal(crashed, resume=True)
    ev = {"type": "command", "name": "rollback", "operator": "alice", "args": {}, "at": time.time()}
    state, effects = driver_mod.transition(journal.replay(j.records), ev)
    j.append("event", ev, "alice", time.time())
    j.append("intent", next(e for e in effects if e["kind"] == "rollback"), "alice", time.time())
    j.close()
    assert state.status == "rolling-back" and await haproxy_green(h) == 10
    drv, task = await resume(tmp_path, loaded, crashed)
    await asyncio.wait_for(task, 30)
    assert drv.state.status == "rolled-back" and await haproxy_green(h) == 0


async def test_guard_window_continues_from_the_journal(tmp_path, metrics):
    loaded = make_plan(tmp_path, metrics.url, window="6s")
    path = tmp_path / "first.jsonl"
    drv = Driver(loaded, path, clock=RealClock())
    task = await start(drv)
    await wait(lambda: drv.state.traffic == 10, what="canary")
    metrics.gauge.set(0.5)
    await wait(lambda: drv.guards.status[0].breach_for >= 3.0, timeout=30, what="half the window")
    await finish(drv, task)
    served = next(r for r in reversed(journal.load(path).records) if r["kind"] == "sample")["data"]["guards"][0]
    drv, task = await resume(tmp_path, loaded, path)
    await wait(lambda: drv.state.restarted or drv.state.terminal, what="resume")
    st = drv.guards.status[0]
    assert st.breach_since is not None and st.breach_for >= served["breach_for"]  # not restarted from zero
    await asyncio.wait_for(task, 30)  # the rest of the window, then the rollback
    assert drv.state.status == "rolled-back"


async def test_drift_is_seen_on_resume_and_alerted_once(tmp_path, haproxy_factory, metrics, recorder):  # noqa: F811
    h = haproxy_factory()
    hook = recorder()
    loaded = make_plan(tmp_path, metrics.url, traffic=haproxy_traffic(h), notify=hook.url)
    path = await run_to(tmp_path, loaded, lambda d: d.state.traffic == 10 and d.state.bake is not None)
    b = haproxy_backend(h)
    await b.command("set weight app/green 40")  # someone changes weights by hand while nobody drives
    await b.command("set weight app/blue 60")
    drv, task = await resume(tmp_path, loaded, path)
    await wait(lambda: drv.state.traffic == 40, what="the hand-made split read back")
    await asyncio.sleep(3.0)  # several samples later
    await finish(drv, task)
    drift = [x for x in hook.bodies if x["event"] == "drift"]
    assert len(drift) == 1 and "40%" in drift[0]["message"], hook.bodies


async def test_kill_9_mid_bake_then_resume_needs_yes_again(tmp_path, haproxy_factory, metrics):
    h = haproxy_factory()
    loaded = make_plan(tmp_path, metrics.url, traffic=haproxy_traffic(h), steps="      - shift: 10\n      - bake: 4s")
    path = tmp_path / "j.jsonl"
    cmd = [PY, "-m", "tui.cli", "run", loaded.path, "--headless", "--yes", "--journal", str(path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "bake 4s: baking" in line:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    without = subprocess.run(cmd[:-4] + ["--headless", "--journal", str(path), "--resume"], capture_output=True,
                             text=True, cwd=ROOT, timeout=60)
    assert without.returncode == 1
    assert "--resume --yes" in without.stdout and await haproxy_green(h) == 10
    done = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, cwd=ROOT, timeout=90)
    assert done.returncode == 0, done.stdout[-2000:]
    assert await haproxy_green(h) == 100
    assert journal.replay(journal.load(path).records).status == "completed"


# ---------------------------------------------------------------- 4. one driver per journal


async def test_one_driver_per_journal_and_stale_locks(tmp_path, metrics):
    loaded = make_plan(tmp_path, metrics.url)
    path = tmp_path / "j.jsonl"
    drv = Driver(loaded, path, clock=RealClock())
    task = await start(drv, autopilot=False)
    await wait(lambda: path.stat().st_size > 0, what="run-start")
    res = subprocess.run([PY, "-m", "tui.cli", "run", loaded.path, "--headless", "--journal", str(path), "--resume"],
                         capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert res.returncode == 1
    assert f"pid {os.getpid()}" in res.stderr and socket.gethostname() in res.stderr, res.stderr
    await finish(drv, task)
    # a lock file left by a process that died: the flock is gone with it, the next driver takes over
    (tmp_path / "j.jsonl.lock").write_text(json.dumps({"user": "bob", "host": socket.gethostname(), "pid": 999999,
                                                       "since": "2026-11-30T00:00:00Z"}))
    again = Driver(loaded, path, clock=RealClock(), resume=True)
    assert "bob@" in again.journal.stale_holder and "process gone" in again.journal.stale_holder
    again.journal.close()


# ---------------------------------------------------------------- 5. SIGHUP and quit


def test_sighup_leaves_a_resumable_run_and_notifies(tmp_path, metrics, recorder):  # noqa: F811
    hook = recorder()
    loaded = make_plan(tmp_path, metrics.url, notify=hook.url)
    path = tmp_path / "j.jsonl"
    proc = subprocess.Popen([PY, "-m", "tui.cli", "run", loaded.path, "--headless", "--yes", "--journal", str(path)],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "bake 1h: baking" in line:
            break
    proc.send_signal(signal.SIGHUP)
    out = proc.communicate(timeout=30)[0]
    assert proc.returncode == 1 and "--resume" in out
    records = journal.load(path).records
    assert records[-1]["kind"] == "suspend" and "SIGHUP" in records[-1]["data"]["reason"]
    assert not any(r["kind"] == "run-end" for r in records)
    assert not journal.replay(records).terminal
    assert any(b["event"] == "suspended" and "not watching" in b["message"] for b in hook.bodies)


async def test_quit_dialog_says_what_happens_and_leaves_the_run_resumable(tmp_path, metrics):
    loaded = make_plan(tmp_path, metrics.url)
    app = make_app(loaded, tmp_path / "j.jsonl", clock=RealClock(), operator="tester", keymap={})
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, lambda: not app.engine.state.blind and app.series.last, timeout=20, what="data")
        await pilot.press("n", "enter")
        await until(pilot, lambda: app.state["traffic"] == 10, timeout=20, what="canary")
        await pilot.press("q")
        await pilot.pause(0.3)
        text = screen_text(app)
        assert "NO GUARD WATCHES" in text and "green 10%" in text and "--resume" in text
        await pilot.press("enter")
        await until(pilot, lambda: app.engine.ended, what="engine stopped")
    records = journal.load(tmp_path / "j.jsonl").records
    assert records[-1]["kind"] == "suspend" and not journal.replay(records).terminal


# ---------------------------------------------------------------- 6. run steps


async def test_run_step_output_without_newlines_and_background_children(tmp_path):
    big = await run_command(f"{PY} -c \"import sys; sys.stdout.write('#' * 300000)\"", 10)
    assert not big.timed_out and big.exit_code == 0 and big.duration < 10
    assert len(big.output) > 0
    pid_file = tmp_path / "child.pid"
    bg = await run_command(f"sleep 300 & echo $! > {pid_file}; echo started", 10)
    assert not bg.timed_out and bg.exit_code == 0 and "started" in bg.output
    pid = int(pid_file.read_text())
    await wait(lambda: not _alive(pid), timeout=5, what="the background child to be gone")
    # a step cancelled under way (a rollback supersedes it, the operator quits) takes its processes along
    pid_file.unlink()
    step = asyncio.create_task(run_command(f"sleep 300 & echo $! > {pid_file}; wait", 60))
    await wait(lambda: pid_file.exists() and pid_file.read_text().strip(), what="the step's child")
    step.cancel()
    with pytest.raises(asyncio.CancelledError):
        await step
    pid = int(pid_file.read_text())
    await wait(lambda: not _alive(pid), timeout=5, what="the cancelled step's child to be gone")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"


# ---------------------------------------------------------------- 7. hostile text never reaches the terminal

HOSTILE = {
    "csi": "\x1b[31337D",
    "osc0": "\x1b]0;PWNED-TITLE\x07",
    "osc8": "\x1b]8;;http://127.0.0.1/PWNED\x1b\\link\x1b]8;;\x1b\\",
    "osc52": "\x1b]52;c;UFdORUQ=\x07",
    "c1": "\x9b6n",
}
PRINTF = r"printf 'out \033[31337D \033]0;PWNED-TITLE\007 \033]52;c;UFdORUQ=\007 \302\2336n\n'"
# The sequences themselves (ESC or 8-bit CSI first); shown inert they read ␛]0;… and � instead.
FORBIDDEN = [b"\x1b[31337D", b"\x1b]0;PWNED", b"\x1b]8;;http://127.0.0.1/PWNED", b"\x1b]52;c;", b"\xc2\x9b"]


def hostile_plan(tmp_path: Path) -> Path:
    bad = "".join(HOSTILE.values())
    text = f"""\
version: 1
name: {json.dumps("night " + bad)}
backends:
  traffic: {{type: simulated, scenario: healthy, delay: 0}}
  metrics: [{{type: simulated, scenario: healthy}}]
metrics:
  error_rate: {{unit: ratio, label: {json.dumps("err " + bad)}}}
phases:
  - name: {json.dumps("Prep " + bad)}
    owner: {json.dumps("ops " + bad)}
    checklist: [{json.dumps("backup " + bad)}]
    steps:
      - run: {{command: {json.dumps(PRINTF)}}}
      - gate: {json.dumps("go? " + bad)}
      - shift: 100
"""
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    return path


def pty_run(args: list[str], keys: list[tuple[float, bytes]], seconds: float, cwd: Path) -> bytes:
    import pty
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(cwd)
        os.environ.update({"TERM": "xterm-256color", "COLUMNS": "160", "LINES": "50", "PYTHONPATH": str(ROOT)})
        os.execv(PY, [PY, "-m", "tui.cli", *args])
    import fcntl
    import struct
    import termios
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
    out = bytearray()
    start = time.monotonic()
    pending = list(keys)
    import select
    while time.monotonic() - start < seconds:
        if pending and time.monotonic() - start >= pending[0][0]:
            os.write(fd, pending.pop(0)[1])
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    os.close(fd)
    return bytes(out)


def test_hostile_text_is_inert_in_every_view(tmp_path):
    plan = hostile_plan(tmp_path)
    journal_path = tmp_path / "j.jsonl"
    screen = pty_run(["run", str(plan), "--journal", str(journal_path)],
                     [(4.0, b"n"), (5.0, b"\r"), (7.0, b"?"), (8.0, b"\x1b"), (9.0, b"R"), (10.0, b"\r")], 13.0, tmp_path)
    assert b"night" in screen, screen[-2000:]
    headless = subprocess.run([PY, "-m", "tui.cli", "run", str(plan), "--headless", "--yes", "--journal",
                               str(tmp_path / "h.jsonl")], capture_output=True, cwd=ROOT, timeout=60)
    assert headless.returncode == 0, headless.stdout[-2000:]
    report = subprocess.run([PY, "-m", "tui.cli", "report", str(tmp_path / "h.jsonl")], capture_output=True,
                            cwd=ROOT, timeout=60)
    watch = subprocess.run([PY, "-m", "tui.cli", "watch", "--once", str(tmp_path / "h.jsonl")], capture_output=True,
                           cwd=ROOT, timeout=60)
    check = subprocess.run([PY, "-m", "tui.cli", "check", "--offline", str(plan)], capture_output=True, cwd=ROOT)
    for name, data in (("screen", screen), ("headless", headless.stdout + headless.stderr),
                       ("report", report.stdout), ("watch", watch.stdout), ("check", check.stdout + check.stderr)):
        assert data, name
        for seq in FORBIDDEN:
            assert seq not in data, f"{name} wrote {seq!r}"
    assert "␛" in headless.stdout.decode() and "␛" in report.stdout.decode()  # shown, as visible text


# ---------------------------------------------------------------- 8. secrets


async def test_secrets_are_masked_everywhere(tmp_path, metrics, recorder, monkeypatch):  # noqa: F811
    hook = recorder()
    monkeypatch.setenv("PROM_TOKEN", "tok-9f8e7d6c5b")
    literal = hook.url + "/T000/B000/XXXXsecretXXXX"
    text = PLAN.format(
        traffic="{type: simulated, scenario: healthy, delay: 0}",
        prom=metrics.url.replace("http://", "http://admin:hunter2pw@"),
        steps="      - shift: 10\n      - notify: token is ${PROM_TOKEN}\n      - run: 'echo leaked ${PROM_TOKEN}'",
        window="2s", no_data="hold", notify=f'  notify: [{{type: webhook, url: "{literal}"}}]')
    text = text.replace('max_errors: 1}', 'max_errors: 1, headers: {Authorization: "Bearer ${PROM_TOKEN}"}}')
    (tmp_path / "plan.yaml").write_text(text)
    loaded = load_plan_text(text, str(tmp_path / "plan.yaml"))
    app = make_app(loaded, tmp_path / "j.jsonl", clock=RealClock(), operator="tester", keymap={})
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, lambda: app.series.last, timeout=20, what="a sample")
        await pilot.press("n", "enter")
        await until(pilot, lambda: app.state["traffic"] == 10, timeout=20, what="canary")
        await until(pilot, lambda: app.state["waiting"].startswith("advance"), timeout=20, what="steps done")
        app.center.query_one("#logs").flush()
        await pilot.pause(0.5)
        seen = screen_text(app)
    await wait(lambda: any(b["event"] == "message" for b in hook.bodies), what="the notify step")
    raw = (tmp_path / "j.jsonl").read_text()
    report = subprocess.run([PY, "-m", "tui.cli", "report", str(tmp_path / "j.jsonl")], capture_output=True,
                            text=True, cwd=ROOT).stdout
    for where, data in (("journal", raw), ("screen", seen), ("report", report), ("notify", json.dumps(hook.bodies))):
        for secret in ("tok-9f8e7d6c5b", "hunter2pw", "XXXXsecretXXXX"):
            assert secret not in data, f"{secret} in the {where}"
    assert "leaked ***" in raw and "admin:***@" in raw


# ---------------------------------------------------------------- 9. ordinary input


async def test_dotted_and_digit_metric_names_run_on_screen(tmp_path):
    text = """\
version: 1
name: names
backends:
  metrics: [{type: simulated, scenario: healthy}]
metrics:
  http.errors: {query: error_rate, unit: ratio}
  5xx_rate: {query: error_rate, unit: ratio}
guards:
  - {metric: http.errors, above: 0.5}
phases:
  - name: Go
    steps: [{shift: 10}]
"""
    loaded = load_plan_text(text, str(tmp_path / "p.yaml"))
    app = make_app(loaded, tmp_path / "j.jsonl", clock=RealClock(), operator="tester", keymap={})
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, lambda: app.series.last.get("http.errors", {}).get("value") is not None, what="sample")
        await pilot.pause(0.5)
        assert "http.errors" in screen_text(app) and "5xx_rate" in screen_text(app)


@pytest.mark.parametrize(("value", "message"), [
    (".inf", "not a finite number"), (".nan", "not a finite number"), ('"nan"', "finite number"),
    ("1" + "0" * 400, "too large"), ("-.inf", "not a finite number"),
])
def test_non_finite_and_huge_thresholds_are_errors(value, message):
    text = ("version: 1\nname: x\nbackends: {metrics: [{type: simulated}]}\nmetrics: {e: {}}\n"
            f"guards: [{{metric: e, above: {value}}}]\nphases: [{{name: a}}]\n")
    with pytest.raises(PlanError) as err:
        load_plan_text(text, "t.yaml")
    assert any(message in str(i) and "guards[0].above" in str(i) and str(i).startswith("t.yaml:5:")
               for i in err.value.issues), err.value.issues


def test_plan_size_limits_are_clear_errors(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("version: 1\nname: big\nphases:\n" + "".join(f"  - {{name: p{i}}}\n" for i in range(60_000)))
    res = subprocess.run([PY, "-m", "tui.cli", "check", "--offline", str(big)], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert res.returncode == 2 and "may be at most 1,000,000" in res.stderr
    many = tmp_path / "many.yaml"
    many.write_text("version: 1\nname: many\nphases:\n" + "".join(f"  - {{name: p{i}, owner: o}}\n"
                                                                 for i in range(12_000)))
    res = subprocess.run([PY, "-m", "tui.cli", "check", "--offline", str(many)], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert res.returncode == 2 and "plan too large: more than 20,000 YAML nodes" in res.stderr
    assert res.stderr.count("\n") == 2  # one clear error, not thousands


def test_imported_runbooks_scale_with_their_headings(tmp_path):
    """Every heading becomes one phase (no quadratic copying of children); past the node limit the
    import is refused with the plan-size error. Time per heading is measured in the notes, not here."""
    from tui.engine import runbook

    def doc(n: int) -> Path:
        path = tmp_path / f"r{n}.md"
        path.write_text("# Runbook\n\n" + "".join(f"## Fase {i}\n\n- [ ] item {i}\n\n```\necho {i}\n```\n\n"
                                                    for i in range(n)))
        return path

    for n in (50, 400):
        assert runbook.import_runbook(doc(n)).yaml_text.count("- name:") == n
    with pytest.raises(PlanError, match="plan too large"):
        runbook.import_runbook(doc(2000))


# ---------------------------------------------------------------- 10. deduplicated alerts


async def test_paused_on_drift_sends_one_alert(tmp_path, haproxy_factory, metrics, recorder):  # noqa: F811
    h = haproxy_factory()
    hook = recorder()
    loaded = make_plan(tmp_path, metrics.url, traffic=haproxy_traffic(h), notify=hook.url)
    drv = Driver(loaded, tmp_path / "j.jsonl", clock=RealClock())
    task = await start(drv)
    await wait(lambda: drv.state.traffic == 10 and drv.state.bake is not None, what="baking")
    b = haproxy_backend(h)
    await b.command("set weight app/green 30")
    await wait(lambda: drv.state.status == "paused", what="paused on drift")
    assert drv.state.traffic == 25  # the screen shows what HAProxy says (90/30), not what shipdeck last set
    await asyncio.sleep(3.0)  # six more samples, every one still drifted
    await finish(drv, task)
    assert len([x for x in hook.bodies if x["event"] == "drift"]) == 1, [x["event"] for x in hook.bodies]



@pytest.mark.parametrize("hangup", ["SIGHUP", "the terminal is gone"])
def test_closing_the_terminal_of_the_command_center_leaves_a_resumable_run(tmp_path, metrics, hangup):
    """--foreground (the engine in the screen's process): an SSH drop, the pty going away under the running
    TUI (the kernel sends it SIGHUP), leaves the run suspended and resumable. Also when the SIGHUP never
    arrives (here: blocked), as seen after `tmux kill-server`: the screen notices its terminal is gone."""
    import pty
    loaded = make_plan(tmp_path, metrics.url)
    path = tmp_path / "j.jsonl"
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update({"TERM": "xterm-256color", "PYTHONPATH": str(ROOT)})
        if hangup != "SIGHUP":
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})  # inherited through exec
        os.execv(PY, [PY, "-m", "tui.cli", "run", loaded.path, "--foreground", "--journal", str(path)])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (path.exists() and b'"sample"' in path.read_bytes()):
        try:
            os.read(fd, 65536)  # keep the screen's output flowing, as a terminal would
        except OSError:
            break
    os.close(fd)
    for _ in range(200):
        done, _status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise AssertionError("the command center did not stop after its terminal went away")
    records = journal.load(path).records
    assert records[-1]["kind"] == "suspend" and f"({hangup})" in records[-1]["data"]["reason"], records[-1]
