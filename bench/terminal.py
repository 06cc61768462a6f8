"""What the user feels, measured through a real pseudo-terminal.

Each program is spawned in a pty at a fixed size (shipdeck as `shipdeck run`: a screen attached to the
engine process it starts; CPU and RSS count both); every byte it writes is timestamped and fed to a pyte
screen, so "on screen" means what a terminal would show. CPU and RSS come from psutil. The same figures are
taken, in the same run, from a plain Textual app (bench/baseline_app.py: a Log and four plotext charts at
1 Hz, full from the start as shipdeck's are), and printed as ratios.
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from bench.term import PY, ROOT, Term

SIZES = ((160, 50), (80, 24))
FIRST_PAINTS = 25  # pairs, shipdeck's and the baseline's in turns
PRESSES = 40  # per key latency: a p95 of 20 was the second-worst press, and moved by a third between runs


IDLE_PLAN = """\
version: 1
name: bench idle
backends:
  traffic: {type: simulated, scenario: healthy, delay: 0}
  metrics: [{type: simulated, scenario: healthy, history: true}]  # full 10-minute charts from the start
%(logs)s
metrics:
  error_rate: {unit: ratio}
  latency_p95: {unit: ms}
  rps: {unit: rps}
  cpu: {unit: percent}
  memory: {unit: percent}
guards:  # all traffic: with HAProxy moving the traffic the simulator's green never has data of its own
  - {metric: error_rate, above: 0.01, for: 1m, series: all}
settings: {sample_interval: 1s, max_log_lines: 5000}
phases:
  - name: Canary
    steps: [{shift: 10}, {bake: 1h}]
"""

BURST = "import sys,time\nn=0\nt0=time.time()\nwhile n < %(total)d:\n    k=min(%(rate)d//50, %(total)d-n)\n" \
        "    sys.stdout.write(''.join(f'line {n+i} GET /api/orders 200 12ms\\n' for i in range(k)))\n" \
        "    sys.stdout.flush()\n    n+=k\n    time.sleep(max(0.0, t0 + n / %(rate)d - time.time()))\n" \
        "time.sleep(3600)\n"


def shipdeck(tmp: Path, logs: str = "", traffic: str | None = None) -> list[str]:
    text = IDLE_PLAN % {"logs": logs}
    if traffic:
        text = text.replace("  traffic: {type: simulated, scenario: healthy, delay: 0}", f"  traffic: {traffic}")
    plan = tmp / f"plan-{len(list(tmp.iterdir()))}.yaml"
    plan.write_text(text)
    return [PY, "-m", "tui.cli", "run", str(plan), "--journal", str(plan.with_suffix(".jsonl"))]


def baseline(extra: list[str] | None = None) -> list[str]:
    return [PY, str(ROOT / "bench" / "baseline_app.py"), *(extra or [])]


def burst_script(tmp: Path, rate: int, total: int) -> Path:
    path = tmp / f"burst-{rate}-{total}.py"
    path.write_text(BURST % {"rate": rate, "total": total})
    return path


# ---------------------------------------------------------------- the figures


def answered(screen: str) -> bool:
    """The command center of a detached run once its engine answered (it paints the plan before) and the helm
    is someone's (the first screen to attach takes it just after)."""
    return "ROLLBACK" in screen and "helm: " in screen and " CONNECTING " not in screen and "helm: nobody" not in screen


def plan_painted(screen: str) -> bool:
    """The command center with the bench plan on it: its name on the status line, its phase in the timeline, the
    keys line. (The keys line alone is painted a frame or more before the rest when the plan waits for a tick.)"""
    lines = screen.splitlines()
    return "bench idle" in lines[0] and "Canary" in screen and "ROLLBACK" in lines[-1]


def first_paint(argv: list[str], cols: int, rows: int, marker: str | Callable[[str], bool], engines: bool = True
                ) -> float:
    """`engines`: kill the engines of this run's runtime directory after (not while another is being measured)."""
    t = Term(argv, cols, rows)
    try:
        return t.wait(marker if callable(marker) else lambda s: marker in s) - t.started
    finally:
        t.close(engines)


