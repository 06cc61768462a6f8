"""`shipdeck serve`: the command center in the war room's browsers, via textual-serve.

Each browser gets its own `shipdeck attach` (read-only unless --drive) on the run's engine, so a browser
is one more attached screen: it sees what the terminal sees and, read-only, can roll back only if the plan
lets anyone. The page and its websocket live under a random token; without it the server answers 404.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import shlex
import signal
import socket
import sys
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web
from textual_serve.server import Server

_REMOTE_FONT = re.compile(r"<link[^>]*https://fonts\.googleapis\.com[^>]*>", re.S)


class TokenServer(Server):
    """textual-serve with the page and its websocket under /<token>/ (the statics hold no run data)."""

    def __init__(self, command: str, token: str, host: str, port: int, public_url: str | None, title: str) -> None:
        super().__init__(command, host=host, port=port, title=title, public_url=public_url)
        self.token = token

    @property
    def url(self) -> str:
        return f"{self.public_url}/{self.token}/"

    async def _make_app(self) -> web.Application:
        app = web.Application()
        aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(self.templates_path))
        app.add_routes([
            web.get(f"/{self.token}/", self.handle_offline_index, name="index"),
            web.get(f"/{self.token}/ws", self.handle_websocket, name="websocket"),
            web.get("/download/{key}", self.handle_download, name="download"),
            web.static("/static", self.statics_path, name="static"),
        ])
        app.on_shutdown.append(self.on_shutdown)
        return app

    async def handle_offline_index(self, request: web.Request) -> web.StreamResponse:
        """textual-serve's page without its one request off the machine (a web font): war rooms are often
        offline, and the page's own monospace fallback draws the same cells."""
        response = await self.handle_index(request)
        assert isinstance(response, web.Response) and response.text is not None
        response.text = _REMOTE_FONT.sub("", response.text)
        return response

    def serve(self, debug: bool = False) -> None:
        """Until Ctrl-C or SIGTERM. The address is printed once the socket listens, never before."""
        self.debug = debug
        self.initialize_logging()
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        runner = web.AppRunner(await self._make_app())
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
            print(f"serving the command center at {self.url}", flush=True)
            print("(the token in the address is the only key: share it with the room, not wider; Ctrl-C stops)",
                  flush=True)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
        finally:
            await runner.cleanup()  # every browser's screen detaches; the engine goes on


def make_server(sock: Path, host: str, port: int, drive: bool, public_url: str | None, title: str) -> TokenServer:
    command = shlex.join([sys.executable, "-m", "tui.cli", "attach", str(sock), *([] if drive else ["--read-only"])])
    if public_url is None and host in ("0.0.0.0", "::", ""):
        public_url = f"http://{socket.gethostname()}:{port}"  # what a browser in the room can reach
    return TokenServer(command, secrets.token_urlsafe(18), host, port, public_url, title)
