"""Layout pinned at 80x24 (SSH) and 160x50 (war room). Update with --snapshot-update after a deliberate change."""

import asyncio
import time

import pytest

from tests.tui.conftest import PLANS, FrozenClock, until
from tui.app import make_app
from tui.engine.plan import load_plan
from widgets.logpane import LogPane

T0 = 1_795_000_000.0


@pytest.fixture
def snap_app(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.chdir(tmp_path)
    app = make_app(load_plan(PLANS / "pilot.yaml"), "snap.jsonl", clock=FrozenClock(T0), operator="tester", keymap={})
    yield app
    monkeypatch.delenv("TZ")
    time.tzset()


def feed(app) -> None:
    """Deterministic history: five minutes of samples with a breach building, and some logs."""
    for i in range(60):
        ts = T0 - 300 + i * 5
        err_green = 0.002 if i < 40 else 0.004 + (i - 40) * 0.001
        app._on_engine_event({"type": "samples", "ts": ts, "values": {
            "error_rate": {"value": 0.9 * 0.002 + 0.1 * err_green, "series": {"blue": 0.002, "green": err_green}},
            "latency_p95": {"value": 180.0 + i % 7, "series": {"blue": 180.0 + i % 7, "green": 175.0 + i % 5}},
            "rps": {"value": 1200.0 + (i % 9) * 10, "series": {"blue": 1080.0 + (i % 9) * 9, "green": 120.0 + i % 9}},
            "cpu": {"value": None, "nodata": "connection refused", "down": True},
            "memory": {"value": 55.0 + (i % 4), "series": {"blue": 55.0 + (i % 4), "green": 50.0}},
        }, "guards": [{"metric": "error_rate", "op": "above", "threshold": 0.01, "value": err_green, "side": "green",
                       "breach_for": 40.0, "window": 60.0, "state": "breaching", "action": "rollback", "note": ""}]})
    app._from_engine({"type": "logs", "lines": [
        {"ts": T0 - 3, "source": "app-blue", "level": "info", "text": "GET /api/orders 200 83ms"},
        {"ts": T0 - 2, "source": "app-green", "level": "error", "text": "GET /api/cart 502 upstream reset \x1b[31m[b]x[/b]"},
        {"ts": T0 - 1, "source": "run", "level": "warning", "text": "slow query: orders_by_user took 812ms"},
    ]})


async def drive_to_canary(pilot) -> None:
    app = pilot.app
    await pilot.press("n", "enter")
    await until(pilot, lambda: app.state["waiting"].startswith("gate"))
    await pilot.press("a", "t", "down", "t", "n", "enter")
    await until(pilot, lambda: app.state["traffic"] == 10)
    # The frozen clock never samples by itself: one real sample of the simulator at 10% gives the guard its
    # evidence, so the bake counts as it would a second after the shift.
    driver = app.engine.driver
    asyncio.run_coroutine_threadsafe(driver._sample_once(), driver._loop).result(5)
    await until(pilot, lambda: app.state["hold"] is None, what="the guard's evidence")
    feed(app)
    app.center.query_one(LogPane).flush()
    app._dirty.update({"state", "samples", "status"})
    app._render_tick()
    while app._charts_due:  # charts held behind a dialog wait
        app._render_tick()
    await pilot.pause(0.3)


def test_layout_160x50(snap_compare, snap_app):
    assert snap_compare(snap_app, terminal_size=(160, 50), run_before=drive_to_canary)


def test_layout_80x24(snap_compare, snap_app):
    assert snap_compare(snap_app, terminal_size=(80, 24), run_before=drive_to_canary)

