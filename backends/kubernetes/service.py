"""service-selector: a Service's selector switched from blue's label value to green's, all or nothing."""

from __future__ import annotations

from typing import Any

from backends.base import BackendError, TrafficSplit
from backends.kubernetes.api import POD, SERVICE, Change, Kind, Kube, pod_ready
from backends.kubernetes.strategy import Strategy, TrafficConfig, version_of


class ServiceSelector(Strategy):
    field = "service"

    def objects(self, c: TrafficConfig) -> list[tuple[Kind, str]]:
        return [(SERVICE, c.service)]

    def split(self, c: TrafficConfig, objs: list[dict[str, Any]]) -> TrafficSplit:
        value = ((objs[0].get("spec") or {}).get("selector") or {}).get(c.label)
        if value not in (c.blue, c.green):
            raise BackendError(f"Service {c.service} selects {c.label}={value!r}, neither blue ({c.blue}) "
                               f"nor green ({c.green})")
        return TrafficSplit(100 if value == c.green else 0, f"Service {c.service}: selector {c.label}={value}")

    def changes(self, c: TrafficConfig, objs: list[dict[str, Any]], pct: int) -> list[Change]:
        value = c.green if pct == 100 else c.blue
        return [Change(SERVICE, c.service, {"metadata": version_of(objs[0]), "spec": {"selector": {c.label: value}}})]

    def describe(self, c: TrafficConfig, pct: int) -> str:
        return f"Service {c.service}: selector {c.label}={c.green if pct == 100 else c.blue}"

    async def refusal(self, kube: Kube, c: TrafficConfig, objs: list[dict[str, Any]], pct: int) -> str:
        """A switch to green with no ready green pod sends every request nowhere. Rollback (to blue) is never
        refused: that is always the operator's call."""
        if pct != 100:
            return ""
        selector = {**((objs[0].get("spec") or {}).get("selector") or {}), c.label: c.green}
        pods = await kube.list(POD, ",".join(f"{k}={v}" for k, v in sorted(selector.items())))
        if any(pod_ready(p) and not (p.get('metadata') or {}).get('deletionTimestamp') for p in pods):
            return ""
        return (f"Service {c.service}: no ready pod matches {c.label}={c.green} ({len(pods)} pod(s), none ready): "
                "switching the selector now would leave it with no endpoints")

    def shift_error(self, c: TrafficConfig, pct: int) -> str:
        if pct in (0, 100):
            return ""
        return (f"strategy service-selector switches a Service's selector: all blue or all green, "
                f"so only 0 or 100 (not {pct})")
