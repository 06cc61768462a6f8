"""Host metrics, file and command logs, HTTP probes and notifications, all against real things on loopback."""

import asyncio
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from backends.base import BackendContext, NoData, Sample
from backends.command import CommandLogs
from backends.files import FileLogs
from backends.host import HostMetrics
from backends.http_probe import HttpProbe
from backends.notify import SlackNotifier, WebhookNotifier
from tests.backends.conftest import free_port


async def test_host_metrics():
    h = HostMetrics(HostMetrics.Config(type="host"), BackendContext())
    q = {"cpu": "cpu", "memory": "memory", "load1": "load1", "disk": "disk:/", "rx": "net_rx", "bad": "gpu"}
    await h.sample(q)
    got = await h.sample(q)
    for name in ("cpu", "memory", "disk"):
        assert isinstance(got[name], Sample) and 0 <= got[name].value <= 100
    assert isinstance(got["rx"], Sample) and got["rx"].value >= 0
    assert isinstance(got["load1"], Sample)
    assert isinstance(got["bad"], NoData) and "unknown host query" in got["bad"].reason


async def next_batch(it, timeout=5.0):
    return await asyncio.wait_for(it.__anext__(), timeout)


async def test_file_logs_follow_rotation_and_truncation(tmp_path):
    path = tmp_path / "app.log"
    path.write_text("old line before start\n")
    logs = FileLogs(FileLogs.Config(type="file", path=str(path), poll=0.05), BackendContext())
    it = logs.lines()
    task = asyncio.ensure_future(next_batch(it))
    await asyncio.sleep(0.2)
    with open(path, "a") as f:
        f.write("INFO started\nERROR boom\npartial")
    batch = await task
    assert [(x.level, x.text) for x in batch] == [("info", "INFO started"), ("error", "ERROR boom")]
    with open(path, "a") as f:
        f.write(" line done\n")
    assert [x.text for x in await next_batch(it)] == ["partial line done"]
    path.rename(tmp_path / "app.log.1")  # rotation
    path.write_text("WARN fresh file\n")
    batch = await next_batch(it)
    assert [(x.level, x.text) for x in batch] == [("warning", "WARN fresh file")]
    path.write_text("x\n")  # truncation in place (same inode, smaller)
    assert [x.text for x in await next_batch(it)] == ["x"]
    await it.aclose()


async def test_command_logs_batch_and_restart(tmp_path):
    logs = CommandLogs(CommandLogs.Config(type="command", command="for i in 1 2 3; do echo ERROR $i; done",
                                          source="cmd"), BackendContext(plan_dir=str(tmp_path)))
    it = logs.lines()
    lines = []
    while len(lines) < 4:
        lines += await next_batch(it)
    assert [x.text for x in lines[:3]] == ["ERROR 1", "ERROR 2", "ERROR 3"]
    assert lines[0].level == "error" and lines[0].source == "cmd"
    assert "exited (0); restarting" in lines[3].text
    await it.aclose()
    await logs.aclose()


class Recorder:
    def __init__(self, status=200, delay=0.0):
        self.bodies: list[dict] = []
        self.status, self.delay = status, delay
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                rec.bodies.append(json.loads(self.rfile.read(length)))
                time.sleep(rec.delay)
                self.send_response(rec.status)
                self.end_headers()

            def do_GET(self):  # noqa: N802
                time.sleep(rec.delay)
                body = b"ok: green v2"
                try:
                    self.send_response(rec.status)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except BrokenPipeError:
                    pass  # the probe gave up at its timeout, as intended

            def log_message(self, *a):
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder():
    made = []

    def make(**kw):
        r = Recorder(**kw)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


async def test_http_probe(recorder):
    ok = recorder()
    probe = HttpProbe(HttpProbe.Config(type="http", retries=1, backoff=0.01), BackendContext())
    res = await probe.probe(ok.url, 200, 2.0, body="green")
    assert res.ok and res.status == 200 and res.latency_ms > 0
    res = await probe.probe(ok.url, 200, 2.0, body="blue")
    assert not res.ok and "body lacks" in res.detail
    bad = recorder(status=500)
    res = await probe.probe(bad.url, 200, 2.0)
    assert not res.ok and res.status == 500 and "try 2" in res.detail
    slow = recorder(delay=1.0)
    res = await probe.probe(slow.url, 200, 0.2)
    assert not res.ok and "timed out" in res.detail


async def test_notifications_never_block_and_never_leak(recorder, monkeypatch):
    ok, failing, hanging = recorder(), recorder(status=500), recorder(delay=3.0)
    monkeypatch.setenv("SLACK_WEBHOOK", failing.url + "?token=s3cr3t")
    logged: list = []
    ctx = BackendContext(emit_log=logged.append)
    context = {"plan": "checkout", "phase": "Canary 10%", "traffic": 10, "metrics": {"error_rate": 0.02}}
    hook = WebhookNotifier(WebhookNotifier.Config(type="webhook", url=ok.url, events=["guard-breach"]), ctx)
    await hook.notify("guard-breach", "error_rate 2% > 1%", context)
    await hook.notify("shift", "filtered out", context)
    assert ok.bodies == [{"event": "guard-breach", "message": "error_rate 2% > 1%", **context}]
    slack = SlackNotifier(SlackNotifier.Config(type="slack", url="${SLACK_WEBHOOK}"), ctx)
    await slack.notify("rollback", "rolled back", context)
    assert failing.bodies[0]["text"].startswith("*rollback* rolled back")
    slow = WebhookNotifier(WebhookNotifier.Config(type="webhook", url=hanging.url, timeout=0.3), ctx)
    started = time.monotonic()
    await slow.notify("rollback", "x", context)
    assert time.monotonic() - started < 2
    assert slack.failed == 1 and slow.failed == 1 and hook.sent == 1
    text = " ".join(x.text for x in logged)
    assert "HTTP 500" in text and "${SLACK_WEBHOOK}" in text
    assert "s3cr3t" not in text and str(hanging.port) not in text
    monkeypatch.delenv("SLACK_WEBHOOK")
    problems = await slack.preflight()
    assert problems and "SLACK_WEBHOOK is not set" in problems[0].message
    assert os.environ.get("SLACK_WEBHOOK") is None
