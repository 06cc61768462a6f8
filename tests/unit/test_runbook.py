"""Markdown runbooks in, plans out: the two real runbooks and English fixtures for every rule."""

import re
import subprocess

import pytest

from tests.conftest import ROOT, RUNBOOKS, shipdeck_cmd
from tui.engine.plan import RunStep, load_plan_text
from tui.engine.runbook import import_runbook, import_text, parse_criterion, repair_encoding

FIXTURES = ROOT / "tests" / "fixtures" / "runbooks"
needs_shared = pytest.mark.skipif(not RUNBOOKS.is_dir(), reason=f"shared runbooks not present at {RUNBOOKS}")


def steps_of(phase):
    out = []
    for s in phase.steps:
        kind = type(s).__name__.removesuffix("Step").lower()
        out.append((kind, getattr(s, kind)))
    return out


@needs_shared
def test_blue_green_guide():
    r = import_runbook(RUNBOOKS / "blue-green-guide.pt.md")
    plan = r.loaded.plan
    assert "√" not in r.yaml_text and "üöÄ" not in r.yaml_text and "Validação" in r.yaml_text
    assert plan.name == "DEPLOYMENT GUIDE v1.0.0 - AUDITORIA360"
    names = [p.name for p in plan.phases]
    assert names[:5] == ["Fase 1: Pre-Deploy", "Fase 2: Deploy Green Environment",
                         "Fase 3: Validação Green Environment", "Fase 4: Traffic Switch", "Fase 5: Validação Final"]
    pre = plan.phases[0]
    assert (pre.start, pre.duration, pre.owner) == ("01:30", 1800, "DevOps + QA")
    assert (plan.phases[3].owner, plan.phases[3].start) == ("Tech Lead", "02:30")
    assert (plan.phases[4].owner, plan.phases[4].duration) == ("Full Team", 3600)
    assert (plan.phases[2].start, plan.phases[2].duration) == ("02:15", 900)  # from its heading
    traffic = [(k, v) for k, v in steps_of(plan.phases[3]) if k in ("shift", "bake")]
    assert traffic == [("shift", 10), ("bake", 300), ("shift", 50), ("bake", 300), ("shift", 100)]
    runs = [v for k, v in steps_of(plan.phases[0]) if k == "run"]
    assert len(runs) == 9 and all(r.manual for r in runs)
    assert runs[0].command == "./scripts/health-check.sh production"
    assert runs[0].description == "Verificar status dos serviços"
    final = plan.phases[5]
    assert len(final.checklist) == 15 and final.checklist[0].text.endswith("Todos os testes passando")
    # Only a criterion with every part written acts; the others wait for a person, with the proposal.
    assert {(g.metric, g.op, g.threshold, g.for_) for g in plan.guards} == {("latency_avg", "above", 500, 300)}
    assert {(r.line, r.guard.metric, r.guard.op, r.guard.threshold, r.why) for r in plan.review
            if r.line in (239, 241)} == {(239, "error_rate", "above", 0.05, "no duration given"),
                                         (241, "availability", "below", 99, "no duration given")}
    # Targets of a monitoring dashboard are goals: the proposal alerts when one is missed, never rolls back.
    goal = next(r for r in plan.review if r.line == 317)
    assert (goal.guard.metric, goal.guard.op, goal.guard.threshold, goal.guard.action) == (
        "latency_p95", "above", 200, "alert")
    gates = [v for p in plan.phases for k, v in steps_of(p) if k == "gate"]
    assert any("Problema de segurança identificado" in g for g in gates)
    assert any("Falha crítica em funcionalidade essencial" in g for g in gates)
    # the rollback procedure is kept, as notes, never as steps of a normal night
    all_runs = [v.command for p in plan.phases for k, v in steps_of(p) if k == "run"]
    assert not any("--target=blue" in c for c in all_runs)
    assert any("--target=blue" in n for p in plan.phases for n in p.notes)


