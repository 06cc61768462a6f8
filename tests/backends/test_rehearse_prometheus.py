"""`shipdeck rehearse PLAN` against a real Prometheus on loopback, loaded with a history we planted (promtool
builds the blocks from OpenMetrics text): the planted spikes give exactly the expected trips, the planted gap is
reported, and the suggested threshold clears the history by its margin."""

import re
import subprocess
import time
from datetime import UTC, datetime

import pytest

from tests.backends.conftest import require_binary, start_prometheus, stop
from tests.conftest import ROOT, shipdeck_cmd

STEP = 15
# Minutes from the start of the history: (start, length, value). A spike must last the guard's 2m window.
SPIKES = [(30, 4, 0.05), (70, 1, 0.08), (100, 3, 0.04)]
GAP = (130, 15)  # no samples at all for a quarter of an hour


def value_at(minute: float) -> float | None:
    if GAP[0] <= minute < GAP[0] + GAP[1]:
        return None
    for start, length, value in SPIKES:
        if start <= minute < start + length:
            return value
    return 0.002 + 0.0005 * ((minute * 7) % 3)  # a healthy, slightly uneven baseline


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    promtool = require_binary("promtool")
    tmp = tmp_path_factory.mktemp("rehearse")
    end = int(time.time()) - 120
    start = end - 3 * 3600
    lines = ["# TYPE app_error_ratio gauge"]
    for t in range(start, end, STEP):
        v = value_at((t - start) / 60)
        if v is not None:
            lines.append(f'app_error_ratio{{colour="blue"}} {v} {t}')
    (tmp / "history.om").write_text("\n".join([*lines, "# EOF"]) + "\n")
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(tmp / "history.om"), str(tmp / "tsdb")],
                   check=True, capture_output=True)
    prom = start_prometheus(tmp, [])
    plan = tmp / "plan.yaml"
    plan.write_text(f"""\
version: 1
name: planted history
backends:
  metrics: [{{type: prometheus, url: "{prom.url}"}}]
metrics:
  error_rate: {{query: app_error_ratio, unit: ratio}}
guards:
  - {{metric: error_rate, above: 0.02, for: 2m, action: rollback}}
settings: {{sample_interval: {STEP}s}}
phases: [{{name: Canary}}]
""")
    yield plan, start, end
    stop(prom.proc)


def rehearse(plan, start, end, *extra, env):
    iso = lambda t: datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    return subprocess.run(shipdeck_cmd("rehearse", str(plan), "--from", iso(start), "--to", iso(end), *extra),
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def test_planted_spikes_trip_exactly_where_expected_and_the_gap_is_reported(history, clean_env, tmp_path):
    plan, start, end = history
    res = rehearse(plan, start, end, "--no-charts", "--markdown", str(tmp_path / "r.md"), env=clean_env)
    assert res.returncode == 0, res.stderr
    # The 4- and 3-minute spikes trip a 2-minute window when it completes; the 1-minute one never does.
    assert "would have tripped 2 time(s), at +32m, +1h42m" in res.stdout, res.stdout
    assert "closest approach: 8% at +1h10m" in res.stdout  # the short spike came closest, and did not trip
    assert "longest breach 3m45s of 2m" in res.stdout
    gaps = [(m.group(1), m.group(2)) for m in re.finditer(r"no data from \+(\S+) to \+(\S+)", res.stdout)]
    assert len(gaps) == 1, res.stdout  # Prometheus looks back 5m, so the gap shows from 2h15m to its end
    assert gaps[0][1] == "2h25m" and gaps[0][0] in ("2h15m", "2h15m15s")
    assert "read" in res.stderr  # progress while Prometheus answers
    md = (tmp_path / "r.md").read_text()
    assert "| error_rate above 2% for 2m → rollback | 2 | 8% |" in md
    assert "## error_rate" in md and "```text" in md and "would-be trips (x)" in md  # its chart, for a review


def test_the_suggested_threshold_clears_the_history_by_its_margin(history, clean_env):
    plan, start, end = history
    res = rehearse(plan, start, end, "--no-charts", "--margin", "25%", env=clean_env)
    m = re.search(r"suggested: above (\S+)% for 2m, the tightest that clears this history by 25% \(the worst it "
                  r"held for a whole window: (\S+)%\)", res.stdout)
    assert m, res.stdout
    suggested, held = float(m.group(1)), float(m.group(2))
    assert held == 5 and suggested == pytest.approx(6.25, abs=0.06)  # the 4-minute spike held 5% for a whole window
    again = rehearse(plan, start, end, "--no-charts", "--guard", f"error_rate above {suggested / 100} for 2m",
                     env=clean_env)
    assert "would not have tripped" in again.stdout, again.stdout
    tighter = rehearse(plan, start, end, "--no-charts", "--guard", f"error_rate above {held / 100 * 0.99} for 2m",
                       env=clean_env)
    assert "would have tripped 1 time(s), at +3" in tighter.stdout, tighter.stdout  # just under it: the big spike


def test_check_rehearse_warns_at_a_guard_that_would_have_tripped(history, clean_env):
    plan, start, end = history
    res = subprocess.run(shipdeck_cmd("check", str(plan), "--rehearse", "4h"), capture_output=True, text=True,
                         env=clean_env, cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stderr
    (warning,) = [ln for ln in res.stderr.splitlines() if "would have tripped" in ln]
    assert warning.startswith(f"{plan}:8:5: guards[0]: warning: would have tripped 2 time(s) in the last 4h")
    assert "the night would roll back on what happened here lately" in warning
    offline = subprocess.run(shipdeck_cmd("check", str(plan), "--rehearse", "1h", "--offline"), capture_output=True,
                             text=True, env=clean_env, cwd=ROOT)
    assert offline.returncode == 2 and "cannot be --offline" in offline.stderr
