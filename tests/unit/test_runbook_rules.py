"""One English and one Portuguese runbook per import rule, each asserting the plan it gives."""

import pytest

from tui.engine.runbook import import_text


def plan_of(text: str):
    r = import_text(text, "rb.md")
    return r.loaded.plan, r.summary


def steps(phase):
    return [(type(s).__name__.removesuffix("Step").lower(), getattr(s, type(s).__name__.removesuffix("Step").lower()))
            for s in phase.steps]


def step_kind(step):
    return next(iter(type(step).model_fields))


def gate_criteria(plan):
    """The criteria the plan asks a human to check ("Rollback criterion, checked by a human: … — all clear?")."""
    return [s.gate.split(": ", 1)[1].rsplit(" — ", 1)[0] for p in plan.phases for s in p.steps if hasattr(s, "gate")]


def guards(plan):
    return {(g.metric, g.op, g.threshold, g.for_, g.action) for g in plan.guards}


# ---------------------------------------------------------------- 1. a real Markdown parser

PARSER = {
    "en": """Release night
=============

Deploy
------
- [ ] Tag the release

````md
```bash
./deploy.sh   # an example inside an example: not a step
```
````

| Check | Command |
|-------|---------|
| grep  | `grep a\\|b log` |
""",
    "pt": """Noite de release
================

Implantação
-----------
- [ ] Criar a tag

````md
```bash
./deploy.sh   # exemplo dentro de exemplo: não é passo
```
````

| Verificação | Comando |
|-------------|---------|
| grep        | `grep a\\|b log` |
""",
}


@pytest.mark.parametrize("lang", ["en", "pt"])
def test_setext_headings_nested_fences_and_escaped_pipes(lang):
    plan, _ = plan_of(PARSER[lang])
    assert plan.name == {"en": "Release night", "pt": "Noite de release"}[lang]
    (phase,) = plan.phases
    assert phase.name == {"en": "Deploy", "pt": "Implantação"}[lang]
    assert steps(phase) == []  # the ```bash inside ````md is text
    assert any("```bash" in n for n in phase.notes)
    assert any(n.endswith("| `grep a|b log`") for n in phase.notes)  # one cell, pipe kept


# ---------------------------------------------------------------- 2. the real phases

PHASES = {
    "en": """# Night
## Table of contents
- Phase 1
- Phase 2
## Phase 1: Configure the reverse proxy
- [ ] Reload nginx
## Phase 2: Incident drill
### Step 2.1 Deploy
```bash
./deploy.sh green
```
### Step 2.2 Verify
```bash
curl -f http://green/health
```
## Troubleshooting
```bash
kubectl logs deploy/web
```
## Contacts
- DBA: Ana
## Appendix
Some history.
""",
    "pt": """# Noite
## Índice
- Fase 1
- Fase 2
## Fase 1: Configurar o proxy reverso
- [ ] Recarregar o nginx
## Fase 2: Simulado de incidente
### Passo 2.1 Implantar
```bash
./deploy.sh green
```
### Passo 2.2 Verificar
```bash
curl -f http://green/health
```
## Solução de problemas
```bash
kubectl logs deploy/web
```
## Contatos
- DBA: Ana
## Apêndice
Um pouco de história.
""",
}


@pytest.mark.parametrize("lang", ["en", "pt"])
def test_phases_are_where_the_work_is_and_groups_are_not_copied(lang):
    plan, _ = plan_of(PHASES[lang])
    names = [p.name for p in plan.phases]
    assert len(names) == 2 and names[0].endswith(("reverse proxy", "proxy reverso"))  # a word never erases a phase
    assert names[1].startswith(("Phase 2", "Fase 2"))
    runs = [v.command for p in plan.phases for k, v in steps(p) if k == "run"]
    assert runs == ["./deploy.sh green", "curl -f http://green/health"]  # once each, not copied
    notes = " ".join(n for p in plan.phases for n in p.notes)
    assert "kubectl logs deploy/web" in notes and "Ana" in notes  # troubleshooting and contacts: notes
    assert not any("kubectl" in r for r in runs)


GROUPS = {
    "en": "# Night\n## 1. Preparation\n### 1.1 Checks\n- [ ] Backup\n### 1.2 Infra\n- [ ] Scale up\n",
    "pt": "# Noite\n## 1. Preparação\n### 1.1 Verificações\n- [ ] Backup\n### 1.2 Infra\n- [ ] Escalar\n",
}


@pytest.mark.parametrize("lang", ["en", "pt"])
def test_a_section_holding_only_subsections_is_a_group(lang):
    plan, _ = plan_of(GROUPS[lang])
    assert [p.name for p in plan.phases] == [{"en": "Checks", "pt": "Verificações"}[lang], "Infra"]
    assert [len(p.checklist) for p in plan.phases] == [1, 1]


# ---------------------------------------------------------------- 3. criteria, wherever they are

