import json
from pathlib import Path

import pytest

from tests.unit.test_machine import PLAN, cmd
from tui.engine.journal import Journal, JournalError, load, open_intents, read_records, replay
from tui.engine.machine import transition
from tui.engine.plan import load_plan_text
from tui.engine.state import initial_state


def write_run(path: Path):
    plan = load_plan_text(PLAN, "m.yaml").plan
    j = Journal(path)
    j.append("run-start", {"plan": plan.model_dump(mode="json", by_alias=True)}, "alice", 0)
    s = initial_state(plan)
    for ev in [cmd("advance", 1), cmd("approve", 2), cmd("tick", 3, item=0), cmd("advance", 4)]:
        j.append("event", ev, "alice", ev["at"])
        s, effects = transition(s, ev)
        for e in effects:
            if e["kind"] == "shift":
                j.append("intent", e, "alice", 4)
    j.close()
    return s


def test_records_are_checksummed_sequenced_and_replay_exactly(tmp_path):
    path = tmp_path / "j.jsonl"
    live = write_run(path)
    result = load(path)
    assert result.warnings == []
    assert [r["seq"] for r in result.records] == list(range(1, len(result.records) + 1))
    for r in result.records:
        assert set(r) == {"seq", "ts", "operator", "kind", "data", "sum"} and r["ts"].endswith("Z")
    assert replay(result.records).to_dict() == live.to_dict()
    assert [r["data"]["kind"] for r in open_intents(result.records)] == ["shift"]


def test_torn_tail_is_dropped_with_warning(tmp_path):
    path = tmp_path / "j.jsonl"
    live = write_run(path)
    good = path.read_bytes()
    path.write_bytes(good + b'{"seq": 99, "ts": "2026-')
    result = load(path)
    assert len(result.warnings) == 1 and f"offset {len(good)}" in result.warnings[0]
    assert replay(result.records).to_dict() == live.to_dict()
    j = Journal(path, resume=True)  # continuing after the crash cuts the torn bytes
    j.append("event", cmd("pause", 5), "alice", 5)
    j.close()
    assert load(path).warnings == [] and load(path).records[-1]["seq"] == len(result.records) + 1


def test_corruption_in_the_middle_names_the_offset(tmp_path):
    path = tmp_path / "j.jsonl"
    write_run(path)
    lines = path.read_bytes().split(b"\n")
    rec = json.loads(lines[2])
    rec["operator"] = "mallory"
    lines[2] = json.dumps(rec).encode()
    path.write_bytes(b"\n".join(lines))
    offset = len(lines[0]) + len(lines[1]) + 2
    with pytest.raises(JournalError, match=f"byte offset {offset} \\(line 3\\): checksum mismatch"):
        read_records(path)


def test_missing_record_is_detected(tmp_path):
    path = tmp_path / "j.jsonl"
    write_run(path)
    lines = path.read_bytes().split(b"\n")
    del lines[2]
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(JournalError, match="sequence 4 where 3 was expected"):
        read_records(path)
