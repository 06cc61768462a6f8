"""The engine outlives the terminal: `shipdeck run` starts it as its own process, screens attach and detach.

Real HAProxy and Prometheus on loopback; the screens are the real CLI in a pseudo-terminal (or tmux),
read through pyte as a terminal would show them.
"""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from bench.term import Term
from bench.terminal import answered
from tests.backends.test_fault_matrix import (  # noqa: F401 - fixtures
    PY,
    ROOT,
    haproxy_green,
    haproxy_traffic,
    make_plan,
    metrics,
    module_metrics,
    wait,
)
from tui.engine import journal
from tui.engine.identity import account
from tui.engine.sockets import registered, socket_path

pytestmark = pytest.mark.integration


def screen(*args: str, cols: int = 160, rows: int = 50) -> Term:
    """The CLI in a pseudo-terminal, rendered by pyte (the harness `make bench` measures through)."""
    return Term([PY, "-m", "tui.cli", *args], cols, rows)


def exited(pid: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            return True
        time.sleep(0.05)
    return False


def bake_started(path: Path) -> bool:
    if not path.exists() or path.stat().st_size == 0:
        return False
    return journal.replay(journal.load(path).records).bake is not None


# Screens say a name; the engine pins it to the OS account the socket's peer credentials prove.
WHO = {name: f"{name} ({account()})" for name in ("alice", "bob", "carol", "dave", "mallory")}


def engine_pids() -> list[int]:
    return [int(e["pid"]) for e in registered()]


FOUR_EYES = """\
version: 1
name: four eyes
backends:
  traffic: {type: simulated, scenario: healthy, delay: 0}
  metrics: [{type: simulated, scenario: healthy}]
metrics:
  error_rate: {unit: ratio}
settings: {sample_interval: 200ms}
phases:
  - name: Canary
    steps:
      - shift: 10
      - gate: "DB owner signs off"
        four_eyes: true
      - shift: 100
"""


async def start_mid_bake(tmp_path: Path, how: str, h, metrics) -> tuple[Path, object]:  # noqa: F811
    loaded = make_plan(tmp_path, metrics.url, traffic=haproxy_traffic(h), steps="      - shift: 10\n      - bake: 1h")
    path = tmp_path / "j.jsonl"
    args = ["run", loaded.path, "--journal", str(path)]
    if how == "tmux":
        tmux = shutil.which("tmux") or pytest.skip("tmux is not installed")
        session = f"shipdeck-test-{os.getpid()}"
        # A tmux server already running gives new sessions its own environment, not this test's: say it all.
        cmd = " ".join([f"PYTHONPATH={ROOT}", f"SHIPDECK_RUNTIME_DIR={os.environ['SHIPDECK_RUNTIME_DIR']}", PY,
                        "-m", "tui.cli", *args])
        subprocess.run([tmux, "new-session", "-d", "-s", session, "-x", "160", "-y", "50", cmd], check=True,
                       cwd=ROOT)
        await wait(lambda: socket_path(path).exists(), timeout=30, what="the engine's socket")
        await asyncio.sleep(3)  # the screen attaches and paints
        for keys in ("n", "y"):
            subprocess.run([tmux, "send-keys", "-t", session, keys], check=True)
            await asyncio.sleep(1.0)
        await wait(lambda: bake_started(path), timeout=30, what="the bake")
        return path, session
    t = screen(*args)
    t.wait(answered)
    t.send(b"n")
    t.wait(lambda s: "Start phase" in s)
    t.send(b"y")
    await wait(lambda: bake_started(path), timeout=30, what="the bake")
    return path, t


@pytest.mark.parametrize("how", ["sighup", "sigkill", "tmux"])
async def test_killing_the_screen_mid_bake_leaves_the_engine_guarding(tmp_path, haproxy_factory, metrics, how):  # noqa: F811
    h = haproxy_factory()
    path, tui = await start_mid_bake(tmp_path, how, h, metrics)
    assert await haproxy_green(h) == 10
    [engine_pid] = engine_pids()
    sock = socket_path(path)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    if how == "tmux":
        subprocess.run(["tmux", "kill-session", "-t", str(tui)], check=True)
    else:
        assert isinstance(tui, Term)
        tui.alive = False
        if how == "sighup":
            os.close(tui.fd)  # the terminal goes away: the kernel hangs the screen up
        else:
            os.kill(tui.pid, signal.SIGKILL)
            os.close(tui.fd)
        assert exited(tui.pid), "the screen outlived its terminal"
    await asyncio.sleep(1.5)
    assert engine_pids() == [engine_pid], "the engine went with the screen"
    recs = journal.load(path).records
    assert not any(r["kind"] in ("suspend", "run-end") for r in recs)
    # Nobody is watching the screen; the engine still watches the metrics.
    metrics.gauge.set(0.05)
    await wait(lambda: journal.replay(journal.load(path).records).status == "rolled-back", timeout=40,
               what="the guard's rollback")
    assert await haproxy_green(h) == 0  # what HAProxy really does now
    recs = journal.load(path).records
    rollback = next(r for r in recs if r["kind"] == "intent" and r["data"]["kind"] == "rollback")
    assert "error_rate" in rollback["data"].get("reason", "") or any(
        r["kind"] == "event" and r["data"].get("type") == "guard" for r in recs)
    # attach brings the screen back, rolled back, charts filled from the engine's history
    back = screen("attach", str(path), cols=80, rows=24)
    try:
        back.wait(lambda s: "R O L L E D   B A C K" in s, timeout=30)
        time.sleep(1.0)
        chart = back.text()
        assert "error_rate" in chart and any("\u2801" <= ch <= "\u28ff" for ch in chart), chart  # points drawn
        back.send(b"q")
        assert exited(back.pid), "q did not detach"
    finally:
        back.close(engines=False)
    assert engine_pids() == [engine_pid]  # a finished run's engine waits for its screens a while, then leaves


def _maps(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


async def test_a_run_screen_holds_no_pydantic_its_engine_validated_the_plan_it_paints(tmp_path):
    """`run` reads the plan in a forked child: the screen's process paints plain data and never loads
    pydantic (its compiled core shows in /proc/PID/maps of any process that imported it). Neither process loads
    OpenSSL when no backend speaks HTTP (asyncio and hashlib would, for nothing: ~4 MB each)."""
    plan = tmp_path / "p.yaml"
    plan.write_text(FOUR_EYES.replace("name: Canary", "name: Canary of the night"))
    path = tmp_path / "j.jsonl"
    tui = screen("run", str(plan), "--journal", str(path))
    try:
        tui.wait(lambda s: "Canary of the night" in s, timeout=30)
        tui.wait(answered, timeout=30)
        [engine_pid] = engine_pids()
        assert "pydantic_core" in _maps(engine_pid)  # the engine validated the plan: the check can see it
        assert "pydantic_core" not in _maps(tui.pid)
        assert "libcrypto" not in _maps(tui.pid) and "libcrypto" not in _maps(engine_pid)
    finally:
        tui.close()


def test_run_says_a_plans_problems_before_any_screen_or_engine(tmp_path, clean_env):
    plan = tmp_path / "p.yaml"
    plan.write_text(FOUR_EYES.replace("sample_interval: 200ms", "sample_interval: often"))
    path = tmp_path / "j.jsonl"
    res = subprocess.run([PY, "-m", "tui.cli", "run", str(plan), "--journal", str(path)], capture_output=True,
                         text=True, cwd=ROOT, env=clean_env, timeout=60)
    assert res.returncode == 2, res.stderr
    assert f"{plan}:8:29: settings.sample_interval: bad duration 'often'" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr and "\x1b[" not in res.stdout  # no screen was opened
    assert not path.exists() and not engine_pids()


async def test_attach_and_ps_find_the_engine_and_it_leaves_once_the_run_is_over(tmp_path, clean_env):
    plan = tmp_path / "p.yaml"
    plan.write_text(FOUR_EYES.replace("name: four eyes", "name: idle night"))
    path = tmp_path / "j.jsonl"
    from tui.engine.spawn import spawn_engine

    sock = spawn_engine(str(plan), path, idle_exit=6.0)  # outlives two CLI starts on a loaded machine
    ps = subprocess.run([PY, "-m", "tui.cli", "ps"], capture_output=True, text=True, cwd=ROOT, env=clean_env,
                        timeout=30)
    assert "idle night" in ps.stdout and "pending" in ps.stdout and str(sock) in ps.stdout, ps.stdout
    again = subprocess.run([PY, "-m", "tui.cli", "run", str(plan), "--journal", str(path)], capture_output=True,
                           text=True, cwd=ROOT, env=clean_env, timeout=30)
    assert again.returncode != 0 and f"shipdeck attach {path}" in again.stderr, again.stderr
    # nobody attached and nothing at stake (the run never started): the engine leaves by itself
    await wait(lambda: not engine_pids(), timeout=20, what="the idle engine to leave")
    assert not sock.exists()
    recs = journal.load(path).records
    assert recs[-1]["kind"] == "suspend" and "no screen attached" in recs[-1]["data"]["reason"]
    gone = subprocess.run([PY, "-m", "tui.cli", "attach", str(path)], capture_output=True, text=True, cwd=ROOT,
                          env=clean_env, timeout=30)
    assert gone.returncode != 0 and "cannot attach" in gone.stderr, gone.stderr


class Seen:
    """A remote handle's events, as a screen would receive them."""

    def __init__(self, handle) -> None:
        self.events: list[dict] = []
        handle.subscribe(self.events.append)
        handle.start()

    def texts(self) -> str:
        return "\n".join(str(e.get("text", "")) for e in self.events if e["type"] == "notice")


async def driven(tmp_path: Path, text: str = FOUR_EYES, group: str = ""):
    """A detached engine on `text` with alice attached and at the helm."""
    from tui.engine.handle import RemoteEngine
    from tui.engine.spawn import spawn_engine

    plan = tmp_path / "p.yaml"
    plan.write_text(text)
    sock = spawn_engine(str(plan), tmp_path / "j.jsonl", group=group)
    alice = RemoteEngine(sock, "alice", "drive")
    seen = Seen(alice)
    await wait(lambda: alice.state.helm == WHO["alice"], what="the first screen to take the helm")
    return sock, alice, seen


async def test_the_first_screen_to_attach_opens_at_the_helm_and_the_second_watches(tmp_path):
    """The engine gives the first driver the helm before its welcome: its screen never shows a frame of "not
    driving, helm: nobody" between the replay and the take."""
    from tui.engine.handle import RemoteEngine
    from tui.engine.spawn import spawn_engine

    plan = tmp_path / "p.yaml"
    plan.write_text(FOUR_EYES)
    sock = spawn_engine(str(plan), tmp_path / "j.jsonl")
    alice = RemoteEngine(sock, "alice", "drive")  # the welcome is read here; no event yet
    bob = RemoteEngine(sock, "bob", "drive")
    try:
        assert alice.state.helm == WHO["alice"] and alice.read_only == ""
        assert bob.state.helm == WHO["alice"] and bob.read_only.startswith(f"{WHO['alice']} drives")
    finally:
        for screen in (alice, bob):
            screen.detach("test over")
            screen.join(5)


def as_another_user(sock: Path, command: str) -> str:
    """A screen of another OS user (nobody, in a forked child): hello, one command, and what the engine made
    of it (the state's cause, or the refusal)."""
    import json as json_mod

    from tui.engine.protocol import Command, Hello, decode, encode
    from tui.engine.sockets import connect

    nobody = pwd.getpwnam("nobody")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        answer = "no answer"
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            link = connect(sock, 10.0)
            link.sendall(encode(Hello("nobody", "drive")))
            lines = link.makefile("rb")
            me = decode(lines.readline()).operator  # type: ignore[attr-defined]
            link.sendall(encode(Command(command, me, {})))
            while True:
                msg = json_mod.loads(lines.readline())
                body = msg.get("body") or {}
                if msg["type"] == "refused" or body.get("type") == "notice":
                    answer = f"refused: {msg.get('reason') or body.get('text')}"
                    break
                if body.get("type") == "state" and body["cause"].get("operator") == me:
                    answer = f"{body['cause']['name']} by {me}"
                    break
        except Exception as e:  # noqa: BLE001 - the parent reads what went wrong
            answer = f"{type(e).__name__}: {e}"
        finally:
            os.write(write, answer.encode())
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as f:
        return f.read().decode()


async def test_one_driver_many_watchers_take_and_four_eyes(tmp_path):
    from tui.engine.handle import RemoteEngine

    if os.geteuid() != 0 and not os.environ.get("CI"):
        pytest.skip("a second OS user for four eyes: the test becomes `nobody`, which needs root")
    # The socket admits the operators' group (mode 0660): here nobody's own, on a path nobody can reach.
    tmp_path = Path(tempfile.mkdtemp(prefix="shipdeck-four-eyes-"))
    tmp_path.chmod(0o755)
    group = grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name
    sock, alice, a = await driven(tmp_path, group=group)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o660 and sock.stat().st_gid == pwd.getpwnam("nobody").pw_gid
    path = tmp_path / "j.jsonl"
    bob = RemoteEngine(sock, "bob", "watch")  # --read-only
    carol = RemoteEngine(sock, "carol", "drive")
    b, c = Seen(bob), Seen(carol)
    try:
        assert alice.refuses("advance") is None
        assert "read-only" in (bob.refuses("advance") or "") and f"{WHO['alice']} drives" in (bob.refuses("advance") or "")
        assert "T takes the helm" in (carol.refuses("advance") or "")
        assert "never takes the helm" in (bob.refuses("take") or "")
        # the server enforces what the keys grey out: a watcher's command is refused, not run
        bob.submit("advance")
        await wait(lambda: "advance: read-only screen" in b.texts(), what="the refusal")
        assert alice.state.status == "pending"
        alice.submit("advance")
        await wait(lambda: alice.state.current_step is not None and alice.state.current_step.kind == "gate"
                   and alice.state.current_step.status == "waiting-gate", what="the four-eyes gate")
        # four eyes: neither the driver nor a read-only watcher approves, nor another name on the driver's own
        # OS account (a name is said, not proved); someone logged in as another OS user does
        assert "four eyes" in (alice.state.current_step.label or "")
        alice.submit("approve")
        await wait(lambda: "someone other than the driver" in a.texts(), what="the driver's approval refused")
        assert "read-only" in (bob.refuses("approve") or "")
        assert carol.refuses("approve") is None and carol.refuses("advance") is not None
        carol.submit("approve")
        await wait(lambda: "four eyes cannot be verified" in c.texts(), what="a second name on one account refused")
        assert alice.state.traffic == 10
        nobody = account(pwd.getpwnam("nobody").pw_uid)
        assert await asyncio.to_thread(as_another_user, sock, "approve") == f"approve by {nobody}"
        await wait(lambda: alice.state.traffic == 100, what="the run to go on after another OS user approved")
        gate = alice.state.phases[0].steps[1]
        assert gate.detail == f"approved by {nobody}"
        # taking the helm needs a reason; then it is carol's, journalled and told to every screen
        carol.submit("take", reason="")
        await wait(lambda: "say why" in c.texts(), what="a take without a reason refused")
        carol.submit("take", reason="alice's link is flapping")
        await wait(lambda: alice.state.helm == WHO["carol"] and bob.state.helm == WHO["carol"], what="the helm")
        await wait(lambda: f"{WHO['carol']} took the helm from {WHO['alice']}: alice's link is flapping" in a.texts(),
                   what="the old driver told why")
        assert carol.refuses("pause") is None and f"{WHO['carol']} drives" in (alice.refuses("pause") or "")
        # a screen that attaches now gets the run as it is, and the charts' recent history with it
        dave = RemoteEngine(sock, "dave", "watch")
        d = Seen(dave)
        await wait(lambda: sum(e["type"] == "samples" for e in d.events) >= 5, timeout=3, what="replayed samples")
        caught_up = [e["type"] for e in d.events].index("replayed")  # the screen paints all it missed at once
        assert {"history", "samples", "logs"} <= {e["type"] for e in d.events[:caught_up]}
        replay = [e["type"] for e in d.events[:caught_up]]
        assert replay.index("logs") < replay.index("journal")  # its line is stamped now: below the older ones
        assert dave.state.traffic == 100 and dave.state.helm == WHO["carol"]
        dave.detach("done")
        # rollback: any attached screen (settings.rollback_by: anyone), even a read-only one
        bob.submit("rollback")
        await wait(lambda: alice.state.status == "rolled-back", what="bob's rollback")
    finally:
        for h in (alice, bob, carol):
            h.detach("test over")
            h.join(5)
    events = [r for r in journal.load(path).records if r["kind"] == "event" and r["data"].get("type") == "command"]
    by = [(r["data"]["name"], r["operator"]) for r in events]
    assert ("take", WHO["alice"]) in by and ("take", WHO["carol"]) in by and ("rollback", WHO["bob"]) in by
    assert ("advance", WHO["bob"]) not in by  # refused at the socket: never reached the engine
    take = next(r for r in events if r["data"]["name"] == "take" and r["operator"] == WHO["carol"])
    assert take["data"]["args"]["reason"] == "alice's link is flapping"


async def test_plan_may_keep_rollback_from_read_only_screens(tmp_path):
    from tui.engine.handle import RemoteEngine

    sock, alice, _ = await driven(tmp_path, FOUR_EYES.replace(
        "settings: {sample_interval: 200ms}", "settings: {sample_interval: 200ms, rollback_by: operators}"))
    bob = RemoteEngine(sock, "bob", "watch")
    b = Seen(bob)
    try:
        assert "not read-only ones" in (bob.refuses("rollback") or "")
        bob.submit("rollback")
        await wait(lambda: "rollback: the plan lets only operators" in b.texts(), what="the refusal")
        assert alice.refuses("rollback") is None
        # an operator who is not at the helm still may: a driver whose link dropped never locks rollback out
        carol = RemoteEngine(sock, "carol", "drive")
        Seen(carol)
        assert carol.refuses("rollback") is None
        carol.submit("rollback")
        await wait(lambda: alice.state.status == "rolled-back", what="carol's rollback")
        carol.detach("test over")
    finally:
        for h in (alice, bob):
            h.detach("test over")
            h.join(5)


async def test_a_read_only_screen_greys_forward_keys_and_says_who_drives(tmp_path):
    from tests.tui.conftest import screen_text, until
    from tui.app import make_app
    from tui.engine.handle import RemoteEngine

    sock, alice, _ = await driven(tmp_path)
    watcher = RemoteEngine(sock, "bob", "watch")
    app = make_app(None, watcher.journal_path, engine=watcher, keymap={})
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: f"helm: {WHO['alice']}" in screen_text(app), what="who drives")
            assert "READ-ONLY" in screen_text(app)
            assert app.why_not("advance") == f"read-only screen: {WHO['alice']} drives"
            assert app.why_not("rollback") is None
            await pilot.press("n")
            await pilot.pause(0.5)
            assert alice.state.status == "pending"  # nothing was sent
            await pilot.press("q")
            await until(pilot, lambda: watcher.ended, what="the screen to detach")
        assert alice.state.helm == WHO["alice"] and not alice.ended  # the engine goes on
    finally:
        alice.detach("test over")
        alice.join(5)


async def test_an_engine_that_dies_is_engine_failed_on_every_screen(tmp_path):
    from tests.tui.conftest import screen_text, until
    from tui.app import make_app
    from tui.engine.handle import RemoteEngine
    from tui.engine.spawn import spawn_engine

    plan = tmp_path / "p.yaml"
    plan.write_text(FOUR_EYES)
    sock = spawn_engine(str(plan), tmp_path / "j.jsonl")
    [pid] = engine_pids()
    remote = RemoteEngine(sock, "alice", "drive")
    app = make_app(None, remote.journal_path, engine=remote, keymap={})
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: f"helm: {WHO['alice']}" in screen_text(app), what="the screen")
        os.kill(pid, signal.SIGKILL)
        await until(pilot, lambda: "ENGINE FAILED" in screen_text(app), what="the lost engine on screen")
        # why, on the alarm line: a frame after the status line when it grows (it moves the rows below)
        await until(pilot, lambda: f"lost the engine (pid {pid})" in screen_text(app), timeout=2, what="the pid")
        assert app.why_not("advance") and app.why_not("rollback")  # nothing pretends to reach it