CRITERIA = {
    "en": """# Night
## Canary
Switch 10% of traffic to green.
Roll back if the error rate exceeds 2% for 5 minutes.
Consider rolling back if p99 latency > 800ms.

## Automatic Halt Rules
- More than 50 errors per minute
- Alert if CPU > 90% for 10 minutes

| Metric | Threshold | Window | Action |
|--------|-----------|--------|--------|
| Memory | > 85% | 5 min | rollback |

## Decision tree
- Is availability < 99.5%? → Yes: roll back

## Acceptance criteria
- Error rate < 0.1%
""",
    "pt": """# Noite
## Canário
Direcionar 10% do tráfego para o green.
Fazer rollback se a taxa de erro passar de 2% por 5 minutos.
Considere rollback se a latência p99 > 800ms.

## Regras de interrupção automática (halt)
- Mais de 50 erros por minuto
- Alertar se CPU > 90% por 10 minutos

| Métrica | Limite | Janela | Ação |
|---------|--------|--------|------|
| Memória | > 85% | 5 min | rollback |

## Árvore de decisão
- Disponibilidade < 99,5%? → Sim: rollback

## Critérios de aceite
- Taxa de erro < 0,1%
""",
}


@pytest.mark.parametrize("lang", ["en", "pt"])
def test_criteria_in_prose_lists_tables_and_trees_with_their_action(lang):
    plan, summary = plan_of(CRITERIA[lang])
    assert guards(plan) == {  # every part written: metric, direction, threshold, duration, action
        ("error_rate", "above", 0.02, 300, "rollback"),
        ("cpu", "above", 90, 600, "alert"),
        ("memory", "above", 85, 300, "rollback"),
    }  # acceptance criteria are not triggers
    proposed = {(r.line, r.guard.metric, r.guard.op, r.guard.threshold, r.guard.action) for r in plan.review}
    assert proposed == {  # no duration written: proposals a person accepts, edits or drops
        (5, "latency_p99", "above", 800, "pause"),  # p99 is not p95; "consider" pauses
        (8, "errors_per_min", "above", 50, "rollback"),  # a count per minute, not a ratio
        (16, "availability", "below", 99.5, "rollback"),
        (19, "error_rate", "above", 0.001, "alert"),  # an acceptance goal: never a rollback; alerts if missed
    }
    assert all(r.status == "pending" for r in plan.review)
    assert [r.why for r in plan.review][-1] == "no duration given; a goal, so the proposal alerts when it is missed"
    assert [k for k, _ in steps(plan.phases[0])] == ["shift"]
    lines = [int(x.split("line ")[1].split(",")[0]) for x in summary if x.startswith("guard (")]
    assert lines == [4, 9, 13]  # the line of each criterion in the runbook (a table: its row)


# ---------------------------------------------------------------- 4. commands stay commands

COMMANDS = {
    "en": """# Night
## Switch
```bash
./traffic-switch.sh --percentage=10 --target=green
```
Expected output:
```
switched 10% to green
```
```bash
for pod in $(kubectl get pods -o name); do
  kubectl delete "$pod"
done
```
### Option A: Vercel
```bash
vercel deploy --prod
```
### Option B: Railway
```bash
railway up
```
### Cache warm-up (optional)
```bash
./warm.sh
```
""",
    "pt": """# Noite
## Virada
```bash
./traffic-switch.sh --percentage=10 --target=green
```
Saída esperada:
```
switched 10% to green
```
```bash
for pod in $(kubectl get pods -o name); do
  kubectl delete "$pod"
done
```
### Opção A: Vercel
```bash
vercel deploy --prod
```
### Opção B: Railway
```bash
railway up
```
### Aquecer o cache (opcional)
```bash
./warm.sh
```
""",
}


@pytest.mark.parametrize("lang", ["en", "pt"])
def test_commands_stay_commands(lang):
    plan, summary = plan_of(COMMANDS[lang])
    t = plan.backends.traffic
    assert t.type == "command" and t.model_extra["manual"] is True
    assert t.model_extra["shift"] == "./traffic-switch.sh --percentage={target_percent} --target={target}"
    (phase,) = plan.phases
    kinds = steps(phase)
    assert kinds[0] == ("shift", 10)
    runs = [v for k, v in kinds if k == "run"]
    assert runs[0].command.startswith("for pod in") and runs[0].command.endswith("done")  # one script, one step
    assert not any("switched 10%" in r.command for r in runs)  # expected output is not a step
    assert any(k == "gate" and "Vercel" in v and "Railway" in v for k, v in kinds)  # a choice
    assert not any(r.command in ("vercel deploy --prod", "railway up") for r in runs)  # not a chain
    assert any(r.command == "./warm.sh" and r.description.startswith("(optional)") for r in runs)
    assert any("by hand until enabled" in s for s in summary)


# ---------------------------------------------------------------- 5. nothing pretends


@pytest.mark.parametrize("text", [
    "# N\n## Go\n- [ ] x\n## Rollback criteria\n- Error rate > 150% for 5 min\n- Error rate > 2% for 5 min\n",
    "# N\n## Ir\n- [ ] x\n## Critérios de rollback\n- Taxa de erro > 150% por 5 min\n- Taxa de erro > 2% por 5 min\n"])
def test_guards_are_not_connected_and_impossible_ones_are_flagged(text):
    plan, summary = plan_of(text)
    assert [m.type for m in plan.backends.metrics] == ["unconnected"]
    assert [(g.metric, g.threshold, g.no_data) for g in plan.guards] == [("error_rate", 0.02, "ignore")]
    assert any("NOT CONNECTED" in s for s in summary)
    (never,) = plan.review  # a threshold the metric can never cross never acts, and says why
    assert never.line == 5 and "never fires" in never.why and never.guard.threshold == 1.5


