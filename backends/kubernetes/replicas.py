"""replicas: a fixed number of pods shared between the blue and green Deployments (the split is approximate)."""

from __future__ import annotations

from typing import Any

from backends.base import TrafficSplit
from backends.kubernetes.api import DEPLOYMENT, Change, Kind
from backends.kubernetes.strategy import Strategy, TrafficConfig, version_of


class Replicas(Strategy):
    field = "green"
    deployments = True

    def objects(self, c: TrafficConfig) -> list[tuple[Kind, str]]:
        return [(DEPLOYMENT, c.blue), (DEPLOYMENT, c.green)]

    def split(self, c: TrafficConfig, objs: list[dict[str, Any]]) -> TrafficSplit:
        b, g = ((o.get("spec") or {}).get("replicas") or 0 for o in objs)
        ready = [int((o.get("status") or {}).get("readyReplicas") or 0) for o in objs]
        pct = round(100 * g / (b + g)) if b + g else 0
        return TrafficSplit(pct, f"replicas {c.blue}={b} ({ready[0]} ready) {c.green}={g} ({ready[1]} ready): "
                                 f"a pod ratio, so the request split is approximate")

    def changes(self, c: TrafficConfig, objs: list[dict[str, Any]], pct: int) -> list[Change]:
        green = c.replicas * pct // 100
        sides = [Change(DEPLOYMENT, c.blue, {"metadata": version_of(objs[0]), "spec": {"replicas": c.replicas - green}}),
                 Change(DEPLOYMENT, c.green, {"metadata": version_of(objs[1]), "spec": {"replicas": green}})]
        # The side that grows goes first, so capacity never dips between the two patches.
        now_green = (objs[1].get("spec") or {}).get("replicas") or 0
        return sides[::-1] if green > now_green else sides

    def describe(self, c: TrafficConfig, pct: int) -> str:
        return (f"Deployments {c.blue}={c.replicas - c.replicas * pct // 100} "
                f"{c.green}={c.replicas * pct // 100} (approximate split)")

    def shift_error(self, c: TrafficConfig, pct: int) -> str:
        if not (c.replicas * pct) % 100:
            return ""
        near = sorted({round(100 * k / c.replicas) for k in range(c.replicas + 1)}, key=lambda p: abs(p - pct))[:2]
        return (f"with replicas: {c.replicas}, {pct}% is not a whole number of pods; "
                f"reachable nearby: {', '.join(f'{p}%' for p in sorted(near))}")
