"""A sample app for the lab: one colour, Prometheus metrics, a fail rate you can change live.

    python app.py --colour green --port 18082 --fail-rate 0.05
    curl -X POST 'http://127.0.0.1:18082/admin/fail-rate?value=0.2'
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest


def make_server(colour: str, port: int, fail_rate: float, latency_ms: float) -> ThreadingHTTPServer:
    registry = CollectorRegistry()
    requests = Counter("app_requests", "HTTP requests served", ["colour", "code"], registry=registry)
    duration = Histogram("app_request_duration_seconds", "request latency", ["colour"], registry=registry,
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5))
    for code in ("200", "500"):
        requests.labels(colour, code)  # present at zero, so ratios exist from the start
    state = {"fail_rate": fail_rate}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, body: bytes, ctype: str = "text/plain") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path = urlsplit(self.path).path
            if path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
                return
            if path == "/health":
                self._send(200, f"{colour} ok\n".encode())
                return
            started = time.monotonic()
            time.sleep(max(0.0, random.gauss(latency_ms, latency_ms / 4)) / 1000)
            with lock:
                failing = random.random() < state["fail_rate"]
            code = 500 if failing else 200
            self._send(code, f"{colour} {'error' if failing else 'ok'}\n".encode())
            requests.labels(colour, str(code)).inc()
            duration.labels(colour).observe(time.monotonic() - started)

        def do_POST(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            if url.path != "/admin/fail-rate" or self.client_address[0] not in ("127.0.0.1", "::1"):
                self._send(404, b"not found\n")
                return
            try:
                value = float(parse_qs(url.query)["value"][0])
                assert 0.0 <= value <= 1.0
            except (KeyError, ValueError, AssertionError):
                self._send(400, b"value must be 0..1\n")
                return
            with lock:
                state["fail_rate"] = value
            self._send(200, f"fail rate {value}\n".encode())

        def log_message(self, *args: object) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--colour", required=True, choices=["blue", "green"])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--fail-rate", type=float, default=0.0)
    ap.add_argument("--latency-ms", type=float, default=40.0)
    args = ap.parse_args()
    make_server(args.colour, args.port, args.fail_rate, args.latency_ms).serve_forever()


if __name__ == "__main__":
    main()
