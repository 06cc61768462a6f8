import subprocess

from tests.conftest import ROOT, shipdeck_cmd
from tests.unit.test_journal import write_run
from tui.engine import journal
from tui.engine.report import build_report
from tui.watch import follow

DEMO = ROOT / "examples" / "demo.yaml"


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
    assert "| alice | tick “backup done” |" in text  # the item, not its index
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
    # Every good record before the damaged one is still reported, and the report says where reading stopped.
    assert bad.stdout.startswith("# Deploy report: m\n") and "corrupt record at byte offset" in bad.stdout
    assert "(line 2): checksum mismatch; reading stopped there: the 1 record(s) before it are read" in bad.stdout


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


def test_watch_shows_every_good_record_before_a_damaged_one_and_says_where_it_stopped(tmp_path):
    path = tmp_path / "j.jsonl"
    write_run(path)
    lines = path.read_bytes().split(b"\n")
    lines[-3] = lines[-3].replace(b'"kind"', b'"kinda"')  # the last record but one: a bad checksum
    path.write_bytes(b"\n".join(lines))
    out: list[str] = []
    follow(path, out.append, once=True)
    text = "\n".join(out)
    assert "alice: advance" in text and "phase “Prep” done" in text  # the records before it
    good = len(lines) - 3
    assert out[-1].startswith("journal damaged at byte offset ") and out[-1].endswith(
        f": checksum mismatch; reading stopped there after {good} good record(s)")


async def test_a_read_only_screen_follows_the_journal_and_refuses_every_command(tmp_path):
    """`shipdeck watch --screen`: the command center on another run's journal, commands greyed out."""
    from tests.tui.conftest import screen_text, until
    from tests.unit.test_machine import cmd
    from tui.app import make_app
    from tui.engine.journal import Journal
    from tui.engine.machine import transition
    from tui.watch import READ_ONLY, JournalFollower

    journal_path = tmp_path / "j.jsonl"
    live = write_run(journal_path)  # a run in its canary phase, written by "alice"
    follower = JournalFollower(journal_path, poll=0.1)
    app = make_app(None, journal_path, keymap={}, engine=follower)
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, lambda: app.state["status"] == "running", what="the journal replayed")
        await until(pilot, lambda: screen_text(app).startswith(" shipdeck  READ-ONLY "), what="the READ-ONLY mark")
        for action in ("advance", "rollback", "shift_next", "approve", "override"):
            assert app.why_not(action) == READ_ONLY
        await pilot.press("n", "R")
        written = len(journal.load(journal_path).records)
        # The operator's terminal rolls back: this screen follows.
        j = Journal(journal_path, resume=True)
        ev = cmd("rollback", 10, reason="by alice")
        live, effects = transition(live, ev)
        j.append("event", ev, "alice", 10)
        back = next(e for e in effects if e["kind"] == "rollback")
        j.append("event", {"type": "result", "id": back["id"], "ok": True, "data": {"green": 0}, "at": 11}, "alice", 11)
        j.close()
        await until(pilot, lambda: "R O L L E D   B A C K" in screen_text(app), what="the rollback followed")
    assert written == len(follower.tail.records) - 2  # this screen wrote nothing


def test_watch_of_a_finished_night_tells_it_whole_then_its_end():
    """A journal whose run-end is already written: every record is told before `run ended`, not just the end."""
    out: list[str] = []
    follow(ROOT / "tests" / "fixtures" / "journal-v1-rolled-back.jsonl", out.append)
    text = "\n".join(out)
    assert "→ shift green to 10%" in text and "← rollback (guard breached: error_rate[green]" in text
    assert out[-1] == "run ended: rolled-back" and sum(line.startswith("run ended") for line in out) == 1