async def test_bad_messages_are_refused_and_a_stopped_engine_is_loud(tmp_path):
    import json as json_mod

    from tui.engine.handle import RemoteEngine
    from tui.engine.protocol import VERSION, Refused, decode, encode
    from tui.engine.protocol import Hello as HelloMsg
    from tui.engine.sockets import connect
    from tui.engine.spawn import spawn_engine

    plan = tmp_path / "p.yaml"
    plan.write_text(FOUR_EYES)
    sock = spawn_engine(str(plan), tmp_path / "j.jsonl")
    nobody = connect(sock)
    nobody.sendall(encode(HelloMsg("", "drive")))
    answer = decode(nobody.makefile("rb").readline())
    assert isinstance(answer, Refused) and "who it is" in answer.reason
    nobody.close()
    alice = RemoteEngine(sock, "alice", "drive")
    a = Seen(alice)
    await wait(lambda: alice.state.helm == WHO["alice"], what="the helm")
    raw = connect(sock)
    raw.sendall(encode(HelloMsg("mallory", "drive")))
    reader = raw.makefile("rb")
    for bad in (b"{not json\n",
                json_mod.dumps({"v": VERSION, "type": "command", "name": "take", "operator": "mallory",
                                "args": {"operator": "alice", "reason": "x"}}).encode() + b"\n",
                json_mod.dumps({"v": VERSION, "type": "command", "name": "take", "operator": "alice",
                                "args": {"reason": "x"}}).encode() + b"\n",
                json_mod.dumps({"v": VERSION, "type": "ask", "req": 1, "what": "preview",
                                "args": {"percent": "lots"}}).encode() + b"\n"):
        raw.sendall(bad)
    refusals = []
    raw.settimeout(5)
    while len(refusals) < 3:
        msg = decode(reader.readline())
        if isinstance(msg, Refused):
            refusals.append(msg.reason)
    assert "not a JSON line" in refusals[0] and "mapping of arguments" in refusals[1]
    assert f"sent as alice on {WHO['mallory']}'s connection" in refusals[2]
    assert alice.state.helm == WHO["alice"]  # nobody took it in someone else's name
    raw.close()
    # the driver stops the engine with the run live: every screen says nothing guards it now
    bob = RemoteEngine(sock, "bob", "watch")
    b = Seen(bob)
    alice.submit("advance")
    await wait(lambda: alice.state.status == "running", what="the run")
    alice.stop_engine("maintenance window moved")
    await wait(lambda: any(e["type"] == "engine" and "NO GUARD WATCHES" in e["reason"] for e in b.events),
               what="the stopped engine on the watcher's screen")
    assert f"engine stopped by {WHO['alice']}: maintenance window moved" in bob.failed
    assert any(e["type"] == "engine" for e in a.events)
    for h in (alice, bob):
        h.detach("test over")
        h.join(5)


