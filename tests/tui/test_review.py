"""`shipdeck review`: accept, edit and drop an import's review items on screen; each decision is in the file."""

import shutil

import pytest

from tests.conftest import ROOT
from tui.engine.plan import load_plan
from tui.engine.runbook import import_runbook
from tui.review_app import ReviewApp

RUNBOOK = ROOT / "tests" / "fixtures" / "runbooks" / "checkout-release.md"


@pytest.fixture
def plan(tmp_path):
    shutil.copy(RUNBOOK, tmp_path / RUNBOOK.name)
    path = tmp_path / "checkout.plan.yaml"
    path.write_text(import_runbook(tmp_path / RUNBOOK.name).yaml_text, encoding="utf-8")
    return path


async def test_accept_edit_drop_are_written_back_with_who_and_when(plan):
    before = load_plan(plan).plan
    assert [g.metric for g in before.guards] == ["error_rate"] and len(before.pending_review()) == 4
    comments = [ln for ln in plan.read_text().splitlines() if ln.lstrip().startswith("#")]
    app = ReviewApp(plan, "ana")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("a")  # line 48, p95 > 1.5s: as proposed
        await pilot.press("e")  # line 49, CPU above 90%: 95 for 3m, then accepted
        await pilot.pause()
        for field, value in (("threshold", "95"), ("for", "3m")):
            box = app.screen.query_one(f"#f-{field}")
            box.value = ""
            box.focus()
            await pilot.press(*value)
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("d")  # line 50, memory: dropped
        await pilot.press("q")
    after = load_plan(plan).plan
    assert [(r.line, r.status, r.by) for r in after.review] == [
        (48, "accepted", "ana"), (49, "accepted", "ana"), (50, "dropped", "ana"), (51, "pending", "")]
    assert all(r.at.endswith("Z") for r in after.review[:3])
    # Accepted guards act; the dropped and the pending do not.
    assert {(g.metric, g.threshold, g.for_) for g in after.guards} == {
        ("error_rate", 0.02, 300), ("latency_p95", 1500, 60), ("cpu", 95, 180)}
    # Nothing else in the file moved: every comment is still there, in order.
    assert [ln for ln in plan.read_text().splitlines() if ln.lstrip().startswith("#")] == comments


async def test_an_invalid_edit_is_refused_on_screen_and_nothing_is_written(plan):
    text = plan.read_text()
    app = ReviewApp(plan, "ana")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("e")
        await pilot.pause()
        box = app.screen.query_one("#f-threshold")
        box.value = "a lot"
        box.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert "threshold: a number" in str(app.screen.query_one("#edit-error").render())
        await pilot.press("escape")
        await pilot.press("q")
    assert plan.read_text() == text


def test_the_review_screen_at_80x24(plan, snap_compare):
    assert snap_compare(ReviewApp(plan, "ana"), terminal_size=(80, 24))


def test_the_first_run_of_a_runbook_opens_its_review_and_runs_the_decisions(tmp_path):
    from tui.cli import _load_or_exit
    from tui.cli_import import review_first
    from tui.engine.review import decide

    runbook = tmp_path / RUNBOOK.name
    shutil.copy(RUNBOOK, runbook)
    seen = []

    def screen(path):  # the operator accepts the first item and leaves the rest pending
        seen.append(path)
        decide(path, 0, "accepted", "ana")

    plan, loaded = review_first(str(runbook), _load_or_exit(str(runbook)), screen)
    assert seen == [tmp_path / "checkout-release.plan.yaml"] and plan == str(seen[0])
    assert [g.metric for g in loaded.plan.guards] == ["error_rate", "latency_p95"]  # the accepted one acts
    # Once something is decided, the next run does not ask again; a runbook with its review beside it says so.
    assert review_first(plan, loaded, screen) == (plan, loaded) and len(seen) == 1
    again = _load_or_exit(str(runbook))
    assert review_first(str(runbook), again, screen) == (str(runbook), again) and len(seen) == 1


def test_write_back_keeps_every_field_exactly_and_the_comment_after_the_item(tmp_path):
    from tui.engine.review import decide

    plan = tmp_path / "p.yaml"
    plan.write_text("version: 1\nname: r\nbackends: {metrics: [{type: simulated}]}\n"
                    "metrics: {latency_p95: {unit: ms}, queue: {unit: count}}\nphases: [{name: A}]\nreview:\n"
                    '  - {line: 4, kind: guard, why: "x", text: "p95 2x blue", guard: {metric: latency_p95, '
                    'worse_than: blue, by: 20%, test: mann-whitney, min_samples: 12, for: 1m30s}}  # see {note}\n'
                    '  - {line: 5, kind: guard, why: "y", text: "queue", guard: {metric: queue, above: 1234567, '
                    'for: 1500ms}}\n')
    loaded = decide(plan, 0, "accepted", "ana")
    decide(plan, 1, "accepted", "ana")
    g = load_plan(plan).plan.guards
    assert (g[0].worse_than, g[0].by, g[0].test, g[0].min_samples, g[0].for_) == ("blue", "20%", "mann-whitney", 12, 90)
    assert (g[1].threshold, g[1].for_) == (1234567, 1.5)
    assert plan.read_text().splitlines()[6].endswith("}  # see {note}") and loaded.plan.review[0].status == "accepted"


