"""What is masked, and what is not: secrets whole, ordinary words never."""

import subprocess

from tests.conftest import ROOT, shipdeck_cmd
from tui.engine import journal
from tui.engine.secrets import MASK, Redactor, secretish


def test_shell_and_brace_references_are_both_masked_whole(monkeypatch):
    monkeypatch.setenv("API_TOKEN", "s3cr3t-Tok3n")
    monkeypatch.setenv("DB_PASS", "hunter2x")
    r = Redactor({"phases": [{"steps": [{"run": {"command": 'curl -H "X: $API_TOKEN" && psql ${DB_PASS}'}}]}]})
    assert r.text('echo "auth failed for s3cr3t-Tok3n"') == f'echo "auth failed for {MASK}"'
    assert r.text("pw=hunter2x;") == f"pw={MASK};"
    assert r.text("hunter2xyz and xs3cr3t-Tok3n") == "hunter2xyz and xs3cr3t-Tok3n"  # never inside a longer word


def test_plain_words_and_short_values_are_never_masked(monkeypatch):
    monkeypatch.setenv("STAGE", "production")
    monkeypatch.setenv("HOME", "/root")
    monkeypatch.setenv("SHORT", "on")
    r = Redactor({"backends": {"notify": [{"type": "webhook", "url": "http://127.0.0.1:9/hook"}]},
                  "phases": [{"steps": [{"run": "deploy $STAGE $SHORT && cd $HOME"}]}]})
    text = 'plan "type": "webhook" deploys to production from /root, on the hook'
    assert r.text(text) == text
    assert r.text("posted to http://127.0.0.1:9/hook") == f"posted to {MASK}"  # the whole literal URL still is


def test_what_counts_as_secretish():
    assert secretish("hunter2")  # short, but two kinds of character
    assert secretish("production", "API_TOKEN")  # a variable named like a credential
    assert not secretish("production") and not secretish("hook") and not secretish("/root", "HOME")
    assert secretish("T000/B000/XXXXsecretXXXX")


def test_a_failing_step_that_prints_a_token_is_masked_in_every_view(tmp_path, clean_env):
    plan = tmp_path / "plan.yaml"
    plan.write_text("""\
version: 1
name: secrets
backends: {traffic: {type: simulated, delay: 0}}
phases:
  - name: Deploy
    steps:
      - run: 'echo "auth failed for $API_TOKEN"; exit 1'
""")
    env = {**clean_env, "API_TOKEN": "tok-9f8e7d6c5b"}
    j = tmp_path / "j.jsonl"
    run = subprocess.run(shipdeck_cmd("run", str(plan), "--headless", "--yes", "--journal", str(j)),
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert run.returncode == 1
    assert f"headless run cannot continue (step failed: exit 1: auth failed for {MASK}" in run.stdout
    report = subprocess.run(shipdeck_cmd("report", str(j)), capture_output=True, text=True, env=env, cwd=ROOT)
    watch = subprocess.run(shipdeck_cmd("watch", "--once", str(j)), capture_output=True, text=True, env=env,
                           cwd=ROOT)
    for where, text in (("headless", run.stdout + run.stderr), ("journal", j.read_text()),
                        ("report", report.stdout), ("watch", watch.stdout)):
        assert "tok-9f8e7d6c5b" not in text, where
    assert f"auth failed for {MASK}" in report.stdout and journal.load(j).records
