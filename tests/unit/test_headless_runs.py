"""`shipdeck demo --headless --yes` end to end, in a subprocess, as a user runs it."""

import json
import signal
import subprocess
import time

from tests.conftest import ROOT, shipdeck_cmd
from tui.engine import journal


def demo(tmp_path, scenario, speed="60", extra=()):
    path = tmp_path / f"{scenario}.jsonl"
    res = subprocess.run(
        shipdeck_cmd("demo", "--headless", "--yes", "--scenario", scenario, "--speed", speed, "--journal", str(path),
                     *extra),
        capture_output=True, text=True, cwd=tmp_path, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=180,
    )
    return res, journal.load(path).records


def test_bad_canary_rolls_back_with_breach_values_in_the_journal(tmp_path):
    res, records = demo(tmp_path, "bad-canary")
    assert res.returncode == 3, res.stdout[-2000:] + res.stderr[-2000:]
    assert f"journal: {tmp_path / 'bad-canary.jsonl'}" in res.stdout.splitlines()[0]
    assert "rolled-back" in res.stdout.splitlines()[-1]
    kinds = [(r["kind"], r["data"].get("type") or r["data"].get("kind")) for r in records]
    guard_at = kinds.index(("event", "guard"))
    rollback_at = kinds.index(("intent", "rollback"))
    assert guard_at < rollback_at
    guard = records[guard_at]["data"]
    assert guard["metric"] == "error_rate" and guard["threshold"] == 0.01
    assert len(guard["values"]) >= 2 and all(v > 0.01 for _, v in guard["values"])
    assert guard["values"][-1][0] - guard["values"][0][0] >= guard["window"]
    assert records[guard_at]["operator"] == "guard:error_rate"
    outcome = [r for r in records if r["kind"] == "outcome" and r["data"]["kind"] == "rollback"][0]
    assert outcome["data"]["ok"] and outcome["data"]["data"]["green"] == 0
    assert records[-1]["kind"] == "run-end" and records[-1]["data"]["status"] == "rolled-back"
    assert journal.replay(records).status == "rolled-back"


def test_healthy_completes_at_100(tmp_path):
    res, records = demo(tmp_path, "healthy")
    assert res.returncode == 0, res.stdout[-2000:]
    state = journal.replay(records)
    assert state.status == "completed" and state.traffic == 100
    shifts = [r["data"]["percent"] for r in records if r["kind"] == "intent" and r["data"]["kind"] == "shift"]
    assert shifts == [10, 50, 100]
    ticks = [r for r in records if r["kind"] == "event" and r["data"].get("name") == "tick"]
    assert len(ticks) == 6 and all(r["operator"] == "autopilot" for r in ticks)


def test_flapping_is_not_rolled_back(tmp_path):
    res, records = demo(tmp_path, "flapping")
    assert res.returncode == 0, res.stdout[-2000:]
    breaching = [r for r in records if r["kind"] == "sample" and r["data"]["guards"][0]["state"] == "breaching"]
    assert breaching, "the flapping scenario should have produced brief breaches"
    assert not [r for r in records if r["kind"] == "intent" and r["data"]["kind"] == "rollback"]


def test_kill_9_mid_bake_loses_nothing(tmp_path):
    path = tmp_path / "j.jsonl"
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(
        shipdeck_cmd("demo", "--headless", "--yes", "--scenario", "healthy", "--speed", "10", "--journal", str(path)),
        stdout=subprocess.PIPE, text=True, cwd=tmp_path, env=env,
    )
    seen: list[str] = []
    deadline = time.monotonic() + 90
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line)
        if "step bake 3m: baking" in line or time.monotonic() > deadline:
            break
    time.sleep(1.0)  # let samples land mid-bake
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert any("baking" in s for s in seen), "".join(seen)
    result = journal.load(path)
    lines = [ln for ln in path.read_bytes().split(b"\n") if ln]
    assert len(result.records) >= len(lines) - 1  # at most a torn last line
    assert [r["seq"] for r in result.records] == list(range(1, len(result.records) + 1))
    state = journal.replay(result.records)
    assert state.current_step is not None and state.current_step.status == "baking"
    printed_events = sum(1 for s in seen if ": tick " in s or "autopilot: advance" in s)
    journal_commands = [r for r in result.records if r["kind"] == "event" and r["data"]["type"] == "command"]
    assert len(journal_commands) >= printed_events  # everything the run reported happened is on disk


def test_resume_after_kill_completes(tmp_path):
    scenario = "healthy"
    path = tmp_path / "j.jsonl"
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    cmd = shipdeck_cmd("demo", "--headless", "--yes", "--scenario", scenario, "--speed", "40", "--journal", str(path))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=tmp_path, env=env)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "step bake 5m: baking" in line:
            break
    proc.kill()
    proc.wait()
    before = journal.load(path).records
    res = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=180)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    after = journal.load(path).records
    assert after[: len(before)] == before
    assert journal.replay(after).status == "completed"
    assert json.dumps(after).count('"run-start"') == 1
