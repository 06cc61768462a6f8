"""Run by test_boundaries in a fresh interpreter: a TLS echo over the event loop, after building a plan's backends
(`build`) or without (`none`). Prints what came back, or asyncio's error."""

import tui  # noqa: F401, I001 - first, as in every shipdeck process: before asyncio

import asyncio
import sys

from backends.base import BackendContext
from tui.engine.wiring import build_backends
from tui.engine.plan import load_plan_text

PLAN = """\
version: 1
name: tls
backends:
  metrics: [{type: prometheus, url: "http://127.0.0.1:9"}]
metrics:
  error_rate: {query: 'sum(rate(errors[1m]))', unit: ratio}
phases: [{name: Canary, steps: [{shift: 10}]}]
"""


async def echo_over_tls(cert: str, key: str) -> str:
    import ssl

    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)

    async def echo(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(await r.readline())
        await w.drain()
        w.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    r, w = await asyncio.open_connection("127.0.0.1", port, ssl=ssl.create_default_context(cafile=cert),
                                        server_hostname="localhost")
    w.write(b"over tls\n")
    await w.drain()
    line = (await r.readline()).decode().strip()
    w.close()
    server.close()
    return line


if __name__ == "__main__":
    cert, key, step = sys.argv[1:4]
    if step == "build":
        build_backends(load_plan_text(PLAN, "p.yaml"), BackendContext())  # prometheus: httpx imports ssl
    try:
        print(asyncio.run(echo_over_tls(cert, key)))
    except RuntimeError as e:
        print(e)
