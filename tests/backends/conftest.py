"""Real servers on loopback for backend tests. Missing binaries skip outside CI and fail in CI."""

import contextlib
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


def require_binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if path is None:
        message = f"{name} is not installed (.ci/run installs it: apt-get install {name})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(cond, timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class ColourServer:
    colour: str
    port: int
    hits: int = 0


def start_colour_server(colour: str) -> tuple[ColourServer, ThreadingHTTPServer]:
    info = ColourServer(colour, free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            info.hits += 1
            body = colour.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", info.port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return info, server


@pytest.fixture
def colour_servers() -> Iterator[dict[str, ColourServer]]:
    made = {c: start_colour_server(c) for c in ("blue", "green")}
    yield {c: info for c, (info, _) in made.items()}
    for _, server in made.values():
        server.shutdown()
        server.server_close()


@dataclass
class HAProxy:
    socket: str
    port: int
    state_file: Path
    cfg: Path
    proc: subprocess.Popen


def haproxy_config(tmp: Path, port: int, blue: int, green: int, level: str = "admin") -> tuple[Path, Path, Path]:
    sock, state = tmp / "admin.sock", tmp / "servers.state"
    cfg = tmp / "haproxy.cfg"
    cfg.write_text(f"""
global
    stats socket {sock} mode 600 level {level}
    server-state-file {state}
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    load-server-state-from-file global
frontend fe
    bind 127.0.0.1:{port}
    default_backend app
backend app
    balance roundrobin
    server blue 127.0.0.1:{blue} weight 100
    server green 127.0.0.1:{green} weight 0
""")
    return cfg, sock, state


def _answers(sock: Path) -> bool:
    with contextlib.closing(socket.socket(socket.AF_UNIX)) as s:
        try:
            s.connect(str(sock))
        except OSError:
            return False
    return True


@pytest.fixture
def haproxy_factory(tmp_path, colour_servers):
    binary = require_binary("haproxy")
    procs: list[subprocess.Popen] = []

    def start(level: str = "admin") -> HAProxy:
        port = free_port()
        cfg, sock, state = haproxy_config(tmp_path, port, colour_servers["blue"].port, colour_servers["green"].port,
                                          level)
        proc = subprocess.Popen([binary, "-f", str(cfg), "-db"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(proc)
        # the socket file appears before haproxy listens on it: wait until it answers a connection
        wait_for(lambda: _answers(sock) or proc.poll() is not None, what="haproxy socket")
        if proc.poll() is not None:
            raise AssertionError(f"haproxy did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
        return HAProxy(str(sock), port, state, cfg, proc)

    yield start
    for p in procs:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()


@dataclass
class Prom:
    url: str
    proc: subprocess.Popen


def start_prometheus(tmp: Path, targets: list[str]) -> Prom:
    binary = require_binary("prometheus")
    port = free_port()
    cfg = tmp / "prometheus.yml"
    cfg.write_text("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n"
                   "  - job_name: app\n    static_configs:\n      - targets: [" + ", ".join(f"'{t}'" for t in targets)
                   + "]\n")
    proc = subprocess.Popen(
        [binary, f"--config.file={cfg}", f"--storage.tsdb.path={tmp / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError("prometheus exited at start")
        try:
            import urllib.request
            with urllib.request.urlopen(url + "/-/ready", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    wait_for(ready, timeout=30, what="prometheus ready")
    return Prom(url, proc)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
