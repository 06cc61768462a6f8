"""The lab: HAProxy + Prometheus + a blue and a green app + bounded load, all on loopback.

    python examples/haproxy-lab/lab.py                    # the command center on the lab
    python examples/haproxy-lab/lab.py --green-fail-rate 0.05 --headless

Everything runs from a fresh folder with free ports and is stopped on exit.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import loadgen  # noqa: E402 - the lab's own helper, next to this file

# The ratio as teams write it: per colour, 0/0 (NaN) for green until green gets traffic, no `or vector(0)`.
ERROR_RATIO = ('sum by (colour) (rate(app_requests_total{{code=~"5.."}}[{w}]))'
               ' / sum by (colour) (rate(app_requests_total[{w}]))')
P95 = ('histogram_quantile(0.95, sum by (le, colour) (rate(app_request_duration_seconds_bucket[{w}]))) * 1000')
RPS = "sum by (colour) (rate(app_requests_total[{w}]))"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else "")
    if not path:
        raise SystemExit(f"lab: {name} is not installed (Debian: apt-get install {name})")
    return path


class PortTaken(RuntimeError):
    """A server of the lab could not bind the port chosen for it."""


@dataclass
class Lab:
    dir: Path
    green_fail_rate: float = 0.0
    guard_for: str = "1m"
    bake: str = "2m"
    rps: float = 40
    rate_window: str = "15s"
    hold_limit: str = "5m"
    green_latency_ms: float = 40.0  # blue answers in about 40 ms
    more_guards: str = ""  # guard lines added to the plan's (each "  - {...}")
    ports: dict[str, int] = field(default_factory=dict)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    prometheus: subprocess.Popen[bytes] | None = None
    unload: threading.Event = field(default_factory=threading.Event)  # set: the load generator stops
    _log_from: int = 0  # where this start's part of lab.log begins

    @property
    def plan(self) -> Path:
        return self.dir / "plan.yaml"

    @property
    def socket(self) -> Path:
        return self.dir / "haproxy.sock"

    def write(self) -> None:
        p = self.ports = {k: free_port() for k in ("frontend", "blue", "green", "prometheus")}
        (self.dir / "haproxy.cfg").write_text(f"""global
    stats socket {self.socket} mode 600 level admin
    server-state-file {self.dir / "servers.state"}
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    load-server-state-from-file global
frontend web
    bind 127.0.0.1:{p["frontend"]}
    default_backend app
backend app
    balance roundrobin
    server blue 127.0.0.1:{p["blue"]} weight 100
    server green 127.0.0.1:{p["green"]} weight 0
""")
        (self.dir / "prometheus.yml").write_text(f"""global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: app
    static_configs:
      - targets: ['127.0.0.1:{p["blue"]}', '127.0.0.1:{p["green"]}']
""")
        w = self.rate_window
        self.plan.write_text(f"""# The lab plan: real HAProxy weights, real Prometheus queries, a real guard.
version: 1
name: lab canary
backends:
  traffic: {{type: haproxy, socket: haproxy.sock, backend: app, blue: blue, green: green,
            state_file: servers.state}}
  metrics:
    - {{name: prom, type: prometheus, url: "http://127.0.0.1:{p["prometheus"]}"}}
  logs:
    - {{type: command, command: "tail -n0 -F lab.log", source: lab}}
  probes: {{type: http}}
metrics:
  error_rate: {{query: '{ERROR_RATIO.format(w=w)}', unit: ratio, label: error rate}}
  latency_p95: {{query: '{P95.format(w=w)}', unit: ms, label: p95 latency}}
  rps: {{query: '{RPS.format(w=w)}', unit: rps, label: throughput}}
guards:  # judges green, the canary: its own error ratio, not the blend
  - {{metric: error_rate, above: 0.01, for: {self.guard_for}, action: rollback}}
{self.more_guards}settings: {{sample_interval: 2s, timeout: 5s, hold_limit: {self.hold_limit}}}
phases:
  - name: Check green
    owner: you
    steps:
      - probe: {{url: "http://127.0.0.1:{p["green"]}/health", expect_status: 200, body: green}}
      - gate: Green answers. Start the canary?
  - name: Canary 10%
    owner: you
    steps: [{{shift: 10}}, {{bake: {self.bake}}}]
  - name: Canary 50%
    owner: you
    steps: [{{shift: 50}}, {{bake: {self.bake}}}]
  - name: All green
    owner: you
    steps: [{{shift: 100}}, {{bake: {self.bake}}}]