@needs_shared
def test_contingency_plan():
    r = import_runbook(RUNBOOKS / "contingency-plan.pt.md")
    plan = r.loaded.plan
    assert plan.name == "Plano de Deploy e Contingência"
    # Phases are the sections that hold the work; "1. Preparação para Produção" only groups two of them.
    assert [p.name for p in plan.phases] == ["Checklist Pré-Deploy", "Infraestrutura", "Deploy Gradual",
                                             "Checklist Pós-Deploy", "Sign-off"]
    assert [len(p.checklist) for p in plan.phases] == [7, 7, 0, 7, 5]
    assert plan.phases[1].checklist[0].text == "Scaling dos recursos de cloud"
    assert ("shift", 10) in steps_of(plan.phases[2])
    assert plan.backends.traffic.type == "command" and plan.backends.traffic.model_extra["manual"] is True
    assert plan.guards == []  # its criteria give no duration: all four wait for review
    proposed = {(r.guard.metric, r.guard.op, r.guard.threshold, r.guard.action) for r in plan.review}
    assert proposed == {("error_rate", "above", 0.01, "rollback"), ("latency_p95", "above", 1000, "rollback"),
                        ("cpu", "above", 80, "rollback"), ("memory", "above", 85, "rollback")}
    gates = " ".join(v for p in plan.phases for k, v in steps_of(p) if k == "gate")
    for text in ("Falhas de autenticação", "Problemas de segurança", "Inconsistência de dados"):
        assert text in gates
    notes = " ".join(n for p in plan.phases for n in p.notes)
    assert "Slack #prod-alerts" in notes and "Identificação do problema" in notes  # nothing dropped