# ---------------------------------------------------------------- 8. the summary


SUMMARY = {
    "en": ("# N\n\n| Phase | Start |\n|---|---|\n| Nowhere | 22:00 |\n\n## Go\n- [ ] x\n"
           "## Rollback criteria\n- 5xx\n- Queue depth > 500\n"),
    "pt": ("# N\n\n| Fase | Início |\n|---|---|\n| Nowhere | 22:00 |\n\n## Go\n- [ ] x\n"
           "## Critérios de rollback\n- 5xx\n- Queue depth > 500\n"),
}


@pytest.mark.parametrize("lang", ["en", "pt"])
def test_the_summary_names_lines_and_what_was_not_used_or_guessed(lang):
    r = import_text(SUMMARY[lang], "rb.md")
    summary = r.summary
    assert summary[0] == "1 phases: Go (line 7)"
    assert "review (line 3, schedule): no phase matches this row  ← 'Nowhere | 22:00'" in summary
    assert ("review (line 10, criterion): not understood as metric, threshold and window  ← '5xx'") in summary
    assert ("review (line 11, guard): metric 'queue_depth' guessed from the words; no duration given → proposed "
            "queue_depth above 500 for 1m (a guess), rollback  ← 'Queue depth > 500'") in summary
    assert [(r.line, r.kind) for r in r.loaded.plan.review] == [(10, "criterion"), (11, "guard"), (3, "schedule")]
    header = r.yaml_text.split("version: 1")[0]  # the summary is in the YAML's header, before the plan
    assert "# Import summary:" in header and "#   1 phases: Go (line 7)" in header


@pytest.mark.parametrize("lang", ["en", "pt"])
def test_imported_traffic_is_moved_by_hand_and_never_shown_as_read_back(lang):
    from tests.unit.test_machine import cmd, kinds
    from tui.engine.initial import initial_state
    from tui.engine.machine import transition
    from tui.engine.state import refusal
    from tui.viewmodel import split

    plan, _ = plan_of(COMMANDS[lang])
    s = initial_state(plan)
    s, eff = transition(s, cmd("advance", 1))
    assert "shift" not in kinds(eff)  # shipdeck runs nothing
    assert s.waiting == ("by hand: move green to 10%, then approve — "
                         "./traffic-switch.sh --percentage=10 --target=green")
    s, _ = transition(s, cmd("approve", 2, who="ana"))
    assert s.traffic == 10 and s.phases[0].steps[0].detail == "moved by hand, confirmed by ana (not read back)"
    assert split(s.to_dict(), busy=False).status == "unknown"  # the operator's word, never "live"
    s, eff = transition(s, cmd("rollback", 3, reason="by test"))
    assert "rollback" not in kinds(eff) and s.status == "rolling-back"
    assert s.waiting == "ROLL BACK BY HAND, then approve — ./traffic-switch.sh --percentage=100 --target=blue"
    assert refusal(s, "approve") is None
    s, _ = transition(s, cmd("approve", 4))
    assert s.status == "rolled-back" and s.traffic == 0


# ---------------------------------------------------------------- found by trying runbooks nobody here wrote


@pytest.mark.parametrize(("text", "expected"), [
    ("Error rate must stay below 1% — if error rate > 1% for 5 min, abort", ("error_rate", "above", 0.01, 300)),
    ("Roll back if more than 1,000 errors per minute for 5 minutes", ("errors_per_min", "above", 1000, 300)),
    ("Fazer rollback se mais de 1.000 erros por minuto por 5 minutos", ("errors_per_min", "above", 1000, 300)),
    ("Alert if memory usage > 8 GB", ("memory", "above", 8e9, None)),
    ("Roll back if queue depth > 10k", ("queue_depth", "above", 10000, None)),
    ("Fazer rollback se a latência média passar de 500ms por 10 minutos", ("latency_avg", "above", 500, 600)),
    ("Roll back if error rate exceeds 2% in 5 minutes", ("error_rate", "above", 0.02, 300)),
])
def test_criteria_people_write(text, expected):
    from tui.engine.runbook import parse_criterion

    g = parse_criterion(text)
    assert g is not None and (g.metric, g.op, g.value, g.window) == expected


@pytest.mark.parametrize("text", ["Roll back if latency increases by more than 20% compared to baseline",
                                  "Roll back if p99 latency exceeds 2x baseline",
                                  "Roll back if the crash loop lasts more than 10 minutes"])
def test_relative_thresholds_and_durations_are_for_a_human(text):
    from tui.engine.runbook import parse_criterion

    assert parse_criterion(text) is None


def test_two_criteria_in_one_sentence_are_two_guards():
    plan, _ = plan_of("# N\n## Go\n- [ ] x\n\nRoll back if error rate > 2% for 5 minutes or p99 > 1s for 2 minutes.\n")
    assert {(g.metric, g.threshold, g.action) for g in plan.guards} == {("error_rate", 0.02, "rollback"),
                                                                         ("latency_p99", 1000, "rollback")}
    plan, _ = plan_of("# N\n## Go\n- [ ] x\n\nRoll back if error rate > 2% for 5 minutes or p99 > 1s.\n")
    assert [g.metric for g in plan.guards] == ["error_rate"]  # the window is the first one's
    assert [(r.guard.metric, r.why) for r in plan.review] == [("latency_p99", "no duration given")]


