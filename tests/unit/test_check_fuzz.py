"""Property: whatever the plan text, `check` answers with FILE:LINE:COL problems or a valid plan, never a
traceback. Plans are generated from the real format's keys with hostile values mixed in."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui.engine.plan import LoadedPlan, PlanError, load_plan_text

# YAML tokens JSON cannot spell: emitted unquoted in place of their placeholder.
RAW = [".inf", "-.inf", ".nan", ".NaN", "1e999", "0x1F", "0o17", "0777", "~", "!!binary AAAA", "!!float nan",
       "!!int 1" + "0" * 60, "&a [*a]", "*nowhere", "{<<: {a: 1}}", "2026-11-30", "yes", "off", "1_000", "12:30:00",
       "!!python/object:os.system x", "? complex\n  : key"]
SCALARS = st.one_of(
    st.sampled_from([f"@RAW{i}@" for i in range(len(RAW))]),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.sampled_from(["", "5m", "30s", "1h30m", "250ms", "0s", "nan", ".inf", "-.inf", "yes", "no", "0777", "1e309",
                     "99999999999999999999h", "22:30", "25:99", "${SECRET}", "\x1b[2J", "ação", "\u202e", "*a", "&a"]),
    st.text(max_size=20),
)
KEYS = st.sampled_from(["version", "name", "phases", "steps", "guards", "metrics", "backends", "traffic", "type",
                        "above", "below", "for", "no_data", "action", "shift", "bake", "gate", "run", "command",
                        "checklist", "owner", "window", "start", "end", "settings", "timeout", "sample_interval",
                        "unit", "query", "source", "metric", "phases", "notify", "url", "probe", "x"])
TREES = st.recursive(SCALARS, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=5)), max_leaves=25)


def plan_texts() -> st.SearchStrategy[str]:
    base = st.fixed_dictionaries({
        "version": st.one_of(st.just(1), SCALARS),
        "name": st.one_of(st.just("night"), SCALARS),
        "backends": st.one_of(st.just({"metrics": [{"type": "simulated"}]}), TREES),
        "metrics": st.one_of(st.just({"e": {"unit": "ratio"}, "http.errors": {}, "5xx": {}}), TREES),
        "guards": st.lists(st.dictionaries(KEYS, st.one_of(SCALARS, st.just("e")), max_size=5), max_size=3),
        "phases": st.lists(st.one_of(TREES, st.fixed_dictionaries({
            "name": st.text(min_size=1, max_size=8),
            "steps": st.lists(st.dictionaries(KEYS, SCALARS, max_size=2), max_size=3)})), max_size=3),
    })
    # JSON is YAML: every generated tree is a syntactically valid document; raw text covers the rest.
    return st.one_of(base.map(_yaml_text), st.text(max_size=200))


def _yaml_text(tree: dict) -> str:
    text = json.dumps(tree, allow_nan=True)
    for i, token in enumerate(RAW):
        text = text.replace(f'"@RAW{i}@"', token)
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan_texts())
def test_check_never_raises_anything_but_plan_errors(text):
    try:
        loaded = load_plan_text(text, "fuzz.yaml")
    except PlanError as e:
        assert e.issues
        for issue in e.issues:
            assert str(issue).startswith("fuzz.yaml:") and issue.line >= 1 and issue.col >= 1
        return
    assert isinstance(loaded, LoadedPlan)
    for guard in loaded.plan.guards:  # a guard that can never fire is not a valid plan
        assert guard.threshold == guard.threshold and abs(guard.threshold) != float("inf")
