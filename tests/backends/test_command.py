"""The shell runner and the `command` traffic backend, with real scripts."""

import time

import pytest

from backends.base import BackendContext, BackendError, run_command
from backends.command import CommandTraffic

SCRIPT = """#!/bin/sh
echo "$@" >> calls.txt
case "$1" in --percentage=*) echo "${1#--percentage=}" > live.txt ;; esac
echo "switched: $*"
"""


@pytest.fixture
def script_dir(tmp_path):
    s = tmp_path / "traffic-switch.sh"
    s.write_text(SCRIPT)
    s.chmod(0o755)
    return tmp_path


def traffic(d, **kw) -> CommandTraffic:
    cfg = CommandTraffic.Config(type="command", shift="./traffic-switch.sh --percentage={percent} --target={target}",
                                **kw)
    return CommandTraffic(cfg, BackendContext(plan_dir=str(d)))


async def test_shift_and_rollback_run_the_script(script_dir):
    t = traffic(script_dir, current="cat live.txt",
                rollback="./traffic-switch.sh --percentage={blue_percent} --target=blue")
    assert (await t.shift(10)).green == 10
    assert (await t.shift(50)).green == 50
    split = await t.rollback()
    calls = (script_dir / "calls.txt").read_text().splitlines()
    assert calls == ["--percentage=10 --target=green", "--percentage=50 --target=green",
                     "--percentage=100 --target=blue"]
    # The runbook's rollback sets blue to 100; the read-back says what the script left.
    assert split.green == 100 and "cat live.txt" in split.detail
    assert t.describe_shift(10) == ["runs: ./traffic-switch.sh --percentage=10 --target=green"]


async def test_without_a_current_command_the_split_is_what_was_set(script_dir):
    t = traffic(script_dir)
    with pytest.raises(BackendError, match="cannot be read back"):
        await t.current()
    split = await t.shift(30)
    assert split.green == 30 and "as last set" in split.detail


async def test_values_are_shell_quoted(script_dir):
    t = CommandTraffic(CommandTraffic.Config(type="command", shift="echo {target}; echo {percent} > out.txt"),
                       BackendContext(plan_dir=str(script_dir)))
    assert t.render("x {target}", 0) == "x blue"
    with pytest.raises(BackendError, match="bad command template"):
        t.render("x {nope}", 1)


async def test_failures_are_reported_with_output(script_dir):
    t = CommandTraffic(CommandTraffic.Config(type="command", shift="echo oops >&2; exit 3"),
                       BackendContext(plan_dir=str(script_dir)))
    with pytest.raises(BackendError, match="exited 3: oops"):
        await t.shift(10)
    problems = await traffic(script_dir, cwd="nowhere").preflight()
    assert problems and "not found" in problems[0].message


async def test_timeout_kills_the_whole_process_group(tmp_path):
    pidfile = tmp_path / "pid"
    started = time.monotonic()
    res = await run_command(f"sleep 100 & echo $! > {pidfile}; wait", timeout=0.5, cwd=str(tmp_path))
    assert res.timed_out and res.exit_code is None
    assert time.monotonic() - started < 5
    pid = int(pidfile.read_text())
    time.sleep(0.1)
    assert not alive(pid)


def alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped (a container's init may never reap it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def test_output_is_streamed_and_bounded(tmp_path):
    seen: list[tuple[str, str]] = []
    res = await run_command("for i in $(seq 1 500); do echo line $i; done; echo err >&2", 10,
                            on_line=lambda s, t: seen.append((s, t)))
    assert res.exit_code == 0 and len(seen) == 501 and ("stderr", "err") in seen
    assert len(res.output.splitlines()) == 200 and "line 500" in res.output