@pytest.mark.parametrize("title", ["Reverse proxy cutover", "Rollback rehearsal in staging",
                                   "Emergency contacts list update", "Rollback automático: configurar o gatilho"])
def test_a_title_that_starts_with_a_reference_word_is_still_work(title):
    plan, _ = plan_of(f"# N\n## {title}\n- [ ] do it\n```bash\n./run.sh\n```\n## Contacts\n- Ana\n")
    assert [p.name for p in plan.phases] == [title]
    assert [c.text for c in plan.phases[0].checklist] == ["do it"]


def test_repeated_section_names_become_distinct_phases_and_options_are_a_choice():
    text = ("# N\n## Backend\n### Deploy\n- [ ] b\n### Verify\n- [ ] bv\n## Frontend\n### Deploy\n- [ ] f\n"
            "### Verify\n- [ ] fv\n## Ship the site\nPick one.\n### Option A: Vercel\n```bash\nvercel deploy\n```\n"
            "### Option B: Railway\n```bash\nrailway up\n```\n")
    plan, _ = plan_of(text)
    assert [p.name for p in plan.phases] == ["Backend › Deploy", "Backend › Verify", "Frontend › Deploy",
                                             "Frontend › Verify", "Ship the site"]
    site = plan.phases[-1]
    assert [k for k, _ in steps(site)] == ["gate"] and "Vercel" in site.steps[0].gate


def test_traffic_moves_written_as_checkboxes_are_steps():
    plan, _ = plan_of("# N\n## Canary\n- [ ] Switch 20% of traffic to green\n- [ ] Wait 5 minutes\n- [ ] Smoke test\n")
    assert steps(plan.phases[0]) == [("shift", 20), ("bake", 300)]
    assert [c.text for c in plan.phases[0].checklist] == ["Smoke test"]


