"""NGINX: the real Debian binary on loopback; count which colour answers."""

import urllib.request
from collections import Counter

import pytest

from backends.base import BackendContext, BackendError
from backends.nginx import NginxTraffic
from tests.backends.conftest import free_port, require_binary, stop, wait_for


@pytest.fixture
def nginx(tmp_path, colour_servers):
    import subprocess

    binary = require_binary("nginx")
    port = free_port()
    include = tmp_path / "upstream.conf"
    conf = tmp_path / "nginx.conf"
    blue, green = (f"127.0.0.1:{colour_servers[c].port}" for c in ("blue", "green"))
    include.write_text(f"upstream app {{\n    server {blue} weight=100;\n    server {green} down;\n}}\n")
    conf.write_text(f"""
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
worker_processes 1;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    include {include};
    server {{
        listen 127.0.0.1:{port};
        location / {{ proxy_pass http://app; }}
    }}
}}
""")
    proc = subprocess.Popen([binary, "-c", str(conf), "-g", "daemon off;"], stderr=subprocess.PIPE)
    wait_for(lambda: (tmp_path / "nginx.pid").exists() or proc.poll() is not None, what="nginx pid")
    assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
    cfg = NginxTraffic.Config(type="nginx", include=str(include), upstream="app", blue=blue, green=green,
                              nginx=binary, conf=str(conf))
    yield NginxTraffic(cfg, BackendContext(plan_dir=str(tmp_path))), port
    stop(proc)


def shares(port: int, n: int = 200) -> Counter:
    seen: Counter = Counter()
    for _ in range(n):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            seen[r.read().decode()] += 1
    return seen


def settle(port: int, expect_green: bool) -> None:
    # A reload swaps workers; wait until the new config answers.
    wait_for(lambda: ("green" in shares(port, 20)) == expect_green, timeout=10, what="reload")


async def test_weights_move_real_traffic(nginx):
    backend, port = nginx
    assert (await backend.current()).green == 0
    assert (await backend.shift(10)).green == 10
    settle(port, True)
    got = shares(port)
    assert 6 <= got["green"] <= 45, got  # 10% of 200 is 20, with nginx's smooth weighting
    assert (await backend.shift(100)).green == 100
    wait_for(lambda: shares(port, 20)["blue"] == 0, what="blue out")
    assert shares(port)["blue"] == 0
    assert "down" in backend.include.read_text()
    split = await backend.rollback()
    assert split.green == 0 and "green down" in split.detail
    settle(port, False)
    assert shares(port)["green"] == 0


async def test_a_failing_config_test_keeps_the_old_config_serving(nginx):
    backend, port = nginx
    await backend.shift(50)
    settle(port, True)
    before = backend.include.read_text()
    bad = NginxTraffic(backend.config.model_copy(update={"green": "127.0.0.1:notaport"}), backend.ctx)
    with pytest.raises(BackendError) as e:
        await bad.shift(60)
    assert 'invalid port in upstream "127.0.0.1:notaport"' in str(e.value)  # nginx's own words
    assert backend.include.read_text() == before
    got = shares(port)
    assert got["green"] > 0 and got["blue"] > 0  # still the 50/50 config
    assert (await backend.current()).green == 50
    assert any("nginx" in line and "-t" in line for line in backend.describe_shift(10))
