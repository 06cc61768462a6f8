"""Prometheus: the real Debian binary scraping an exporter the test serves on loopback."""

import threading
import time

import pytest
from prometheus_client import CollectorRegistry, Counter, start_http_server

from backends.base import BackendContext, NoData, Sample
from backends.prometheus import PrometheusMetrics
from tests.backends.conftest import free_port, start_prometheus, stop

ERROR_RATIO = ('sum by (colour) (rate(app_requests_total{code="500"}[5s]))'
               ' / sum by (colour) (rate(app_requests_total[5s]))')


@pytest.fixture
def exporter():
    registry = CollectorRegistry()
    requests = Counter("app_requests", "requests", ["colour", "code"], registry=registry)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    requests.labels("blue", "500")  # exists at 0, so blue's error ratio is 0 rather than absent
    running = True

    def traffic() -> None:
        while running:  # blue: no errors; green: 1 in 4 requests fails
            for _ in range(4):
                requests.labels("blue", "200").inc()
            requests.labels("green", "200").inc(3)
            requests.labels("green", "500").inc()
            time.sleep(0.05)

    worker = threading.Thread(target=traffic, daemon=True)
    worker.start()
    yield f"127.0.0.1:{port}"
    running = False
    server.shutdown()


@pytest.fixture
def prom(tmp_path, exporter):
    p = start_prometheus(tmp_path, [exporter])
    yield p
    stop(p.proc)


def metrics(url: str, **kw) -> PrometheusMetrics:
    return PrometheusMetrics(PrometheusMetrics.Config(type="prometheus", url=url, timeout=2, **kw), BackendContext())


async def test_real_queries_split_by_colour(prom):
    m = metrics(prom.url)
    assert await m.preflight() == []
    deadline = time.monotonic() + 30
    while True:
        got = (await m.sample({"error_rate": ERROR_RATIO}))["error_rate"]
        if isinstance(got, Sample) and set(got.series) == {"blue", "green"} or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert isinstance(got, Sample), got
    assert got.series["blue"] == 0.0
    assert 0.2 <= got.series["green"] <= 0.3  # one request in four fails on green
    single = (await m.sample({"up": 'up{job="app"}'}))["up"]
    assert isinstance(single, Sample) and single.value == 1.0


async def test_empty_result_and_bad_promql(prom):
    m = metrics(prom.url)
    empty = (await m.sample({"nothing": "no_such_metric_anywhere"}))["nothing"]
    assert isinstance(empty, NoData) and empty.reason == "empty result" and not empty.source_down
    error = await m.validate("sum(rate(app_requests_total[5s])")
    assert error is not None and "parse error" in error
    assert await m.validate("sum(rate(app_requests_total[5s]))") is None


async def test_backfill_returns_history(prom):
    m = metrics(prom.url)
    hist: list = []
    deadline = time.monotonic() + 20
    while len(hist) < 3 and time.monotonic() < deadline:
        time.sleep(0.5)
        now = time.time()
        hist = (await m.backfill({"up": 'up{job="app"}'}, now - 60, now, 1))["up"]
    assert len(hist) >= 3 and all(s.value == 1.0 for s in hist)
    assert hist == sorted(hist, key=lambda s: s.ts)


async def test_a_stopped_prometheus_becomes_down_after_max_errors(prom):
    m = metrics(prom.url, max_errors=3)
    deadline = time.monotonic() + 20
    while not isinstance((await m.sample({"up": "up"}))["up"], Sample):  # first scrape
        assert time.monotonic() < deadline
        time.sleep(0.3)
    stop(prom.proc)
    seen = [(await m.sample({"up": "up"}))["up"] for _ in range(3)]
    assert all(isinstance(s, NoData) for s in seen)
    assert [s.source_down for s in seen] == [False, False, True]
    assert "connection refused" in seen[-1].reason
    problems = await m.preflight()
    assert problems and "not reachable" in problems[0].message
