"""Import fidelity over the fixture runbooks, each beside its expected-outcome table (docs/runbook-import.md)."""

from pathlib import Path

from tui.engine.runbook.fidelity import report, score_folder

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "runbooks"


def test_fixture_runbooks_import_as_a_person_expects():
    scores, total = score_folder(FIXTURES)
    print("\n".join(report(scores, total)))
    assert len(scores) >= 3
    assert total.wrong_of("guard") == 0, total.wrong  # no wrong active guard
    assert total.wrong_of("run") == 0, total.wrong  # no invented run step
    assert total.wrong == [], total.wrong
    assert total.dropped == [], total.dropped  # every criterion line is active or in review
    assert total.recall >= 0.95  # the README quotes this figure


def test_a_wrong_guard_and_a_dropped_criterion_are_counted(tmp_path):
    (tmp_path / "rb.md").write_text("# N\n## Go\n- [ ] x\n\nRoll back if error rate > 2% for 5 minutes.\n\n"
                                    "Deploy at 22:00 and keep the queue depth low.\n")
    (tmp_path / "rb.expected.md").write_text("| line | kind | expect |\n| --- | --- | --- |\n"
                                             "| 5 | guard | error_rate above 0.05 300 rollback |\n"
                                             "| 7 | criterion | a person's words, never a guard |\n")
    (score,), total = score_folder(tmp_path)
    assert score.wrong == ["line 5 guard error_rate above 0.02 for 300.0 rollback"]
    assert score.dropped == ["line 7 criterion a person's words, never a guard"]
    assert score.precision == 0 and score.recall == 0
