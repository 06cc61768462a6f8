"""A relative guard on the simulator: green's p95 judged against blue's, headless, end to end."""

import asyncio
import re

from backends.base import ScaledClock
from backends.simulated import SCENARIO_OVERRIDE
from tests.conftest import ROOT
from tui.engine import journal
from tui.engine.plan import load_plan_text
from tui.headless import run_headless


def test_a_slow_canary_is_rolled_back_by_green_against_blue(tmp_path, capsys):
    demo = (ROOT / "examples" / "demo.yaml").read_text()
    relative = "  - {metric: latency_p95, worse_than: blue, by: 20%, for: 30s, action: rollback, no_data: hold}"
    text = re.sub(r"  - \{metric: latency_p95, above: 800.*\n", relative + "\n", demo)
    assert relative in text
    loaded = load_plan_text(text, str(tmp_path / "plan.yaml"))
    path = tmp_path / "night.jsonl"
    code = asyncio.run(run_headless(loaded, path, ScaledClock(60), yes=True, shared={SCENARIO_OVERRIDE: "slow-canary"}))
    out = capsys.readouterr().out
    assert code == 3, out[-3000:]  # rolled back
    # Headless says the comparison: green's value, the bound from blue, and blue's own value.
    said = re.search(r"latency_p95\[green\] (\d+)ms > (\d+)ms \(blue (\d+)ms \+20%\)", out)
    assert said, out[-3000:]
    green, bound, blue = (int(x) for x in said.groups())
    assert green > bound and abs(bound - blue * 1.2) <= 1
    records = journal.load(path).records
    guard = next(r["data"] for r in records if r["kind"] == "event" and r["data"].get("type") == "guard")
    assert guard["metric"] == "latency_p95" and "(blue " in guard["summary"]
    # Every decision has both sides' values behind it: the samples keep blue and green.
    at = next(i for i, r in enumerate(records) if r["kind"] == "event" and r["data"].get("type") == "guard")
    behind = [r["data"]["values"]["latency_p95"] for r in records[:at] if r["kind"] == "sample"][-5:]
    assert len(behind) == 5 and all({"blue", "green"} <= set(s["series"]) for s in behind)
    # The night the engine just wrote, replayed offline: its own guards roll back when it did; a guard that
    # only watches errors would not have rolled back before the recorded rollback.
    from tui.engine.rehearse import parse_guard, replay

    own = replay(records, list(loaded.plan.guards))
    assert own.rollback is not None and own.rollback.metric == "latency_p95"
    assert abs(own.rollback.at - own.original[0]) <= 2 * loaded.plan.settings.sample_interval
    errors_only = replay(records, [parse_guard("error_rate above 0.01 for 1m")])
    assert errors_only.rollback is None and errors_only.end == own.original[0]
