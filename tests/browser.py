"""Headless Chromium (Debian's) driven over the DevTools protocol, on loopback only.

Chromium's own --screenshot fires before a textual-serve page has connected its websocket, so the page is
loaded over CDP, the terminal bytes the page receives are collected by a hook on WebSocket, and the
screenshot is taken once the expected text has arrived.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

HOOK = r"""
(() => {
  window.__tty = "";
  const Orig = window.WebSocket;
  window.WebSocket = function(url, protos) {
    const ws = protos === undefined ? new Orig(url) : new Orig(url, protos);
    ws.addEventListener("message", (e) => {
      if (typeof e.data !== "string") window.__tty += new TextDecoder().decode(new Uint8Array(e.data));
    });
    return ws;
  };
  window.WebSocket.prototype = Orig.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
})();
"""
ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")


async def page_text_and_screenshot(chromium: str, url: str, expected: list[str], png: Path,
                                   timeout: float = 30.0, size: tuple[int, int] = (1400, 900)) -> str:
    """Load `url`; once every `expected` string has reached the page's terminal, screenshot it to `png`.
    Returns the terminal text seen (escape sequences removed)."""
    profile = tempfile.mkdtemp(prefix="shipdeck-chromium-")
    proc = subprocess.Popen(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         f"--window-size={size[0]},{size[1]}", "--remote-debugging-address=127.0.0.1",
         "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = Path(profile) / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise AssertionError("chromium did not start its DevTools endpoint")
            await asyncio.sleep(0.05)
        port = port_file.read_text().split()[0]
        async with aiohttp.ClientSession() as session:
            targets = await (await session.get(f"http://127.0.0.1:{port}/json")).json()
            page = next(t for t in targets if t["type"] == "page")
            async with session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                counter = 0

                async def cdp(method: str, **params: Any) -> dict[str, Any]:
                    nonlocal counter
                    counter += 1
                    mine = counter
                    await ws.send_json({"id": mine, "method": method, "params": params})
                    async for m in ws:
                        data = json.loads(m.data)
                        if data.get("id") == mine:
                            if "error" in data:
                                raise AssertionError(f"{method}: {data['error']}")
                            return dict(data["result"])
                    raise AssertionError("chromium closed the DevTools connection")

                await cdp("Page.enable")
                await cdp("Emulation.setDeviceMetricsOverride", width=size[0], height=size[1], deviceScaleFactor=1,
                          mobile=False)
                await cdp("Page.addScriptToEvaluateOnNewDocument", source=HOOK)
                await cdp("Page.navigate", url=url)
                text = ""
                while time.monotonic() < deadline:
                    r = await cdp("Runtime.evaluate", expression="window.__tty || ''", returnByValue=True)
                    text = ANSI.sub("", str(r["result"].get("value", "")))
                    if all(x in text for x in expected):
                        break
                    await asyncio.sleep(0.1)
                await asyncio.sleep(1.0)  # xterm.js paints the last frame
                shot = await cdp("Page.captureScreenshot", format="png")
                png.write_bytes(base64.b64decode(shot["data"]))
                return text
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
