"""gateway-api: the weights of an HTTPRoute rule's two backendRefs."""

from __future__ import annotations

import copy
from typing import Any

from backends.base import BackendError, TrafficSplit
from backends.kubernetes.api import ROUTE, Change, Kind
from backends.kubernetes.strategy import Strategy, TrafficConfig, version_of


class Gateway(Strategy):
    field = "route"
    deployments = True

    def objects(self, c: TrafficConfig) -> list[tuple[Kind, str]]:
        return [(ROUTE, c.route)]

    def weights(self, c: TrafficConfig, route: dict[str, Any]) -> tuple[int, int]:
        rules = (route.get("spec") or {}).get("rules") or []
        if c.rule >= len(rules):
            raise BackendError(f"HTTPRoute {c.route} has {len(rules)} rule(s); the plan names rule {c.rule}")
        refs = {r.get("name"): r for r in rules[c.rule].get("backendRefs") or []}
        missing = [n for n in (c.blue, c.green) if n not in refs]
        if missing:
            raise BackendError(f"HTTPRoute {c.route} rule {c.rule} has no backendRef {', '.join(missing)}")
        # Gateway API: an omitted weight is 1.
        return int(refs[c.blue].get("weight", 1)), int(refs[c.green].get("weight", 1))

    def split(self, c: TrafficConfig, objs: list[dict[str, Any]]) -> TrafficSplit:
        blue, green = self.weights(c, objs[0])
        pct = round(100 * green / (blue + green)) if blue + green else 0
        return TrafficSplit(pct, f"HTTPRoute {c.route}: {c.blue} weight={blue} {c.green} weight={green}")

    def changes(self, c: TrafficConfig, objs: list[dict[str, Any]], pct: int) -> list[Change]:
        self.weights(c, objs[0])  # a missing rule or backendRef is an error here too, not an IndexError
        rules = copy.deepcopy((objs[0].get("spec") or {}).get("rules") or [])
        for ref in rules[c.rule].get("backendRefs") or []:
            if ref.get("name") in (c.blue, c.green):
                ref["weight"] = pct if ref["name"] == c.green else 100 - pct
        return [Change(ROUTE, c.route, {"metadata": version_of(objs[0]), "spec": {"rules": rules}})]

    def describe(self, c: TrafficConfig, pct: int) -> str:
        return f"HTTPRoute {c.route} rule {c.rule}: {c.blue} weight={100 - pct} {c.green} weight={pct}"