def test_check_on_a_runbook_points_at_the_runbooks_own_lines(clean_env):
    import subprocess

    from tests.conftest import ROOT, shipdeck_cmd

    fixture = ROOT / "tests" / "fixtures" / "runbooks" / "checkout-release.md"
    res = subprocess.run(shipdeck_cmd("check", str(fixture), "--offline"), capture_output=True, text=True,
                         env=clean_env, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    warned = [int(ln.split(":")[1]) for ln in res.stderr.splitlines() if ln.startswith(str(fixture))]
    assert warned == [47, 48, 49, 50, 51]  # the five criteria lines, not lines of the generated YAML
    assert "4 imported item(s) not reviewed" in res.stdout


def test_unreviewed_items_never_act_unseen_on_connected_metrics(tmp_path, clean_env):
    import json
    import subprocess

    from tests.conftest import ROOT, shipdeck_cmd

    r = import_text("# N\n## Go\n- [ ] x\n## Rollback criteria\n- Error rate > 2% for 5 min\n- p99 > 1s\n", "rb.md")
    # The operator points the metrics at a real source but decides nothing.
    plan = tmp_path / "plan.yaml"
    plan.write_text(r.yaml_text.replace("{name: runbook, type: unconnected}", "{name: runbook, type: simulated}"))
    run = [*shipdeck_cmd("run", str(plan), "--headless", "--yes"), "--journal"]
    refused = subprocess.run([*run, str(tmp_path / "a.jsonl")], capture_output=True, text=True, env=clean_env,
                             cwd=ROOT, timeout=60)
    assert refused.returncode == 2
    assert "1 imported item(s) not reviewed (runbook lines 6)" in refused.stderr
    assert "shipdeck review" in refused.stderr and not (tmp_path / "a.jsonl").exists()
    ran = subprocess.run([*run, str(tmp_path / "b.jsonl"), "--accept-import"], capture_output=True, text=True,
                         env={**clean_env, "SHIPDECK_OPERATOR": "ana"}, cwd=ROOT, timeout=120)
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    start = json.loads((tmp_path / "b.jsonl").read_text().splitlines()[0])
    assert start["kind"] == "run-start"
    accepted = start["data"]["import_accepted"]
    assert accepted["pending"] == [6] and "ana" in accepted["by"]
    assert [x["status"] for x in start["data"]["plan"]["review"]] == ["pending"]  # the item, as it stood
    assert "import accepted by" in ran.stdout


def test_a_canary_weight_patched_by_kubectl_is_the_traffic_command_and_moves_once():
    from tests.conftest import ROOT

    r = import_text((ROOT / "tests/fixtures/runbooks/flag-stages.md").read_text(), "flag-stages.md")
    plan = r.loaded.plan
    shift = plan.backends.traffic.model_extra["shift"]
    assert shift.startswith("kubectl -n search patch ingress ranking-canary") and '"{target_percent}"' in shift
    assert [v for p in plan.phases for k, v in steps(p) if k == "shift"] == [1, 10, 100]  # heading + command: once
    stage2 = plan.phases[1]
    assert stage2.duration == 4 * 3600  # "(4 hours)" in its heading is the stage's planned length
    assert any("Continue monitoring for 7 days" in n for n in plan.phases[2].notes)  # after the night, not a bake
    assert not any(k == "run" and "flags.sh" in v.command for p in plan.phases for k, v in steps(p))  # controls, reference
    sev = next(x for x in plan.review if x.line == 52)  # a severity tier: not a goal, and its deadline is no window
    assert (sev.guard.op, sev.guard.threshold, sev.guard.action, sev.why) == (
        "above", 0.02, "alert", "no duration given; names no action: the proposal alerts")


@pytest.mark.parametrize("title", ["Communication plan", "Plano de comunicação", "Escalation", "Escalamiento",
                                   "Roles and responsibilities"])
def test_communication_and_escalation_sections_are_reference_not_phases(title):
    plan, _ = plan_of(f"# N\n## Deploy\n- [ ] ship it\n## {title}\n- [ ] Post in #releases\n1. Call the on-call lead\n")
    assert [p.name for p in plan.phases] == ["Deploy"]
    assert any("Post in #releases" in n for n in plan.phases[0].notes)


def test_alternatives_inside_one_block_are_one_choice():
    plan, _ = plan_of("# N\n## Roll out\n```bash\n./deploy.sh --env prod\n# or, via the API\n"
                      "curl -X POST http://deploy.internal/run\n# OU pelo painel: clique em Deploy\n```\n")
    (step,) = plan.phases[0].steps
    assert step.gate.startswith("Choose one and do it") and "./deploy.sh" in step.gate and "curl" in step.gate


def test_thresholds_no_guard_reads_still_reach_review():
    plan, _ = plan_of("# N\n## Go\n- [ ] x\n\n**Decision time**: < 5 minutes from the alert\n\n## Thresholds\n"
                      "```yaml\ncritical:\n  - error_rate > 5%\n  - cpu_usage > 90%\n```\n")
    assert [(r.line, r.kind, r.text) for r in plan.review] == [
        (5, "criterion", "Decision time: < 5 minutes from the alert"),
        (10, "criterion", "error_rate > 5%"), (11, "criterion", "cpu_usage > 90%")]
    assert plan.guards == []  # seen by a person, never acting by themselves


def test_an_imported_threshold_is_written_exactly():
    plan, _ = plan_of("# N\n## Go\n- [ ] x\n\nRoll back if p95 latency > 1234567ms for 5 minutes.\n")
    assert [g.threshold for g in plan.guards] == [1234567]  # not 1.23457e+06, read back as 1234570


def test_a_lead_in_inside_a_phase_gives_its_list_the_action_it_names():
    plan, _ = plan_of("# N\n## Phase 1: Canary\n- [ ] shift by hand\n\nRoll back if any of the following occur:\n\n"
                      "1. Error rate > 2% for 5 minutes\n2. p95 latency > 800ms\n")
    assert [(g.metric, g.action) for g in plan.guards] == [("error_rate", "rollback")]
    assert [(r.guard.metric, r.guard.action, r.why) for r in plan.review] == [
        ("latency_p95", "rollback", "no duration given")]  # the lead-in's action, not an alert
    assert not any(k == "gate" for k, _ in steps(plan.phases[0]))  # a list of triggers, not a procedure


def test_a_table_of_targets_gives_goals_whose_proposals_alert_when_missed():
    plan, _ = plan_of("# N\n## Phase 1: Go\n- [ ] x\n\n| Metric | Target | Actual |\n|---|---|---|\n"
                      "| Checkout latency | < 3s | ____ |\n")
    (item,) = plan.review
    assert (item.line, item.text) == (7, "Checkout latency: < 3s")
    assert (item.guard.op, item.guard.threshold, item.guard.action) == ("above", 3000, "alert")


@pytest.mark.parametrize("title", ["Paso 4.1: Rollback en Vercel", "Local build rollback", "Rollback de migração",
                                   "Niveau 1 : Rollback application (< 5 min)", "Simulated failure test",
                                   "Prueba de fallo simulado", "Appendix: quick commands"])
def test_undoing_and_trying_the_safety_net_are_reference_not_the_nights_steps(title):
    plan, _ = plan_of(f"# N\n## Deploy\n- [ ] ship it\n### {title}\n```bash\nvercel ls\nvercel rollback\n```\n")
    assert [p.name for p in plan.phases] == ["Deploy"] and steps(plan.phases[0]) == []
    assert "    vercel rollback" in plan.phases[0].notes and plan.review == []


@pytest.mark.parametrize("title", ["Deploy with automatic rollback", "Rollback rehearsal in staging",
                                   "Reverse proxy cutover", "Phase 2: Incident drill"])
def test_a_title_that_mentions_undoing_is_still_work(title):
    plan, _ = plan_of(f"# N\n## {title}\n```bash\n./run.sh\n```\n")
    assert [p.name for p in plan.phases] == [title] and steps(plan.phases[0])[0][0] == "run"


@pytest.mark.parametrize("command, blank", [("psql -h <host> -U app < backup.sql", "<host>"),
                                            ("vercel promote [deployment-url]", "[deployment-url]"),
                                            ("curl -H 'Authorization: YOUR_TOKEN' http://x", "YOUR_TOKEN")])
def test_a_command_with_a_value_to_fill_in_waits_in_review_in_its_place(command, blank):
    plan, summary = plan_of(f"# N\n## Deploy\n```bash\n./build.sh\n{command}\n./deploy.sh\n```\n")
    assert [v.command for _, v in steps(plan.phases[0])] == ["./build.sh", "./deploy.sh"]
    (item,) = plan.review
    assert (item.line, item.kind, item.phase, item.position, item.step.run.command) == (5, "step", "Deploy", 1, command)
    assert blank in item.why and any("review (line 5, step)" in s for s in summary)


def test_grep_classes_and_redirections_are_not_blanks():
    plan, _ = plan_of("# N\n## Deploy\n```bash\ngrep -c '[a-z]' app.log\nsort <in.txt >out.txt\n```\n")
    assert len(steps(plan.phases[0])) == 2 and plan.review == []


@pytest.mark.parametrize("comment", ["On rollback", "If unhealthy", "Se falhar:", "En caso de error"])
def test_a_command_under_a_condition_waits_in_review(comment):
    plan, _ = plan_of(f"# N\n## Go\n```bash\n./ship.sh\n\n# {comment}\n./page-oncall.sh\n```\n")
    assert [v.command for _, v in steps(plan.phases[0])] == ["./ship.sh"]
    assert [(r.line, r.step.run.command) for r in plan.review] == [(7, "./page-oncall.sh")]


def test_a_script_files_contents_are_notes_and_the_line_that_runs_it_is_the_step():
    plan, _ = plan_of("# N\n## Verify\n```bash\n./scripts/check.sh\n```\n### The check script\n```bash\n#!/bin/bash\n"
                      "# scripts/check.sh\nset -e\ncurl -f http://green/health\n```\n")
    assert [v.command for _, v in steps(plan.phases[0])] == ["./scripts/check.sh"]
    assert any("contents of scripts/check.sh" in n for n in plan.phases[0].notes)


def test_braces_inside_a_quoted_body_do_not_make_a_script():
    plan, _ = plan_of("# N\n## Test\n```bash\ncurl -X POST http://a/x \\\n  -d '{\n    \"k\": 1\n  }'\n\n"
                      "curl -X POST http://a/y -d '{\"k\": 2}'\n```\n")
    assert [k for k, _ in steps(plan.phases[0])] == ["run", "run"]


def test_a_block_that_selects_a_tools_context_is_one_sequence_unless_it_moves_traffic():
    plan, _ = plan_of("# N\n## Merge\n```bash\ngit checkout main\ngit pull\ngit merge develop\n```\n"
                      "## Canary\n```bash\nrailway environment canary\n./deploy.sh --traffic 10\nsleep 300\n```\n")
    merge, canary = plan.phases
    assert [k for k, _ in steps(merge)] == ["run"] and "git merge develop" in steps(merge)[0][1].command
    assert [k for k, _ in steps(canary)] == ["run", "shift", "bake"]


def test_thresholds_in_config_objects_shell_tests_comments_and_multiples_reach_review():
    plan, _ = plan_of("# N\n## Go\n- [ ] x\n\n```ts\nconst gates = [\n  {\n    metric: 'error_rate',\n"
                      "    threshold: 0.01,  // 1%\n    window: '5min',\n    action: 'rollback'\n  },\n];\n```\n\n"
                      "```yaml\nrun: |\n  if [ \"$ERR\" -gt \"2\" ]; then exit 1; fi\n```\n\n"
                      "```bash\n# Checks:\n# - Positive feedback ratio > 80%\n./check.sh\n```\n\n"
                      "### Windows\n- **5-minute window**: 14x burn rate\n")
    assert [(r.line, r.kind) for r in plan.review] == [(9, "criterion"), (18, "criterion"), (23, "criterion"),
                                                       (28, "criterion")]
    assert plan.review[0].text == "metric: 'error_rate', threshold: 0.01, window: '5min', action: 'rollback'"
    assert plan.guards == []  # seen by a person, never acting by themselves


def test_a_hard_line_break_ends_an_item():
    plan, _ = plan_of("# N\n## Go\n- [ ] x\n\n**Hotline**: #eng-alerts  \n**Decision time**: <5 minutes from the alert\n")
    assert [(r.line, r.text) for r in plan.review] == [(6, "Decision time: <5 minutes from the alert")]


def test_a_lead_in_that_states_a_window_gives_it_to_each_criterion_without_one():
    plan, _ = plan_of("# N\n## Canary\n- [ ] shift by hand\n\n### Auto-rollback conditions\n"
                      "Rollback is triggered if **any** of the following occur for 10 consecutive minutes:\n\n"
                      "1. **p95 latency** > 800ms\n2. **Error rate** > 0.5%\n3. CPU > 90% for 2 minutes\n")
    assert guards(plan) == {("latency_p95", "above", 800, 600, "rollback"), ("error_rate", "above", 0.005, 600, "rollback"),
                            ("cpu", "above", 90, 120, "rollback")}  # its own window wins
    assert plan.review == []


@pytest.mark.parametrize("said", ["If a rollback is required, revert the last migration:",
                                  "Se precisar voltar atrás, reverta a migração:", "En caso de error, revertir:"])
def test_a_sentence_that_makes_the_block_after_it_conditional_sends_it_to_review(said):
    plan, _ = plan_of(f"# N\n## Migrate\n```bash\nnpm run migrate\n```\n\n{said}\n\n```bash\nnpm run migrate:revert\n"
                      "./traffic.sh --percentage 0\n```\n")
    assert [v.command for _, v in steps(plan.phases[0])] == ["npm run migrate"]
    assert [(r.line, step_kind(r.step)) for r in plan.review] == [(10, "run"), (11, "run")]  # the move too


def test_a_sentence_that_only_orders_things_keeps_the_block():
    plan, _ = plan_of("# N\n## Deploy\nWhen the build is green, run:\n\n```bash\n./deploy.sh\n```\n")
    assert [v.command for _, v in steps(plan.phases[0])] == ["./deploy.sh"] and plan.review == []


def test_what_a_tool_does_by_itself_is_not_a_shift():
    plan, _ = plan_of("# N\n## Trigger\n1. Click **Run workflow**. It ships the release and routes 5 % of traffic for "
                      "30 minutes.\n2. Switch 50% of traffic to green.\n")
    assert [k for k, _ in steps(plan.phases[0])] == ["gate", "shift"]
    assert [v for k, v in steps(plan.phases[0]) if k == "shift"] == [50]


def test_spanish_and_french_comparisons_are_thresholds():
    plan, _ = plan_of("# N\n## Go\n- [ ] x\n\n### Criterios de rollback\n- Tasa de error superior al 5% durante 5 "
                      "minutos\n- Latencia p95 superior a 2 segundos durante 10 minutos\n")
    assert guards(plan) == {("error_rate", "above", 0.05, 300, "rollback"), ("latency_p95", "above", 2000, 600, "rollback")}


def test_a_bound_to_tick_in_a_checklist_is_a_goal_whose_proposal_alerts_when_missed():
    plan, _ = plan_of("# N\n## After the deploy\n- [ ] **Metrics normal**\n  - [ ] CPU < 80%\n  - [ ] Error rate < 1%\n"
                      "- [ ] Roll back if error rate > 5% for 5 minutes\n")
    assert [(r.line, r.guard.metric, r.guard.op, r.guard.action) for r in plan.review] == [
        (4, "cpu", "above", "alert"), (5, "error_rate", "above", "alert")]
    assert guards(plan) == {("error_rate", "above", 0.05, 300, "rollback")}  # its own words act


@pytest.mark.parametrize("text, op", [("Error rate < 1%", "above"), ("Response time < 500ms", "above"),
                                      ("Availability > 99.9%", "below"), ("Error rate > 5%", "above")])
def test_a_proposal_alerts_when_the_metric_goes_the_wrong_way_never_when_it_is_healthy(text, op):
    plan, _ = plan_of(f"# N\n## Go\n- [ ] x\n\n### Health\n- {text}\n")
    (item,) = plan.review
    assert (item.guard.op, item.guard.action) == (op, "alert")


def test_http_exchanges_configuration_and_records_are_not_commands():
    plan, _ = plan_of("# N\n## Canary\n```bash\n./traffic.sh --weight 10\n```\n## API example\n```bash\nGET /api/flags/x\n"
                      "Authorization: Bearer {token}\n\nResponse:\n{\n  \"enabled\": true\n}\n```\n## Flag settings\n"
                      "```bash\n# Settings\nenabled: true\nrolloutPercentage: 10\n```\n## Command executed on Tuesday\n"
                      "```bash\n./traffic.sh --weight 50\n```\n## Current status\n\n**CANARY 10% ACTIVE**\n")
    assert [p.name for p in plan.phases] == ["Canary"] and [k for k, _ in steps(plan.phases[0])] == ["shift"]


def test_a_shift_to_where_traffic_already_is_moves_nothing():
    plan, _ = plan_of("# N\n## Stage 1: canary 5%\n- [ ] check\n## Stage 2: canary 5% (again)\n- [ ] check\n"
                      "## Stage 3: canary 50%\n- [ ] check\n")
    assert [[v for k, v in steps(p) if k == "shift"] for p in plan.phases] == [[5], [], [50]]
    assert any("already at 5%" in n for n in plan.phases[1].notes)


def test_spanish_stages_ranges_and_windows_written_with_a_comparison():
    plan, _ = plan_of("# N\n## Fase 1\nEnrutamiento 10% a la versión nueva.\n\nDuración mínima: 20 a 30 minutos.\n\n"
                      "Rollback inmediato si:\n- Latencia p95 > 900 ms durante > 3 minutos\n")
    assert steps(plan.phases[0]) == [("shift", 10), ("bake", 1200)]
    assert guards(plan) == {("latency_p95", "above", 900, 180, "rollback")}


@pytest.mark.parametrize("title", ["Ferramentas úteis", "Useful tools", "Manual override", "Herramientas útiles",
                                   "Troubleshooting guide", "If canary pods won't start", "Se o deploy falhar", "Cleanup",
                                   "Logs"])
def test_toolboxes_overrides_and_troubleshooting_are_reference_subsections_too(title):
    plan, _ = plan_of(f"# N\n## Deploy\n- [ ] ship it\n## {title}\n```bash\nkubectl get events\n```\n### Database\n"
                      "```bash\npsql db < backup.sql\n```\n")
    assert [p.name for p in plan.phases] == ["Deploy"] and steps(plan.phases[0]) == []


def test_monitoring_after_all_traffic_moved_is_after_the_night_even_in_a_later_section():
    plan, _ = plan_of("# N\n## Stage 1\nSwitch 10% of traffic.\n\nWait 10 minutes.\n## Stage 2\nSwitch 100% of "
                      "traffic.\n## Timeline\n- [ ] Monitor the dashboard for 10 minutes\n")
    assert [k for p in plan.phases for k, _ in steps(p)] == ["shift", "bake", "shift"]


def test_settings_and_a_cd_after_a_command_in_review_are_not_steps_on_their_own():
    plan, _ = plan_of("# N\n## Setup\n```bash\ngit clone <your_repo_url>\ncd app\n```\n1. Edit `.env`:\n```\n"
                      "ACTIVE_POOL=green\n```\n```bash\n./start.sh\n```\n")
    assert [v.command for _, v in steps(plan.phases[0]) if hasattr(v, "command")] == ["./start.sh"]
    assert [(r.line, r.step.run.command) for r in plan.review] == [(4, "git clone <your_repo_url>"), (5, "cd app")]


def test_a_go_no_go_line_is_checked_in_its_own_stage_before_the_next_one_moves_traffic():
    plan, _ = plan_of("# N\n## Fase 1: Canary 10% (1 hora)\n### Decisión\n- SI métricas OK: continuar a Fase 2\n"
                      "## Fase 2: Canary 50% (5% traffic, 2 hours)\n- [ ] check\n")
    first, second = plan.phases
    assert [k for k, _ in steps(first)] == ["shift", "bake", "gate"] and "continuar a Fase 2" in steps(first)[2][1]
    assert steps(second) == [("shift", 50), ("bake", 7200)]


def test_a_bound_relative_to_the_stable_version_reaches_review():
    plan, _ = plan_of("# N\n## Go\n- [ ] **Error rate:** Canary ≤ Stable + 10%\n")
    assert [(r.line, r.kind) for r in plan.review] == [(3, "criterion")]


def test_a_table_whose_first_column_is_called_alert_still_gives_its_thresholds_to_review():
    plan, _ = plan_of("# N\n## Go\n- [ ] x\n\n### Alert rules\n| Alert | Threshold | Severity |\n|---|---|---|\n"
                      "| High error rate | > 5% | CRITICAL |\n| Memory leak | > 90% | WARNING |\n")
    assert [(r.line, r.guard.metric, r.guard.threshold) for r in plan.review] == [(8, "error_rate", 0.05),
                                                                                  (9, "memory", 90)]


def test_a_bound_in_another_column_of_a_table_of_targets_reaches_review():
    plan, _ = plan_of("# N\n## Go\n- [ ] x\n\n### Target metrics\n| Metric | Target | Action |\n|---|---|---|\n"
                      "| Throughput | ≥ Baseline | Investigate if < 90% baseline |\n"
                      "| p95 latency | < 2s | Roll back if > 3s for 5 minutes |\n")
    assert {r.line for r in plan.review} == {8, 9}  # the relative bound too, nothing silently dropped
    assert guards(plan) == {("latency_p95", "above", 3000, 300, "rollback")}


def test_a_percentage_of_a_latency_is_a_change_never_a_threshold_in_milliseconds():
    plan, _ = plan_of("# N\n## Go\n- [ ] x\n\n### Rollback triggers\n- P95 latency regression >20% sustained for 15 "
                      "minutes\n- p95 latency > 800ms for 5 minutes\n")
    assert guards(plan) == {("latency_p95", "above", 800, 300, "rollback")}  # not 20% read as 1,200,000 ms
    assert gate_criteria(plan) == ["P95 latency regression >20% sustained for 15 minutes"]


def test_a_stage_written_with_how_long_it_holds_its_weight_shifts_and_bakes():
    plan, _ = plan_of("# N\n## Traffic progression\n1. **Initial canary**: 10% traffic for 30 minutes\n"
                      "2. **Full rollout**: 100% traffic\n")
    assert steps(plan.phases[0]) == [("shift", 10), ("bake", 1800), ("shift", 100)]


def test_an_automated_rollback_procedure_is_reference():
    plan, _ = plan_of("# N\n## Deploy\n- [ ] ship it\n## Automated Rollback Procedure\n### Immediate actions\n"
                      "1. Reduce canary traffic to 0%\n")
    assert [p.name for p in plan.phases] == ["Deploy"] and steps(plan.phases[0]) == []


def test_a_multiple_written_with_the_times_sign_is_relative():
    plan, _ = plan_of("# N\n## Go\n- [ ] x\n\n### Promotion criteria\n- **Error budget burn**: <2× normal rate over "
                      "30-minute window\n")
    assert plan.guards == [] and [r.guard for r in plan.review] == [] and gate_criteria(plan) == [
        "Error budget burn: <2× normal rate over 30-minute window"]  # never a proposal of error_rate < 2%
