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
        return TrafficSplit(pct, f"HTTPRoute {c.route}: {c.blue} weight={blue} {c.green} weight={green}"
                                 f"{routing(objs[0])}")

    def changes(self, c: TrafficConfig, objs: list[dict[str, Any]], pct: int) -> list[Change]:
        self.weights(c, objs[0])  # a missing rule or backendRef is an error here too, not an IndexError
        rules = copy.deepcopy((objs[0].get("spec") or {}).get("rules") or [])
        for ref in rules[c.rule].get("backendRefs") or []:
            if ref.get("name") in (c.blue, c.green):
                ref["weight"] = pct if ref["name"] == c.green else 100 - pct
        return [Change(ROUTE, c.route, {"metadata": version_of(objs[0]), "spec": {"rules": rules}})]

    def describe(self, c: TrafficConfig, pct: int) -> str:
        return f"HTTPRoute {c.route} rule {c.rule}: {c.blue} weight={100 - pct} {c.green} weight={pct}"


def routing(route: dict[str, Any]) -> str:
    """What each Gateway says of the route: stored weights are not routed ones until the Gateway has seen this
    generation and accepted it with its backends resolved."""
    generation = (route.get("metadata") or {}).get("generation")
    said = []
    for parent in (route.get("status") or {}).get("parents") or []:
        name = (parent.get("parentRef") or {}).get("name") or "?"
        conditions = {x.get("type"): x for x in parent.get("conditions") or []}
        bad = [f"not {kind}: {c.get('reason') or c.get('message') or 'no reason'}" for kind in ("Accepted", "ResolvedRefs")
               if (c := conditions.get(kind)) is not None and c.get("status") != "True"]
        seen = [x.get("observedGeneration") for x in conditions.values() if x.get("observedGeneration") is not None]
        if generation is not None and seen and min(seen) < generation:
            bad.append(f"has not seen generation {generation} yet (it routes generation {min(seen)})")
        said.append(f"Gateway {name} " + ("; ".join(bad) if bad else "accepted it, backends resolved"))
    return f" ({'; '.join(said)})" if said else ""
