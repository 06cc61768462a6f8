import subprocess

from tests.conftest import ROOT, shipdeck_cmd
from tests.unit.test_journal import write_run
from tui.engine import journal
from tui.engine.report import build_report
from tui.watch import follow


def test_report_tells_the_story(tmp_path):
    path = tmp_path / "j.jsonl"
    write_run(path)
    j = journal.Journal(path, resume=True)
    j.append("outcome", {"id": "e1", "kind": "shift", "ok": False, "error": "socket | gone", "data": {}}, "shipdeck", 5)
    j.append("event", {"type": "guard", "guard": 0, "summary": "error_rate 0.05 > 0.01 for 1m of 1m → rollback",
                       "values": [[1, 0.02], [2, 0.05]], "operator": "guard:error_rate", "at": 6}, "guard:error_rate", 6)
    j.close()
    text = build_report(journal.load(path).records)
    assert text.startswith("# Deploy report: m\n")
    assert "| Prep |  |  | 2s | done |" in text
    assert "| alice | tick item=0 |" in text
    assert "← shift FAILED: socket \\| gone" in text  # table cells escaped
    assert "last samples: 0.02, 0.05" in text
    assert "- [x] Prep: backup done — alice" in text
    assert "no end record" in text


def test_report_cli_and_damaged_journal(tmp_path, clean_env):
    path = tmp_path / "j.jsonl"
    write_run(path)
    out = tmp_path / "r.md"
    ok = subprocess.run(shipdeck_cmd("report", str(path), "-o", str(out)), capture_output=True, text=True,
                        env=clean_env, cwd=ROOT)
    assert ok.returncode == 0 and out.read_text().startswith("# Deploy report")
    lines = path.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b'"alice"', b'"eve"')
    path.write_bytes(b"\n".join(lines))
    bad = subprocess.run(shipdeck_cmd("report", str(path)), capture_output=True, text=True, env=clean_env, cwd=ROOT)
    assert bad.returncode == 1 and "byte offset" in bad.stderr and "Traceback" not in bad.stderr


def test_watch_follows_read_only(tmp_path):
    path = tmp_path / "j.jsonl"
    write_run(path)
    before = path.read_bytes()
    out: list[str] = []
    follow(path, out.append, once=True)
    text = "\n".join(out)
    assert "plan: m" in text and "alice: advance" in text and "phase “Prep” done" in text
    assert "→ shift green to 10%" in text
    assert path.read_bytes() == before
