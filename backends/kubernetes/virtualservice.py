"""virtualservice: the weights of an Istio VirtualService's http route, between blue's and green's destinations.

A destination is blue's or green's by its DestinationRule subset (`subset: blue`) or, for two Services, by its
host. Istio requires the weights of a route's destinations to add up to 100; one without a weight gets none unless
it is alone.
"""

from __future__ import annotations

import copy
from typing import Any

from backends.base import BackendError, Problem, TrafficSplit
from backends.kubernetes.api import Change, Kind, Kube
from backends.kubernetes.strategy import Strategy, TrafficConfig, version_of

VIRTUAL_SERVICE = Kind("networking.istio.io", "v1beta1", "virtualservices", "VirtualService")
DESTINATION_RULE = Kind("networking.istio.io", "v1beta1", "destinationrules", "DestinationRule")


def _colour(c: TrafficConfig, route: dict[str, Any]) -> str:
    dest = route.get("destination") or {}
    for colour, name in (("blue", c.blue), ("green", c.green)):
        if dest.get("subset") == name or (not dest.get("subset") and dest.get("host") == name):
            return colour
    return ""


class VirtualService(Strategy):
    field = "virtualservice"

    def objects(self, c: TrafficConfig) -> list[tuple[Kind, str]]:
        return [(VIRTUAL_SERVICE, c.virtualservice)]

    def _routes(self, c: TrafficConfig, vs: dict[str, Any]) -> list[dict[str, Any]]:
        http = (vs.get("spec") or {}).get("http") or []
        if c.rule >= len(http):
            raise BackendError(f"VirtualService {c.virtualservice} has {len(http)} http route(s); the plan names "
                               f"rule {c.rule}")
        routes = http[c.rule].get("route") or []
        found = {_colour(c, r) for r in routes}
        missing = [name for colour, name in (("blue", c.blue), ("green", c.green)) if colour not in found]
        if missing:
            raise BackendError(f"VirtualService {c.virtualservice} http[{c.rule}] has no destination with subset "
                               f"(or host) {', '.join(missing)}")
        return list(routes)

    def split(self, c: TrafficConfig, objs: list[dict[str, Any]]) -> TrafficSplit:
        routes = self._routes(c, objs[0])
        weight = {"blue": 0, "green": 0}
        for r in routes:
            if colour := _colour(c, r):
                weight[colour] += int(r.get("weight", 100 if len(routes) == 1 else 0))
        total = weight["blue"] + weight["green"]
        pct = round(100 * weight["green"] / total) if total else 0
        return TrafficSplit(pct, f"VirtualService {c.virtualservice} http[{c.rule}]: {c.blue} weight={weight['blue']} "
                                 f"{c.green} weight={weight['green']}")

    def changes(self, c: TrafficConfig, objs: list[dict[str, Any]], pct: int) -> list[Change]:
        self._routes(c, objs[0])
        http = copy.deepcopy((objs[0].get("spec") or {}).get("http") or [])
        for r in http[c.rule].get("route") or []:
            colour = _colour(c, r)
            if colour:
                r["weight"] = pct if colour == "green" else 100 - pct
        # A merge patch replaces a list whole: every http route goes back as read, the one rule reweighted.
        return [Change(VIRTUAL_SERVICE, c.virtualservice, {"metadata": version_of(objs[0]), "spec": {"http": http}})]

    def describe(self, c: TrafficConfig, pct: int) -> str:
        return f"VirtualService {c.virtualservice} http[{c.rule}]: {c.blue} weight={100 - pct} {c.green} weight={pct}"

    async def preflight(self, kube: Kube, c: TrafficConfig) -> list[Problem]:
        """The DestinationRule defines both colours' subsets: a route to a subset it lacks answers 503."""
        if not c.destination_rule:
            return []
        try:
            rule = await kube.get(DESTINATION_RULE, c.destination_rule)
        except BackendError as e:
            return [Problem(str(e), field="destination_rule")]
        defined = {s.get("name") for s in (rule.get("spec") or {}).get("subsets") or []}
        missing = [name for name in (c.blue, c.green) if name not in defined]
        if not missing:
            return []
        return [Problem(f"DestinationRule {c.destination_rule} defines no subset {', '.join(missing)}: "
                        "requests routed there would fail (503)", field="destination_rule")]