async def test_q_after_the_engine_died_never_says_it_goes_on_guarding(tmp_path):
    from tui.engine.spawn import spawn_engine

    plan = tmp_path / "p.yaml"
    plan.write_text(FOUR_EYES)
    path = tmp_path / "j.jsonl"
    spawn_engine(str(plan), path)
    [pid] = engine_pids()
    t = screen("attach", str(path), cols=100, rows=30)
    try:
        t.wait(answered)
        os.kill(pid, signal.SIGKILL)
        t.wait(lambda s: "ENGINE FAILED" in s)
        t.send(b"q")
        assert exited(t.pid)
        time.sleep(0.5)  # the last words reach the terminal
        said = " ".join(t.raw_text().split())  # as written, whatever the emulator made of the screen's exit
    finally:
        t.close(engines=False)
    assert f"lost the engine (pid {pid})" in said and "nothing guards the run" in said, said
    assert "goes on guarding" not in said


def test_a_screen_that_falls_behind_is_dropped_and_says_the_engine_still_guards(tmp_path):
    """A screen that stops reading (stopped with kill -TSTP, a dead link) is dropped once it has taken nothing
    for STALLED_S (the burst's lines are shed long before it is 8 MiB behind); once it runs again (`fg`) it says
    the engine still guards the run and how to come back, never that it is lost."""
    from bench.terminal import burst_script
    from tui.engine.handle import RemoteEngine
    from tui.engine.spawn import spawn_engine

    burst = burst_script(tmp_path, 20_000, 10**7)
    plan = tmp_path / "p.yaml"
    plan.write_text(FOUR_EYES.replace("metrics:\n  error_rate", f"  logs: [{{type: command, command: '{PY} {burst}', "
                                      "source: burst}]\nmetrics:\n  error_rate"))
    path = tmp_path / "j.jsonl"
    spawn_engine(str(plan), path)
    [pid] = engine_pids()
    t = screen("attach", str(path), cols=100, rows=30)
    watcher = RemoteEngine(socket_path(path), "bob", "watch")
    try:
        seen = Seen(watcher)
        t.wait(answered)
        os.kill(t.pid, signal.SIGTSTP)  # the screen leaves application mode and stops
        # Which side failed, if one does: the screen that never stopped, or the engine that never dropped it.
        deadline = time.monotonic() + 20
        while t.proc.status() != "stopped" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert t.proc.status() == "stopped", f"the screen never stopped on SIGTSTP; it shows:\n{t.text()}"

        def dropped() -> bool:
            return any("detached: took nothing for" in x["text"]
                       for e in list(seen.events) if e["type"] == "logs" for x in e["lines"])

        deadline = time.monotonic() + 60
        while not dropped() and time.monotonic() < deadline:
            time.sleep(0.2)
        os.kill(t.pid, signal.SIGCONT)  # fg
        assert dropped(), (f"the engine never dropped the stopped screen (the watcher: dropped {watcher.dropped}, "
                           f"lost {watcher.lost}, {len(seen.events)} events)")
        t.wait(lambda s: "still guards the run" in s, 30)
        shown = t.text()
        assert "LINK DROPPED" in shown and "ENGINE FAILED" not in shown and "still rolls back" not in shown, shown
        t.send(b"q")
        assert exited(t.pid), t.text()
        time.sleep(0.5)  # the last words reach the terminal
        said = " ".join(t.raw_text().split())  # as written, whatever the emulator made of the screen's exit
        assert psutil_alive(pid)  # the engine is untouched
    finally:
        watcher.detach("test over")
        t.close(engines=True)
    assert f"engine (pid {pid}) dropped this screen" in said and f"shipdeck attach {path}" in said, said
    assert "lost the engine" not in said and "nothing guards the run" not in said


