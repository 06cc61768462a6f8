import errno
import json
import os
import re
from pathlib import Path

import pytest

from tests.unit.test_machine import PLAN, cmd
from tui.engine import journal as journal_mod
from tui.engine.initial import initial_state
from tui.engine.journal import Journal, JournalError, load, open_intents, parse_iso, read_records, replay
from tui.engine.machine import transition
from tui.engine.plan import load_plan_text
from tui.engine.records import legacy_sum, line_of
from tui.engine.report import build_report


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


V1 = Path(__file__).parents[1] / "fixtures" / "journal-v1-rolled-back.jsonl"  # written before samples were compact


def rewrite(records: list[dict], path: Path) -> None:
    """The same night's records written by today's journal."""
    j = Journal(path)
    for r in records:
        if r["kind"] != "layout":
            j.append(r["kind"], r["data"], r["operator"], parse_iso(r["ts"]))
    j.close()


def rounded(x):
    if isinstance(x, dict):
        return {k: rounded(v) for k, v in x.items()}
    if isinstance(x, list):
        return [rounded(v) for v in x]
    return float(f"{x:.6g}") if isinstance(x, float) else x


def test_a_journal_written_before_and_one_written_now_read_back_to_the_same_night(tmp_path):
    old = load(V1)
    assert old.warnings == [] and sum(r["kind"] == "sample" for r in old.records) > 100
    path = tmp_path / "now.jsonl"
    rewrite(old.records, path)
    new = load(path)
    assert new.warnings == []
    assert replay(new.records).to_dict() == replay(old.records).to_dict()
    strip = [r for r in new.records if r["kind"] != "layout"]
    assert len(strip) == len(old.records)
    for a, b in zip(old.records, strip, strict=True):
        assert (a["kind"], a["ts"], a["operator"]) == (b["kind"], b["ts"], b["operator"])
        if a["kind"] == "sample":  # readings keep six significant digits; every other field is as it was
            guards = [{"silenced_until": None, **g} for g in a["data"]["guards"]]
            assert rounded(b["data"]) == rounded({**a["data"], "guards": guards})
        else:
            assert b["data"] == a["data"]
    same = [re.sub(r"\(\d+ records", "(N records", build_report(r)) for r in (new.records, old.records)]
    assert same[0] == same[1]  # the same words and figures, but for the count of records (one layout more)


def test_guard_definitions_are_written_once_and_again_only_when_they_change(tmp_path):
    old = load(V1).records
    samples = [r for r in old if r["kind"] == "sample"]
    path = tmp_path / "now.jsonl"
    rewrite(old, path)
    lines = path.read_bytes().splitlines()
    assert sum(b'"kind":"layout"' in line for line in lines) == 1
    assert all(b'"threshold"' not in line for line in lines if b'"kind":"sample"' in line)
    changed = json.loads(json.dumps(samples[0]["data"]))
    changed["guards"][0]["threshold"] = 0.05
    j = Journal(path, resume=True)
    j.append("sample", changed, "shipdeck", 1.0)
    j.append("sample", changed, "shipdeck", 2.0)
    j.close()
    records = load(path).records
    assert [r["kind"] for r in records[-3:]] == ["layout", "sample", "sample"]
    assert [g["threshold"] for g in records[-1]["data"]["guards"]] == [0.05, 800.0, 85.0]


def test_a_tampered_compact_sample_and_one_without_its_layout_are_named(tmp_path):
    path = tmp_path / "now.jsonl"
    rewrite(load(V1).records, path)
    lines = path.read_bytes().split(b"\n")
    i = next(i for i, line in enumerate(lines) if b'"kind":"sample"' in line and b'"breaching"' in line)
    path.write_bytes(b"\n".join([*lines[:i], lines[i].replace(b'"breaching"', b'"ok"', 1), *lines[i + 1:]]))
    with pytest.raises(JournalError, match=f"\\(line {i + 1}\\): checksum mismatch"):
        read_records(path)
    layout = next(i for i, line in enumerate(lines) if b'"kind":"layout"' in line)
    kept = [x for k, x in enumerate(lines) if k != layout]
    renumbered = [line_of({**{k: v for k, v in json.loads(x).items() if k != "sum"},
                           "seq": n + 1}).rstrip(b"\n") for n, x in enumerate(kept) if x]
    path.write_bytes(b"\n".join(renumbered) + b"\n")
    with pytest.raises(JournalError, match=f"\\(line {layout + 1}\\): a compact sample with no layout record"):
        read_records(path)


def test_a_resume_reads_every_record_but_keeps_only_the_last_sample(tmp_path):
    path = tmp_path / "now.jsonl"
    old = load(V1).records
    rewrite(old, path)
    j = Journal(path, resume=True)
    j.close()
    assert not any(r["kind"] == "sample" for r in j.records)
    assert j.last_sample is not None and j.last_sample["ts"] == [r for r in old if r["kind"] == "sample"][-1]["ts"]
    assert j.last_record is not None and j.last_record["kind"] == "run-end"
    assert replay(j.records).to_dict() == replay(old).to_dict()


def test_a_sample_refused_after_its_layout_leaves_whole_records_that_a_follower_may_read(tmp_path, monkeypatch):
    """Layout and sample are written and synced one by one: when the disk refuses the sample, what a reader
    following the file already saw stays true, and the retry writes just the sample."""
    from tui.watch import JournalTail

    old = load(V1).records
    path = tmp_path / "now.jsonl"
    j = Journal(path)
    j.append("run-start", old[0]["data"], "shipdeck", 0.0)
    sample = next(r for r in old if r["kind"] == "sample")["data"]
    real_write, calls = os.write, []

    def refuse_the_second(fd, data):
        calls.append(data)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(journal_mod.os, "write", refuse_the_second)
    with pytest.raises(OSError):
        j.append("sample", sample, "shipdeck", 1.0)
    monkeypatch.undo()
    tail = JournalTail(path)
    assert [r["kind"] for r, _ in tail.read()] == ["run-start", "layout"]
    j.append("sample", sample, "shipdeck", 1.0)  # the engine's retry
    j.close()
    assert [r["kind"] for r, _ in tail.read()] == ["sample"] and not tail.damaged
    assert [r["kind"] for r in load(path).records] == ["run-start", "layout", "sample"]


def test_integers_past_64_bits_read_back_whole_in_both_formats(tmp_path):
    path = tmp_path / "j.jsonl"
    rec = {"seq": 1, "ts": "2026-12-03T00:00:00.000Z", "operator": "a", "kind": "event",
           "data": {"type": "note", "n": 2**70, "m": -2**63 - 1}}
    path.write_bytes((json.dumps({**rec, "sum": legacy_sum(rec)}) + "\n").encode())
    j = Journal(path, resume=True)
    j.append("event", {"type": "note", "n": 2**65}, "a", 1.0)
    j.close()
    records = load(path).records
    assert load(path).warnings == [] and records[0]["data"]["n"] == 2**70 and records[0]["data"]["m"] == -2**63 - 1
    assert records[1]["data"]["n"] == 2**65 and isinstance(records[1]["data"]["n"], int)
