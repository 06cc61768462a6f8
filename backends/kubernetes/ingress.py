"""ingress-nginx: the canary Ingress's weight annotations."""

from __future__ import annotations

from typing import Any

from backends.base import BackendError, TrafficSplit
from backends.kubernetes.api import INGRESS, Change, Kind, whole
from backends.kubernetes.strategy import Strategy, TrafficConfig, version_of

CANARY = "nginx.ingress.kubernetes.io/canary"
CANARY_WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"
CANARY_TOTAL = "nginx.ingress.kubernetes.io/canary-weight-total"
AFFINITY = "nginx.ingress.kubernetes.io/affinity"
AFFINITY_CANARY = "nginx.ingress.kubernetes.io/affinity-canary-behavior"


class IngressNginx(Strategy):
    field = "ingress"

    def objects(self, c: TrafficConfig) -> list[tuple[Kind, str]]:
        return [(INGRESS, c.ingress)]

    def split(self, c: TrafficConfig, objs: list[dict[str, Any]]) -> TrafficSplit:
        notes = (objs[0].get("metadata") or {}).get("annotations") or {}
        on = str(notes.get(CANARY, "")).lower() == "true"
        weight = whole(notes.get(CANARY_WEIGHT, "0"), f"Ingress {c.ingress} {CANARY_WEIGHT}") if on else 0
        total = whole(notes.get(CANARY_TOTAL, "100"), f"Ingress {c.ingress} {CANARY_TOTAL}") or 100
        sticky = ""
        if on and str(notes.get(AFFINITY, "")).lower() == "cookie" and notes.get(AFFINITY_CANARY) != "legacy":
            # ingress-nginx keeps a session that reached the canary on it, whatever the weight says
            sticky = (" (sticky sessions: users already on green stay there at any weight until their cookie "
                      f"expires; {AFFINITY_CANARY}: legacy, or canary=false, ends that)")
        return TrafficSplit(round(100 * weight / total), f"Ingress {c.ingress}: canary={'true' if on else 'false'} "
                            f"canary-weight={weight}/{total}{sticky}")

    def changes(self, c: TrafficConfig, objs: list[dict[str, Any]], pct: int) -> list[Change]:
        total = whole(((objs[0].get("metadata") or {}).get("annotations") or {}).get(CANARY_TOTAL, "100"),
                      f"Ingress {c.ingress} {CANARY_TOTAL}") or 100
        if (pct * total) % 100:
            raise BackendError(f"Ingress {c.ingress} has {CANARY_TOTAL}={total}: {pct}% is not a whole weight")
        notes = {CANARY: "true", CANARY_WEIGHT: str(pct * total // 100)}
        return [Change(INGRESS, c.ingress, {"metadata": {**version_of(objs[0]), "annotations": notes}})]

    def describe(self, c: TrafficConfig, pct: int) -> str:
        return f"Ingress {c.ingress}: {CANARY_WEIGHT}={pct}"
