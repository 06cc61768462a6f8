"""A bounded load generator for the lab: loopback only, capped rate and duration.

    python loadgen.py --url http://127.0.0.1:18080/ --rps 50 --duration 600
"""

from __future__ import annotations

import argparse
import http.client
import sys
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

MAX_RPS, MAX_DURATION = 200, 3600
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def check_url(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if host not in LOOPBACK:
        raise SystemExit(f"loadgen: refusing {host!r}: the lab only sends load to loopback (127.0.0.1, ::1)")


def run(url: str, rps: float, duration: float, workers: int = 8,
        stop: threading.Event | None = None) -> dict[str, int]:
    """Load until `duration` is over or `stop` is set (the lab stopping: no load outlives its servers)."""
    check_url(url)
    rps, duration = min(rps, MAX_RPS), min(duration, MAX_DURATION)
    counts = {"ok": 0, "error": 0, "failed": 0}
    lock = threading.Lock()
    stop_at = time.monotonic() + duration
    interval = workers / rps
    stop = stop or threading.Event()

    def worker() -> None:
        next_at = time.monotonic()
        while time.monotonic() < stop_at and not stop.is_set():
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    r.read()
                    key = "ok"
            except urllib.error.HTTPError:
                key = "error"
            except (OSError, http.client.HTTPException):  # a reply cut short (a server stopping) failed too
                key = "failed"
            with lock:
                counts[key] += 1
            next_at += interval
            stop.wait(max(0.0, next_at - time.monotonic()))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--url", required=True)
    ap.add_argument("--rps", type=float, default=20)
    ap.add_argument("--duration", type=float, default=600)
    args = ap.parse_args()
    print(run(args.url, args.rps, args.duration), file=sys.stderr)


if __name__ == "__main__":
    main()