""")

    def start(self) -> None:
        """Everything up, blue's rate in Prometheus. A port chosen free can be taken before its server binds it
        (another program's, or a connection's own end): the lab then chooses again, up to three times."""
        for _ in range(3):
            try:
                self._start()
                return
            except PortTaken:
                self.stop()
                self.unload = threading.Event()
        raise RuntimeError(f"lab: the ports it chose were taken three times; see {self.dir / 'lab.log'}")

    def _start(self) -> None:
        self.write()
        self._log_from = (self.dir / "lab.log").stat().st_size if (self.dir / "lab.log").exists() else 0
        log = open(self.dir / "lab.log", "ab")  # noqa: SIM115 - closed when the processes stop
        py = sys.executable
        for colour, rate, latency in (("blue", 0.0, 40.0), ("green", self.green_fail_rate, self.green_latency_ms)):
            self._spawn([py, str(HERE / "app.py"), "--colour", colour, "--port", str(self.ports[colour]),
                         "--fail-rate", str(rate), "--latency-ms", str(latency)], log)
        self._spawn([binary("haproxy"), "-f", str(self.dir / "haproxy.cfg"), "-db"], log)
        self._wait(lambda: self.socket.exists(), "haproxy")
        self.prometheus_up()
        for colour in ("blue", "green"):
            self._wait(lambda c=colour: _ok(f"http://127.0.0.1:{self.ports[c]}/health"), colour)
        url = f"http://127.0.0.1:{self.ports['frontend']}/"
        threading.Thread(target=loadgen.run, args=(url, self.rps, 3600), kwargs={"stop": self.unload},
                         daemon=True).start()
        # Open on a Prometheus that already has blue's rates: the guards start with evidence, not a wait for it.
        query = urllib.parse.quote('sum(rate(app_requests_total{colour="blue"}[15s])) > 0')
        api = f"http://127.0.0.1:{self.ports['prometheus']}/api/v1/query?query={query}"
        self._wait(lambda: b'"value"' in _get(api), "blue's request rate in prometheus")

    def prometheus_up(self) -> None:
        """Start Prometheus (again, after `prometheus_down`: an outage the guards must see)."""
        with open(self.dir / "lab.log", "ab") as log:
            self.prometheus = self._spawn([
                binary("prometheus"), f"--config.file={self.dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.dir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.ports['prometheus']}", "--log.level=warn"], log)
        self._wait(lambda: _ok(f"http://127.0.0.1:{self.ports['prometheus']}/-/ready"), "prometheus")

    def prometheus_down(self) -> None:
        assert self.prometheus is not None
        self.prometheus.terminate()
        self.prometheus.wait(10)
        self.procs.remove(self.prometheus)

    def _spawn(self, cmd: list[str], log: object) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(cmd, stdout=log, stderr=log, cwd=self.dir)  # type: ignore[arg-type]
        self.procs.append(proc)
        return proc

    def _wait(self, cond: object, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not cond():  # type: ignore[operator]
            for p in self.procs:
                if p.poll() is not None:
                    with open(self.dir / "lab.log", "rb") as f:
                        f.seek(self._log_from)
                        said = f.read().lower()
                    gone = PortTaken if b"address already in use" in said or b"cannot bind" in said else RuntimeError
                    raise gone(f"lab: {p.args[0]} exited; see {self.dir / 'lab.log'}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"lab: {what} did not come up; see {self.dir / 'lab.log'}")
            time.sleep(0.1)

    def stop(self) -> None:
        self.unload.set()
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs.clear()


def _ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def _get(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return bytes(r.read())
    except OSError:
        return b""


@contextlib.contextmanager
def running_lab(**kw: object) -> Iterator[Lab]:
    with tempfile.TemporaryDirectory(prefix="shipdeck-lab-") as d:
        lab = Lab(Path(d), **kw)  # type: ignore[arg-type]
        try:
            lab.start()
            yield lab
        finally:
            lab.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--green-fail-rate", type=float, default=0.0, help="share of green requests that fail (0..1)")
    ap.add_argument("--headless", action="store_true", help="no screen: print one line per event, --yes")
    args = ap.parse_args()
    sys.exit(play(args.green_fail_rate, args.headless))


def play(green_fail_rate: float, headless: bool) -> int:
    """One night in the lab, on a fresh journal; when it stops, so do its run and engine (HAProxy and Prometheus
    are going away: nothing would be left to guard). The exit code is the run's own: 0 completed, 3 rolled back;
    0 too when the operator quits and the lab ends the run."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    journal = Path.cwd() / "journals" / f"lab-{stamp}.jsonl"
    with running_lab(green_fail_rate=green_fail_rate) as lab:
        print(f"lab in {lab.dir}: frontend http://127.0.0.1:{lab.ports['frontend']}/, "
              f"prometheus http://127.0.0.1:{lab.ports['prometheus']}/; journal {journal}", file=sys.stderr)
        shipdeck = [sys.executable, "-m", "tui.cli"]
        run = [*shipdeck, "run", str(lab.plan), "--journal", str(journal)]
        code = subprocess.call(run + (["--headless", "--yes"] if headless else []))
        sock = journal.with_name(journal.name + ".sock")
        if sock.exists():  # the engine outlives its screen: end the run (if still live) and the engine with it
            subprocess.call([*shipdeck, "stop", str(journal), "--reason", "the lab is stopping"])
    print(f"lab stopped; the night's report: shipdeck report {journal}", file=sys.stderr)
    return outcome(journal, code)


def outcome(journal: Path, code: int) -> int:
    """0 when the night ended as someone meant (completed, or ended by an operator or the lab), 3 rolled
    back, else the run's own code; read from the journal's end record, which every ended run has."""
    ends = [json.loads(line) for line in journal.read_text().splitlines() if '"kind":"run-end"' in line] \
        if journal.exists() else []
    status = ends[-1]["data"]["status"] if ends else ""
    return {"completed": 0, "aborted": 0, "rolled-back": 3}.get(status, code)


if __name__ == "__main__":
    main()
