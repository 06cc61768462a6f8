"""The engine with real backends failing in the ways deploy nights do."""

import asyncio
import time
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from backends.base import RealClock
from tests.backends.conftest import free_port, start_prometheus, stop, wait_for
from tests.backends.test_host_logs_probe_notify import recorder  # noqa: F401 - fixture
from tests.tui.conftest import screen_text, until
from tui.app import make_app
from tui.engine import journal
from tui.engine.driver import Driver
from tui.engine.plan import load_plan_text
from tui.headless import run_headless

BASE = """\
version: 1
name: failures
backends:
  traffic: {{type: simulated, scenario: healthy, delay: 0}}
{extra}
phases:
  - name: Only
    steps:
{steps}
"""


@pytest.fixture
def prom(tmp_path):
    """Prometheus scraping an exporter whose app_error_ratio is 0.002."""
    registry = CollectorRegistry()
    Gauge("app_error_ratio", "errors", registry=registry).set(0.002)
    port = free_port()
    server, _ = start_http_server(port, addr="127.0.0.1", registry=registry)
    p = start_prometheus(tmp_path, [f"127.0.0.1:{port}"])
    yield p
    stop(p.proc)
    server.shutdown()


def plan(tmp_path, steps: str, extra: str = ""):
    return load_plan_text(BASE.format(steps=steps, extra=extra), str(tmp_path / "p.yaml"))


async def test_a_hung_run_step_is_killed_at_its_timeout(tmp_path):
    loaded = plan(tmp_path, '      - run: {command: "sleep 100", timeout: 1s}\n      - shift: 100')
    lines: list[str] = []
    code = await asyncio.wait_for(run_headless(loaded, tmp_path / "j.jsonl", RealClock(), yes=True,
                                               out=lines.append), 30)
    assert code == 1
    out = [r["data"] for r in journal.load(tmp_path / "j.jsonl").records if r["kind"] == "outcome"]
    assert out[0]["kind"] == "run" and not out[0]["ok"]
    assert out[0]["error"] == "timed out after 1s; process group killed"
    assert any("headless run cannot continue" in ln for ln in lines)


async def test_a_webhook_answering_500_does_not_stop_the_deploy(tmp_path, recorder):  # noqa: F811
    hook = recorder(status=500)
    loaded = plan(tmp_path, "      - notify: canary starting\n      - shift: 100",
                  extra=f'  notify: [{{type: webhook, url: "{hook.url}"}}]')
    code = await asyncio.wait_for(run_headless(loaded, tmp_path / "j.jsonl", RealClock(), yes=True,
                                               out=lambda s: None), 30)
    assert code == 0
    assert any(b["event"] == "message" and b["message"] == "canary starting" for b in hook.bodies)
    shift = next(b for b in hook.bodies if b["event"] == "shift")
    assert shift["plan"] == "failures" and shift["phase"] == "Only" and "metrics" in shift


async def test_a_stopped_prometheus_shows_down_and_guards_hold(tmp_path, prom):
    loaded = plan(tmp_path, "      - shift: 10\n      - bake: 1h", extra=(
        f'  metrics: [{{name: prom, type: prometheus, url: "{prom.url}", max_errors: 2, timeout: 1}}]\n'
        "metrics:\n  error_rate: {query: app_error_ratio, unit: ratio}\n"
        "guards:\n  - {metric: error_rate, above: 0.01, for: 5s, no_data: hold}\n"
        "settings: {sample_interval: 1s, timeout: 3s}"))
    app = make_app(loaded, tmp_path / "j.jsonl", clock=RealClock(), operator="tester", keymap={})
    async with app.run_test(size=(160, 50)) as pilot:
        # No data yet (before Prometheus' first scrape) holds the run; a live sample lets it start.
        await until(pilot, lambda: app.series.last.get("error_rate", {}).get("value") is not None, timeout=30,
                    what="a live sample")
        await until(pilot, lambda: not app.engine.state.blind, what="guards see data")
        await pilot.press("n", "enter")
        await until(pilot, lambda: app.state["traffic"] == 10, what="shift")
        assert len(app.series.points["error_rate"]) >= 1
        stop(prom.proc)
        await until(pilot, lambda: "DOWN" in screen_text(app), timeout=30, what="DOWN on screen")
        text = screen_text(app)
        assert "prom ✗" in text and "prometheus down" in text
        assert app.guards[0]["state"] in ("blind", "ok")  # hold: no breach invented from silence
        assert app.state["status"] == "running"
        await until(pilot, lambda: app.engine.state.blind == ["error_rate"], what="the run holds, blind")
        assert "holding" in app.state["waiting"] or "bake paused" in app.state["waiting"]
        await pilot.press("p")  # keys keep working
        await until(pilot, lambda: app.state["status"] == "paused")


async def test_charts_are_backfilled_from_prometheus_on_start(tmp_path, prom):

    def scraped() -> bool:
        with urllib.request.urlopen(prom.url + "/api/v1/query?query=app_error_ratio", timeout=2) as r:
            return b'"value"' in r.read()

    wait_for(scraped, timeout=30, what="first scrape")
    time.sleep(3)  # a few scrapes of history
    loaded = plan(tmp_path, "      - shift: 10", extra=(
        f'  metrics: [{{name: prom, type: prometheus, url: "{prom.url}"}}]\n'
        "metrics:\n  error_rate: {query: app_error_ratio, unit: ratio}"))
    driver = Driver(loaded, tmp_path / "j.jsonl", clock=RealClock())
    history: list = []
    driver.subscribe(lambda ev: history.extend(ev["points"]) if ev["type"] == "history" else None)
    logs: list = []
    driver.subscribe(lambda ev: logs.extend(ev["lines"]) if ev["type"] == "logs" else None)
    task = asyncio.create_task(driver.run(linger=True))
    for _ in range(100):
        if history:
            break
        await asyncio.sleep(0.1)
    await driver.stop()
    await task
    assert len(history) >= 2, logs
    assert all(values["error_rate"]["value"] == 0.002 for _, values in history)
    assert [t for t, _ in history] == sorted(t for t, _ in history)


async def test_check_reports_bad_promql_at_the_plans_line(tmp_path, clean_env):
    import subprocess

    from tests.conftest import ROOT, shipdeck_cmd

    prom = start_prometheus(tmp_path, [])
    try:
        text = BASE.format(steps="      - shift: 10", extra=(
            f'  metrics: [{{name: prom, type: prometheus, url: "{prom.url}"}}]\n'
            "metrics:\n  error_rate: {query: 'sum(rate(http_errors_total[5m])', unit: ratio}"))
        path = tmp_path / "p.yaml"
        path.write_text(text)
        res = subprocess.run(shipdeck_cmd("check", str(path)), capture_output=True, text=True, env=clean_env,
                             cwd=ROOT, timeout=60)
        assert res.returncode == 2
        line = next(ln for ln in res.stderr.splitlines() if "metrics.error_rate.query" in ln)
        assert line.startswith(f"{path}:7:23: metrics.error_rate.query: prometheus rejects the query:")
        assert "parse error" in line
        offline = subprocess.run(shipdeck_cmd("check", str(path), "--offline"), capture_output=True, text=True,
                                 env=clean_env, cwd=ROOT, timeout=60)
        assert offline.returncode == 0  # --offline contacts no backend
    finally:
        stop(prom.proc)
