"""HAProxy: the real Debian binary on loopback; assert on what HAProxy itself reports."""

import csv
import io
import urllib.request

import pytest

from backends.base import BackendContext, BackendError, DriftError
from backends.haproxy import HAProxyTraffic


def backend(h, **kw) -> HAProxyTraffic:
    cfg = HAProxyTraffic.Config(type="haproxy", socket=h.socket, backend="app", blue="blue", green="green",
                                state_file=str(h.state_file), **kw)
    return HAProxyTraffic(cfg, BackendContext())


async def lbtot(b: HAProxyTraffic) -> dict[str, int]:
    """HAProxy's own 'loadbalanced' counters per server (show stat, CSV)."""
    rows = csv.DictReader(io.StringIO((await b.command("show stat")).lstrip("# ")))
    return {r["svname"]: int(r["lbtot"]) for r in rows if r["pxname"] == "app" and r["svname"] in ("blue", "green")}


def hit(port: int, n: int) -> None:
    for _ in range(n):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert r.status == 200


async def test_shift_steps_and_rollback_move_real_traffic(haproxy_factory):
    h = haproxy_factory()
    b = backend(h)
    assert (await b.current()).green == 0
    for percent, low, high in ((10, 0.05, 0.15), (50, 0.45, 0.55), (100, 1.0, 1.0), (0, 0.0, 0.0)):
        split = await (b.rollback() if percent == 0 else b.shift(percent))
        assert split.green == percent
        weights = await b.weights()
        assert weights["green"][0] == percent and weights["blue"][0] == 100 - percent
        before = await lbtot(b)
        hit(h.port, 200)
        after = await lbtot(b)
        green = after["green"] - before["green"]
        blue = after["blue"] - before["blue"]
        assert green + blue == 200
        assert low <= green / 200 <= high, (percent, green, blue)
    assert b.commands.count("set weight app/green 100") == 1


async def test_read_back_state_file_and_describe(haproxy_factory):
    h = haproxy_factory()
    b = backend(h)
    await b.shift(25)
    state = h.state_file.read_text()
    assert "app" in state and " green " in f" {state} "
    rows = [ln.split() for ln in state.splitlines() if " green " in f" {ln} "]
    assert rows and "25" in rows[0]
    preview = b.describe_shift(25)
    assert any("set weight app/green 25" in line for line in preview)
    assert any("set weight app/blue 75" in line for line in preview)


async def test_drift_is_detected_and_rollback_still_wins(haproxy_factory):
    h = haproxy_factory()
    b = backend(h)
    await b.shift(10)
    other = backend(h)
    await other.command("set weight app/green 40")
    with pytest.raises(DriftError, match="green=40"):
        await b.current()
    with pytest.raises(DriftError):
        await b.shift(50)
    split = await b.rollback()
    assert split.green == 0 and (await b.weights())["green"][0] == 0


async def test_preflight_names_socket_and_level(haproxy_factory, tmp_path):
    missing = HAProxyTraffic(HAProxyTraffic.Config(type="haproxy", socket=str(tmp_path / "nope.sock"),
                                                   backend="app", blue="blue", green="green"), BackendContext())
    problems = await missing.preflight()
    assert len(problems) == 1 and str(tmp_path / "nope.sock") in problems[0].message
    assert "level admin" in problems[0].message
    h = haproxy_factory(level="user")
    b = backend(h)
    problems = await b.preflight()
    assert any("level 'user'" in p.message and "level admin" in p.message for p in problems)
    with pytest.raises(BackendError, match="refused|denied"):
        await b.shift(10)


async def test_preflight_ok_and_unknown_server(haproxy_factory):
    h = haproxy_factory()
    assert await backend(h).preflight() == []
    bad = HAProxyTraffic(HAProxyTraffic.Config(type="haproxy", socket=h.socket, backend="app", blue="blue",
                                               green="teal"), BackendContext())
    problems = await bad.preflight()
    assert problems and "no server teal" in problems[0].message