STEPS_RUNBOOK = ROOT / "tests" / "fixtures" / "runbooks" / "tienda-vercel.es.md"


async def test_a_step_in_review_joins_its_phase_where_the_runbook_had_it_once_edited_and_accepted(tmp_path):
    shutil.copy(STEPS_RUNBOOK, tmp_path / STEPS_RUNBOOK.name)
    plan = tmp_path / "tienda.plan.yaml"
    plan.write_text(import_runbook(tmp_path / STEPS_RUNBOOK.name).yaml_text, encoding="utf-8")
    before = load_plan(plan).plan
    deploy = before.phases[1]
    assert [s.run.command for s in deploy.steps] == ["npm ci", "npm run build", "vercel deploy --prebuilt"]
    assert [(r.line, r.kind, r.phase, r.position) for r in before.review] == [
        (26, "step", deploy.name, 3), (63, "step", "Paso 4: Avisar", 1)]
    app = ReviewApp(plan, "ana")
    async with app.run_test(size=(80, 24)) as pilot:
        assert "vercel promote <url-del-despliegue>" in str(app.query_one("#detail").render())
        await pilot.press("e")  # the placeholder filled in, then accepted
        await pilot.pause()
        box = app.screen.query_one("#f-step")
        box.value = ""
        box.focus()
        await pilot.press(*"vercel promote tienda-2-4.vercel.app")
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("d")  # the message sent only on failure: dropped
        await pilot.press("q")
    after = load_plan(plan).plan
    assert [(r.status, r.by) for r in after.review] == [("accepted", "ana"), ("dropped", "ana")]
    assert [(s.run.command, s.run.manual) for s in after.phases[1].steps] == [
        ("npm ci", True), ("npm run build", True), ("vercel deploy --prebuilt", True),
        ("vercel promote tienda-2-4.vercel.app", True)]
    assert len(after.phases[3].steps) == 1  # the dropped step never joined


def test_accepted_steps_keep_the_runbooks_order_and_a_wrong_phase_is_named_at_its_line(tmp_path):
    from tui.engine.plan import PlanError, load_plan_text

    head = ("version: 1\nname: r\nphases:\n  - name: A\n    steps:\n      - run: one\n      - run: three\n"
            "  - name: B\nreview:\n")
    items = ('  - {line: 1, kind: step, status: accepted, why: x, text: two, phase: A, position: 1, step: {run: two}}\n'
             '  - {line: 2, kind: step, status: accepted, why: x, text: four, phase: A, position: 2, step: {bake: 2m}}\n'
             '  - {line: 3, kind: step, status: pending, why: x, text: zero, phase: A, position: 0, step: {run: zero}}\n'
             '  - {line: 4, kind: step, status: accepted, why: x, text: b, phase: B, position: 0, step: {shift: 10}}\n')
    plan = load_plan_text(head + items, "p.yaml").plan
    a, b = plan.phases
    assert [type(s).__name__ for s in a.steps] == ["RunStep", "RunStep", "RunStep", "BakeStep"]
    assert [s.run.command for s in a.steps[:3]] == ["one", "two", "three"] and a.steps[3].bake == 120
    assert [s.shift for s in b.steps] == [10]
    with pytest.raises(PlanError) as e:
        load_plan_text(head + items.replace("phase: B", "phase: C"), "p.yaml")
    assert [(i.line, "'C'" in i.message) for i in e.value.issues] == [(13, True)]
    with pytest.raises(PlanError) as e:  # an accepted step that is not valid: named where it is written
        load_plan_text(head + items.replace("{shift: 10}", "{shift: 300}"), "p.yaml")
    assert [(i.line, i.path) for i in e.value.issues] == [(13, "review[3].step.shift")]


def test_a_step_in_review_at_80x24(tmp_path, snap_compare):
    shutil.copy(STEPS_RUNBOOK, tmp_path / STEPS_RUNBOOK.name)
    plan = tmp_path / "tienda.plan.yaml"
    plan.write_text(import_runbook(tmp_path / STEPS_RUNBOOK.name).yaml_text, encoding="utf-8")
    assert snap_compare(ReviewApp(plan, "ana"), terminal_size=(80, 24))
