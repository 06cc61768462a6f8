"""`shipdeck serve` in a real headless browser: the war room's view of a detached engine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.backends.conftest import free_port, require_binary
from tests.backends.test_detached import FOUR_EYES, Seen, wait
from tests.browser import page_text_and_screenshot
from tests.conftest import ROOT

pytestmark = pytest.mark.integration


async def test_serve_shows_the_command_center_read_only_behind_a_token(tmp_path, clean_env):
    from tui.engine.handle import RemoteEngine
    from tui.engine.spawn import spawn_engine

    chromium = require_binary("chromium")
    plan = tmp_path / "p.yaml"
    plan.write_text(FOUR_EYES.replace("name: four eyes", "name: war room night"))
    path = tmp_path / "j.jsonl"
    sock = spawn_engine(str(plan), path)
    alice = RemoteEngine(sock, "alice", "drive")
    Seen(alice)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "tui.cli", "serve", str(path), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=clean_env)
    try:
        await wait(lambda: alice.state.helm == alice.operator, what="the driver")
        alice.submit("advance")
        await wait(lambda: alice.state.traffic == 10, what="the first shift")
        assert server.stdout is not None
        deadline = time.monotonic() + 30
        url = ""
        while not url and time.monotonic() < deadline:
            line = server.stdout.readline()
            if "serving the command center at " in line:
                url = line.split(" at ", 1)[1].strip()
        assert url.startswith(f"http://127.0.0.1:{port}/") and len(url.rstrip("/").rsplit("/", 1)[1]) >= 20, url
        with urllib.request.urlopen(url, timeout=5) as page:  # war rooms are often offline: nothing off the machine
            html = page.read().decode()
        assert "<html" in html and "https://" not in html and "fonts.googleapis" not in html
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)  # no token, no page
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/not-the-token/", timeout=5)
        png = tmp_path / "serve.png"
        # the plan is painted from its file before the engine answers: wait for what only the engine knows
        text = await page_text_and_screenshot(
            chromium, url, ["READ-ONLY", "war room night", "Canary", f"helm: {alice.operator}", "shift green"], png)
        assert "READ-ONLY" in text and f"helm: {alice.operator}" in text and "shift green" in text, text[-3000:]
        assert png.stat().st_size > 20_000  # a painted command center, not a blank page
        if os.environ.get("SHIPDECK_KEEP_SCREENSHOT"):
            (ROOT / "docs" / "serve.png").write_bytes(png.read_bytes())
        # the browser was one more screen on the engine, read-only: it never took the helm
        assert alice.state.helm == alice.operator
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        alice.detach("test over")
        alice.join(5)