@needs_shared
@pytest.mark.parametrize(("name", "green"), [
    # The contingency plan names only its first step (10%); "gradual increase" has no numbers to invent.
    ("contingency-plan.pt.md", 10),
    ("blue-green-guide.pt.md", 100),
])
def test_imported_runbooks_check_and_run_headless(tmp_path, clean_env, name, green):
    out = tmp_path / "plan.yaml"
    res = subprocess.run(shipdeck_cmd("import", str(RUNBOOKS / name), "-o", str(out)), capture_output=True,
                         text=True, env=clean_env, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert "import summary:" in res.stderr
    check = subprocess.run(shipdeck_cmd("check", str(out), "--offline"), capture_output=True, text=True,
                           env=clean_env, cwd=ROOT)
    assert check.returncode == 0, check.stderr
    # The runbook's bakes are minutes of real time: shorten them so the night runs in seconds.
    out.write_text(re.sub(r"bake: \w+", "bake: 1s", out.read_text()))
    run = subprocess.run(shipdeck_cmd("run", str(out), "--headless", "--yes", "--journal", str(tmp_path / "j.jsonl")),
                         capture_output=True, text=True, env=clean_env, cwd=tmp_path, timeout=240)
    assert run.returncode == 0, run.stdout[-3000:]  # completed as written, wherever it leaves the traffic...
    assert f"run completed: green {green}% (moved by hand, not read back)" in run.stdout  # ...which it says


@needs_shared
def test_run_a_runbook_directly(tmp_path, clean_env):
    run = subprocess.run(shipdeck_cmd("run", str(RUNBOOKS / "contingency-plan.pt.md"), "--headless", "--yes",
                                      "--journal", str(tmp_path / "j.jsonl")),
                         capture_output=True, text=True, env=clean_env, cwd=tmp_path, timeout=240)
    # The contingency plan only moves to 10%, by hand: it completes, and says where it left the traffic.
    assert "run completed: green 10% (moved by hand, not read back)" in run.stdout, run.stdout[-2000:]
    assert run.returncode == 0


def test_english_fixture_covers_every_rule():
    r = import_runbook(FIXTURES / "checkout-release.md")
    plan = r.loaded.plan
    assert plan.name == "Checkout v3.2 release"  # emoji cleaned
    prep, canary, signoff = plan.phases
    # schedule table with columns in another order, durations in two spellings
    assert (prep.owner, prep.start, prep.duration) == ("SRE on call", "22:00", 1200)
    assert (canary.owner, canary.duration) == ("Platform", 3600)
    assert (signoff.owner, signoff.duration) == ("QA lead", 900)
    # checklists, ticked state kept, nested heading as group
    assert [(c.text, c.done) for c in prep.checklist] == [
        ("[Checks] Database snapshot taken", False), ("[Checks] Change ticket approved", True),
        ("[Checks] Status page updated", False)]
    # shell blocks: one manual step per command, comments as descriptions, continuation lines joined
    runs = [v for k, v in steps_of(prep) if k == "run"]
    assert [(x.command, x.description, x.manual) for x in runs] == [
        ("curl -fsS http://green.internal/health", "Confirm the new build is healthy", True),
        ("./scripts/warm-cache.sh --env=prod --parallel=4", "Warm the caches before the canary", True)]
    # prose and command traffic moves, waits from prose, from a comment
    traffic = [(k, v) for k, v in steps_of(canary) if k in ("shift", "bake")]
    assert traffic == [("shift", 10), ("bake", 300), ("shift", 50), ("shift", 100), ("bake", 600)]
    assert ("gate", "Done: Confirm the support queue is quiet?") in steps_of(canary)
    # criteria: units normalised, for: taken from the text, unmeasurable -> gate
    assert {(g.metric, g.op, g.threshold, g.for_) for g in plan.guards} == {("error_rate", "above", 0.02, 300)}
    assert {(r.line, r.guard.metric, r.guard.op, r.guard.threshold) for r in plan.review} == {
        (48, "latency_p95", "above", 1500), (49, "cpu", "above", 90), (50, "memory", "above", 80),
        (51, "availability", "below", 99.5)}  # no duration written: a person decides
    assert any("double charges" in v for k, v in steps_of(canary) if k == "gate")
    # what fits nowhere is kept as notes, and the summary says so
    assert "Some closing words that fit nowhere." in signoff.notes
    assert any("this: is not a shell block" in n for n in signoff.notes)
    assert any("--target=blue" in n for n in canary.notes)  # rollback procedure: notes, not steps
    assert any(s.startswith("phase 'Phase 3: Sign-off'") and "notes" in s for s in r.summary)
    assert "# Import summary:" in r.yaml_text


@pytest.mark.parametrize(("text", "expected"), [
    ("Taxa de erro > 1%", ("error_rate", "above", 0.01, None)),
    ("Error rate > 5%", ("error_rate", "above", 0.05, None)),
    ("Response time médio > 500ms por 5 minutos consecutivos", ("latency_avg", "above", 500, 300)),
    ("Uso de CPU > 80%", ("cpu", "above", 80, None)),
    ("Memória > 85%", ("memory", "above", 85, None)),
    ("Availability < 99%", ("availability", "below", 99, None)),
    ("Latência P95 > 2s", ("latency_p95", "above", 2000, None)),
    ("**Error rate** above 3% for 2 minutes", ("error_rate", "above", 0.03, 120)),
    ("Disponibilidade abaixo de 99,9% durante 10 min", ("availability", "below", 99.9, 600)),
])
def test_criteria(text, expected):
    g = parse_criterion(text)
    assert g is not None and (g.metric, g.op, g.value, g.window) == expected


def test_unmeasurable_criteria_are_not_guards():
    assert parse_criterion("Problema de segurança identificado") is None
    assert parse_criterion("Customer complaints") is None


def test_encoding_repair_without_a_table():
    clean = "# 🚀 Validação do deploy\n\n- [ ] Verificação de dependências — “ok”\n"
    for enc in ("mac_roman", "cp1252", "latin-1"):
        try:
            broken = clean.encode("utf-8").decode(enc)
        except UnicodeDecodeError:
            continue
        fixed, how = repair_encoding(broken)
        assert fixed == clean, enc
        assert how is not None
    assert repair_encoding(clean) == (clean, None)  # clean text comes through unchanged
    plain = "Curly “quotes” and ﬁ ligature stay as written"
    assert repair_encoding(plain) == (plain, None)


def test_broken_fixture_imports_like_the_clean_one():
    clean = (FIXTURES / "checkout-release.md").read_text(encoding="utf-8")
    broken = clean.encode("utf-8").decode("mac_roman")
    assert "üöÄ" in broken
    a = import_text(clean, "clean.md").loaded.plan
    b = import_text(broken, "broken.md").loaded.plan
    assert a.model_dump() == b.model_dump()


def test_runbook_without_structure_still_gives_a_runnable_plan():
    r = import_text("Just a paragraph of text.\n\n- a bullet\n", "notes.md")
    plan = r.loaded.plan
    assert len(plan.phases) == 1 and "Just a paragraph of text." in plan.phases[0].notes
    assert load_plan_text(r.yaml_text, "x.yaml").plan == plan


def test_binary_runbook_is_refused(tmp_path):
    from tui.engine.plan import PlanError

    p = tmp_path / "x.md"
    p.write_bytes(b"\x00\x01\x02")
    with pytest.raises(PlanError, match="binary"):
        import_runbook(p)


def test_check_takes_a_runbook_as_markdown_or_text(tmp_path, clean_env):
    text = tmp_path / "release.txt"
    text.write_bytes((FIXTURES / "checkout-release.md").read_bytes())
    for path in (FIXTURES / "checkout-release.md", text):
        res = subprocess.run([*shipdeck_cmd("check", str(path), "--offline")], capture_output=True, text=True,
                             env=clean_env, cwd=ROOT)
        assert res.returncode == 0, res.stderr
        assert f"{path}: ok" in res.stdout and "phases" in res.stdout


def test_underscores_in_inline_code_and_in_words_are_kept():
    """An underscore inside a word or inline code is not emphasis (CommonMark): a_b.sh stays a_b.sh."""
    text = ("# Deploy\n\n## Phase 1: Prepare\n1. Run `./scripts/check_health.sh --env=prod_green`\n"
            "- If the **error_rate** > 2% for 5 min, roll back\n- _Owner_: ops_team\n")
    out = import_text(text, "rb.md").yaml_text
    assert "./scripts/check_health.sh --env=prod_green" in out
    assert "metric: error_rate," in out and "errorrate" not in out and "checkhealth" not in out


def test_a_script_in_a_fence_is_one_step_not_one_shell_per_line():
    """Variables, a cd, a bare `ssh host` only make sense in one shell: split, `rm -rf $DIR/$STAMP` loses its
    $DIR. Independent commands stay one step each."""
    text = ("# Night\n\n## Phase 1: Backup\n```bash\n#!/bin/bash\nDIR=/var/backups\nSTAMP=$(date +%F)\n"
            "rm -rf $DIR/$STAMP\n```\n\n## Phase 2: Migrate\n```sh\nssh db-primary\ncd /app\n./manage.py migrate\n```\n\n"
            "## Phase 3: Checks\n```sh\ncurl -fsS https://app.example/health\nkubectl get pods -n shop\n```\n")
    plan = load_plan_text(import_text(text, "rb.md").yaml_text, "rb.yaml").plan
    runs = [[s.run.command for s in ph.steps if isinstance(s, RunStep)] for ph in plan.phases]
    assert runs[0] == ["#!/bin/bash\nDIR=/var/backups\nSTAMP=$(date +%F)\nrm -rf $DIR/$STAMP"]
    assert runs[1] == ["ssh db-primary\ncd /app\n./manage.py migrate"]
    assert runs[2] == ["curl -fsS https://app.example/health", "kubectl get pods -n shop"]
    assert "meant to run on db-primary" in plan.phases[1].steps[0].run.description


def test_a_goal_is_not_a_trigger_and_a_lead_in_gives_its_list_an_action():
    """Under a plain criteria heading, "adoption above 20%" is a goal: a note for review, not a rollback. A list after
    "the system automatically pauses the rollout if any of:" pauses; a trigger heading still rolls back."""
    text = ("# Beta\n\n## Beta criteria\n- Adoption rate above 20%\n- Error rate > 2% for 5 min: roll back\n\n"
            "## Monitoring\nThe system automatically pauses the rollout if any of:\n\n- p95 latency > 800ms for 2 min\n"
            "- error rate > 5% for 1 min\n\n## Rollback triggers\n- CPU > 90% for 10 min\n")
    result = import_text(text, "rb.md")
    plan = load_plan_text(result.yaml_text, "rb.yaml").plan
    actions = {(g.metric, g.above): g.action for g in plan.guards}
    assert not any(g.above == 20 or g.above == 0.2 for g in plan.guards), actions
    assert actions[("error_rate", 0.02)] == "rollback"
    assert actions[("latency_p95", 800.0)] == "pause" and actions[("error_rate", 0.05)] == "pause"
    assert actions[("cpu", 90.0)] == "rollback"
    assert "Adoption rate above 20%" in result.yaml_text  # kept, for a person to judge


def test_an_arrow_chain_keeps_its_waits_and_a_stage_holds_its_weight_for_its_duration():
    text = ("# Rollout\n\n## Phase 3: Canary\n1. Shift traffic: 10% traffic → Wait 2 minutes → 50% → Wait 5 minutes"
            " → 100%\n\n## Stage 2: Half\nDuration: 24 hours\n- Route 50% of traffic to green\n")
    plan = load_plan_text(import_text(text, "rb.md").yaml_text, "rb.yaml").plan
    steps = [[s.model_dump(exclude_none=True, by_alias=True) for s in ph.steps] for ph in plan.phases]
    assert [list(s)[0] for s in steps[0]] == ["shift", "bake", "shift", "bake", "shift"]
    assert [s.get("shift") for s in steps[0]][::2] == [10, 50, 100]
    assert [s.get("bake") for s in steps[0]][1::2] == [120.0, 300.0]
    assert steps[1] == [{"shift": 50}, {"bake": 86400.0}]


def test_a_fence_without_a_language_is_commands_only_when_it_reads_as_commands():
    text = ("# Night\n\n## Phase 1: Tell the customers\n```\nSubject: Maintenance tonight\nHello team,\n"
            "the checkout will be read-only from 22:00.\n```\n\n## Phase 2: Checks\n```\n- [ ] dashboards green\n"
            "- [ ] on-call paged\n```\n\n## Phase 3: Deploy\n```\nkubectl apply -f green.yaml\n./smoke_test.sh\n```\n")
    result = import_text(text, "rb.md")
    plan = load_plan_text(result.yaml_text, "rb.yaml").plan
    runs = [[s.run.command for s in ph.steps if isinstance(s, RunStep)] for ph in plan.phases]
    assert runs == [[], [], ["kubectl apply -f green.yaml", "./smoke_test.sh"]], runs
    assert any("Hello team," in n for n in plan.phases[0].notes)
    assert any("dashboards green" in n for n in plan.phases[1].notes)


def test_web_vitals_are_their_own_metrics_and_a_percentage_keeps_its_unit():
    """INP is not a latency percentile, CLS is a unitless score (0.1 is not 0.1 ms), and "conversion below 2%" is
    2 percent, not the plain number 2."""
    got = {t: parse_criterion(t) for t in ("CLS > 0.1 for 5 min", "INP p75 > 200ms for 5 min",
                                          "checkout conversion below 2% for 10 min")}
    assert [(g.metric, g.value, g.unit) for g in got.values() if g] == [
        ("web_vitals_cls", 0.1, ""), ("web_vitals_inp", 200.0, "ms"), ("checkout_conversion", 2.0, "percent")]


def test_a_kpi_table_with_threshold_columns_gives_a_guard_per_threshold_with_its_columns_action():
    text = ("# Release\n\n## KPIs\n| KPI | Target | Alert threshold | Rollback threshold | Window |\n|---|---|---|---|---|\n"
            "| Error rate | < 0.5% | > 1% | > 2% | 5 min |\n| Availability | > 99.9% | < 99.5% | < 99% | 5 min |\n")
    plan = load_plan_text(import_text(text, "rb.md").yaml_text, "rb.yaml").plan
    got = sorted((g.metric, g.action, g.above, g.below, g.for_) for g in plan.guards)
    assert got == [("availability", "alert", None, 99.5, 300.0), ("availability", "rollback", None, 99.0, 300.0),
                   ("error_rate", "alert", 0.01, None, 300.0), ("error_rate", "rollback", 0.02, None, 300.0)], got


def test_message_templates_and_manual_controls_are_notes_not_steps():
    """A status-update template ("HH:MM: 10% of traffic shifted") moves no traffic, and the list of overrides an
    operator may use (roll back, pause, force-promote to 100%) is not four steps in a row."""
    text = ("# Night\n\n## Canary\n1. Route 10% of traffic to green\n\n## Status update template\n"
            "- HH:MM: 10% of traffic shifted\n- HH:MM: 50% of traffic shifted\n- HH:MM: 100% of traffic shifted\n\n"
            "## Manual controls\n- Roll back: `./switch.sh --percent 0`\n- Pause the rollout\n"
            "- Force-promote: `./switch.sh --percent 100`\n\n## Half\n- Route 50% of traffic to green\n"
            "- Post in #deploys: \\\"{{time}}: 50% shifted\\\"\n")
    plan = load_plan_text(import_text(text, "rb.md").yaml_text, "rb.yaml").plan
    shifts = [s.shift for ph in plan.phases for s in ph.steps if hasattr(s, "shift")]
    assert shifts == [10, 50], shifts
    assert not any(isinstance(s, RunStep) for ph in plan.phases for s in ph.steps)
    notes = " ".join(n for ph in plan.phases for n in ph.notes)
    assert "HH:MM: 10% of traffic shifted" in notes and "Force-promote" in notes