def idle(argv: list[str], cols: int, rows: int, marker: str, settle: float = 4.0, span: float = 15.0
         ) -> tuple[float, float]:
    """(CPU % of one core, bytes/s to the terminal) while nothing but the 1 Hz samples happens."""
    t = Term(argv, cols, rows)
    try:
        t.wait(lambda s: marker in s)
        time.sleep(settle)
        c0, t0 = t.cpu_seconds(), time.monotonic()
        time.sleep(span)
        c1, t1 = t.cpu_seconds(), time.monotonic()
        return 100 * (c1 - c0) / (t1 - t0), t.bytes_between(t0, t1) / (t1 - t0)
    finally:
        t.close()


def key_latency(argv: list[str], cols: int, rows: int, marker: str, open_key: bytes, opened: str,
                close_key: bytes, presses: int = PRESSES) -> list[float]:
    """Key sent -> its effect on screen, in ms, while the program is busy (the burst runs inside it)."""
    t = Term(argv, cols, rows)
    out: list[float] = []
    try:
        t.wait(lambda s: marker in s)
        time.sleep(2.0)  # the burst is under way
        for _ in range(presses):
            sent = t.send(open_key)
            out.append(1000 * (t.wait(lambda s: opened in s, 10) - sent))
            sent = t.send(close_key)
            t.wait(lambda s: opened not in s, 10)
            time.sleep(0.1)
        return out
    finally:
        t.close()


def start_canary(t: Term) -> None:
    """n, confirm: the bench plan's canary shifts and bakes (its own shift done once "bake 1h" shows)."""
    t.wait(answered)
    t.send(b"n")
    t.wait(lambda s: "Start phase" in s, 10)
    t.send(b"\r")
    t.wait(lambda s: "bake 1h" in s.splitlines()[0], 20)


def command_latency(argv: list[str], cols: int, rows: int, presses: int = PRESSES) -> tuple[list[float], list[float]]:
    """An operator's command key (p: pause, then p: resume) -> the new run status on the status line, and ->
    the war room's PAUSED banner, in ms: the whole path, screen -> engine -> journal -> screen. The next press
    waits for the last one's whole effect (the banner gone), as an operator's next key does."""
    t = Term(argv, cols, rows)
    status: list[float] = []
    banner: list[float] = []
    try:
        start_canary(t)
        time.sleep(2.0)
        for _ in range(presses):
            sent = t.send(b"p")
            status.append(1000 * (t.wait(lambda s: "PAUSED" in s.splitlines()[0], 10) - sent))
            banner.append(1000 * (t.wait(lambda s: "P A U S E D" in s, 10) - sent))
            t.send(b"p")
            t.wait(lambda s: "RUNNING" in s.splitlines()[0] and "P A U S E D" not in s, 10)
            time.sleep(0.1)
        return status, banner
    finally:
        t.close()


def rss_after(argv: list[str], cols: int, rows: int, marker: str, last: str, timeout: float = 240
              ) -> tuple[float, float]:
    t = Term(argv, cols, rows)
    try:
        t.wait(lambda s: marker in s)
        t.wait(lambda s: last in s, timeout)
        time.sleep(1.0)
        return t.rss_mb()
    finally:
        t.close()


