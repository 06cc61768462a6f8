"""A relative guard on the real lab: Prometheus scraping a blue and a green app whose latencies differ, HAProxy
moving the traffic. Green's p95 is judged against blue's on the same query, and the night rolls back on it."""

from __future__ import annotations

import re

import pytest

from tests.backends.test_evidence import headless, lab_factory  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration

RELATIVE = "  - {metric: latency_p95, worse_than: blue, by: 50%, for: 6s, action: rollback}\n"


async def test_a_slower_green_is_rolled_back_against_blue(lab_factory):  # noqa: F811
    lab = lab_factory(green_latency_ms=150, more_guards=RELATIVE, bake="1m")
    code, lines, records = await headless(lab)
    assert code == 3, "\n".join(lines[-40:])  # rolled back
    said = next(ln for ln in lines if "guard breached: latency_p95[green]" in ln)
    m = re.search(r"latency_p95\[green\] (\d+)ms > (\d+)ms \(blue (\d+)ms \+50%\)", said)
    assert m, said
    green, bound, blue = (int(x) for x in m.groups())
    assert green > bound >= blue * 1.5 - 1 and blue < 100 < green  # what the apps answer in, as Prometheus sees it
    event = next(r["data"] for r in records if r["kind"] == "event" and r["data"].get("type") == "guard")
    assert event["metric"] == "latency_p95" and event["action"] == "rollback"
    behind = [r["data"]["values"]["latency_p95"]["series"] for r in records if r["kind"] == "sample"
              and r["data"]["values"]["latency_p95"].get("series", {}).keys() >= {"blue", "green"}]
    assert behind and all(s["green"] > s["blue"] for s in behind[-3:])  # both sides' values behind the decision