def psutil_alive(pid: int) -> bool:
    import psutil

    return psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE


def test_a_screen_behind_a_burst_goes_without_log_lines_never_without_samples(tmp_path):
    """A screen that reads slower than a burst (a slow SSH link) is not dropped: log sources' lines are shed
    while it is behind, and it is told how many; every sample reaches it. Every burst line is either delivered
    or counted."""
    from tui.engine.protocol import Event, Hello, Welcome, decode, encode
    from tui.engine.sockets import connect
    from tui.engine.spawn import spawn_engine

    total = 300_000
    go = tmp_path / "go"
    burst = tmp_path / "burst.py"
    burst.write_text(f"import os,sys,time\nwhile not os.path.exists({str(go)!r}): time.sleep(0.05)\n"
                     f"for n in range(0, {total}, 1000):\n"
                     "    sys.stdout.write(''.join(f'line {n+i} GET /api/orders 200 12ms\\n' for i in range(1000)))\n"
                     "sys.stdout.flush()\ntime.sleep(3600)\n")
    plan = tmp_path / "p.yaml"
    plan.write_text(FOUR_EYES.replace("metrics:\n  error_rate", f"  logs: [{{type: command, command: '{PY} {burst}', "
                                      "source: burst}]\nmetrics:\n  error_rate"))
    path = tmp_path / "j.jsonl"
    spawn_engine(str(plan), path)
    link = connect(socket_path(path), 10.0)
    try:
        link.sendall(encode(Hello("carol", "watch")))
        lines = link.makefile("rb")
        assert isinstance(decode(lines.readline()), Welcome)
        go.touch()
        time.sleep(4)  # reading nothing while the whole burst arrives at the engine
        got: set[int] = set()
        skipped, samples, notices = 0, [], []
        link.settimeout(30)
        while len(got) + skipped < total or len(samples) < 10:  # ends by the socket's timeout otherwise
            msg = decode(lines.readline())
            if not isinstance(msg, Event):
                continue
            ev = msg.body
            if ev["type"] == "samples":
                samples.append(ev["ts"])
            for x in ev.get("lines", []) if ev["type"] == "logs" else []:
                if x["source"] == "burst" and x["text"].startswith("line "):
                    got.add(int(x["text"].split()[1]))
                elif "were not sent to this screen" in x["text"]:
                    notices.append(x["text"])
                    skipped += int(x["text"].split()[0].replace(",", ""))
                assert "detached" not in x["text"] or "carol" not in x["text"], x["text"]
    finally:
        link.close()
        for pid in engine_pids():
            os.kill(pid, signal.SIGKILL)
    assert notices and skipped > 0, "a screen 30 MB behind was sent everything"
    assert len(got) + skipped == total, (len(got), skipped)
    # Samples are never shed: each one journalled while this screen was behind reached it.
    journalled = [journal.parse_iso(r["ts"]) for r in journal.load(path).records if r["kind"] == "sample"]
    between = [t for t in journalled if samples[0] - 0.002 <= t <= samples[-1] + 0.002]
    assert len(samples) >= 10 and len(samples) == len(between), (len(samples), len(between))