def p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def shift_to_haproxy(tmp: Path, cols: int, rows: int, shifts: int = 20) -> tuple[list[float], list[float]] | None:
    """Confirmed shift (Enter on the confirm) -> HAProxy reports the new weight, in ms; and the bare
    Runtime API round trip as the baseline."""
    binary = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)
    if binary is None:
        return None
    sock = tmp / "admin.sock"
    cfg = tmp / "haproxy.cfg"
    port = _free_port()
    cfg.write_text(f"global\n    stats socket {sock} mode 600 level admin\ndefaults\n    mode http\n"
                   "    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n"
                   f"frontend fe\n    bind 127.0.0.1:{port}\n    default_backend app\nbackend app\n"
                   f"    server blue 127.0.0.1:{_free_port()} weight 100\n"
                   f"    server green 127.0.0.1:{_free_port()} weight 0\n")
    proc = subprocess.Popen([binary, "-f", str(cfg), "-db"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)

        def weight() -> int:
            s = socket.socket(socket.AF_UNIX)
            s.connect(str(sock))
            s.sendall(b"get weight app/green\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
            s.close()
            return int(data.split()[0])

        direct: list[float] = []
        for _ in range(20):
            t0 = time.monotonic()
            weight()
            direct.append(1000 * (time.monotonic() - t0))
        traffic = f'{{type: haproxy, socket: "{sock}", backend: app, blue: blue, green: green}}'
        t = Term(shipdeck(tmp, traffic=traffic), cols, rows)
        out: list[float] = []
        try:
            start_canary(t)
            for i in range(shifts):
                pct = 20 + (i % 5) * 10
                t.send(b"w")
                t.wait(lambda s: "Shift green to" in s or "percent" in s.lower(), 10)
                t.send(f"{pct}\r".encode())
                t.wait(lambda s, pct=pct: f"Shift green to {pct}%" in s, 10)
                time.sleep(0.3)  # an operator reads the dialog before confirming: the app has finished painting it
                sent = t.send(b"\r")
                while weight() != pct:
                    if time.monotonic() - sent > 10:
                        raise TimeoutError("HAProxy never got the weight")
                    time.sleep(0.002)
                out.append(1000 * (time.monotonic() - sent))
                time.sleep(0.3)
        finally:
            t.close()
        return out, direct
    finally:
        proc.terminate()
        proc.wait(5)


def guard_deadline(tmp: Path) -> list[float]:
    """Seconds from the moment a guard's window is satisfied to the rollback intent, for several sample
    phases: samples every 5s, windows of 3s..7s (the deadline falls anywhere between two samples)."""
    out: list[float] = []
    for window in ("3s", "4s", "6s", "7s"):
        text = (IDLE_PLAN % {"logs": ""}).replace("settings: {sample_interval: 1s", "settings: {sample_interval: 5s")
        guard = "{metric: error_rate, above: 0.01, for: 1m, series: all}"
        assert guard in text
        text = text.replace(guard, f"{{metric: rps, above: 1, for: {window}, series: all}}")
        plan = tmp / f"guard-{window}.yaml"
        plan.write_text(text)
        journal = plan.with_suffix(".jsonl")
        subprocess.run([PY, "-m", "tui.cli", "run", str(plan), "--headless", "--yes", "--journal", str(journal)],
                       capture_output=True, cwd=ROOT, timeout=120)
        from tui.engine.journal import load, parse_iso

        records = load(journal).records

        first = next(r for r in records if r["kind"] == "sample" and r["data"]["guards"][0]["state"] == "breaching")
        satisfied = parse_iso(first["ts"]) + float(window[:-1])
        sent = next(r for r in records if r["kind"] == "intent" and r["data"]["kind"] == "rollback")
        out.append(parse_iso(sent["ts"]) - satisfied)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def latencies(ms: list[float], base: list[float], base_name: str, digits: int = 0) -> str:
    """p95 and p50 next to the baseline's p95, and their ratio."""
    return f"{p(ms, 0.95):.0f}ms (p50 {p(ms, 0.5):.0f})   baseline ({base_name}) {p(base, 0.95):.{digits}f}ms   " \
        f"ratio {p(ms, 0.95) / max(p(base, 0.95), 0.1):.1f}x"


def run() -> Iterator[tuple[str, str]]:
    """The figures, each as soon as it is measured."""
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        os.environ["SHIPDECK_RUNTIME_DIR"] = str(tmp / "runtime")  # the engines this bench starts, and only them
        for cols, rows in SIZES:
            size = f"{cols}x{rows}"
            # Taken in turns: this VM's speed drifts by a third within a minute, and three of one then three of
            # the other measured the drift as much as either program. 25 pairs: at 80x24 the ratio of medians of
            # 7 pairs ranged 1.06-1.47x over six runs of the same code, of 25 pairs 1.13-1.29x.
            runs = [(first_paint(shipdeck(tmp), cols, rows, plan_painted),
                     first_paint(baseline(), cols, rows, "baseline ready")) for _ in range(FIRST_PAINTS)]
            sd, bl = (statistics.median(r[k] for r in runs) for k in (0, 1))
            yield f"{size} cold start to first paint", f"{sd:.2f}s   baseline {bl:.2f}s   ratio {sd / bl:.2f}x"
            cpu, bps = idle(shipdeck(tmp), cols, rows, "ROLLBACK")
            bcpu, bbps = idle(baseline(), cols, rows, "baseline ready")
            yield f"{size} idle CPU, charts live at 1 Hz", f"{cpu:.1f}%   baseline {bcpu:.1f}%   ratio {cpu / max(bcpu, 0.01):.1f}x"
            yield f"{size} bytes to the terminal, steady", f"{bps / 1024:.1f} KiB/s   baseline {bbps / 1024:.1f} KiB/s   ratio {bps / max(bbps, 1):.1f}x"
            logs = f"  logs: [{{type: command, command: '{PY} {burst_script(tmp, 5000, 10**7)}', source: burst}}]"
            lat = key_latency(shipdeck(tmp, logs=logs), cols, rows, "helm: ", b"?", "shipdeck keys", b"\x1b")
            blat = key_latency(baseline(["--burst", "5000"]), cols, rows, "baseline ready", b"x", "TOGGLED", b"x")
            yield f"{size} ? key -> keys panel p95, 5,000 lines/s burst", latencies(lat, blat, "label")
            dlg = key_latency(shipdeck(tmp, logs=logs), cols, rows, "helm: ", b"n", "Start phase", b"\x1b")
            bdlg = key_latency(baseline(["--burst", "5000"]), cols, rows, "baseline ready", b"d", "BASELINE DIALOG", b"\x1b")
            yield f"{size} n key -> confirmation dialog p95, burst", latencies(dlg, bdlg, "dialog")
            cmd, banner = command_latency(shipdeck(tmp, logs=logs), cols, rows)
            yield f"{size} pause key -> engine -> status line p95, burst", latencies(cmd, blat, "toggle")
            yield f"{size} pause key -> war-room banner p95, burst", latencies(banner, blat, "toggle")
        shifted = shift_to_haproxy(tmp, 160, 50)
        if shifted is None:
            yield "confirmed shift -> HAProxy weight, p95", "skipped: haproxy is not installed"
        else:
            lat, direct = shifted
            yield "confirmed shift -> HAProxy weight, p95", latencies(lat, direct, "bare Runtime API call", digits=1)
        late = guard_deadline(tmp)
        yield "guard window satisfied -> rollback sent, max", f"{max(late):.2f}s over {len(late)} sample phases (5s samples)   baseline: none (engine only)"
        total, rate = 1_000_000, 50_000
        logs = f"  logs: [{{type: command, command: '{PY} {burst_script(tmp, rate, total)}', source: burst}}]"
        screen, engine = rss_after(shipdeck(tmp, logs=logs), 160, 50, "ROLLBACK", f"line {total - 1} ")
        alone, _ = rss_after([*shipdeck(tmp, logs=logs), "--foreground"], 160, 50, "ROLLBACK", f"line {total - 1} ")
        rss = (f"{screen + engine:.1f}MB (screen {screen:.1f} + engine {engine:.1f}; --foreground, one process: "
               f"{alone:.0f})   budget 90MB")
        brss = sum(rss_after(baseline(["--burst", str(rate), "--total", str(total)]), 160, 50,
                             "baseline ready", f"all {total} lines written"))
        yield "RSS after 1,000,000 log lines", f"{rss}   baseline {brss:.0f}MB   ratio {(screen + engine) / brss:.1f}x"
