"""service-selector: a Service's selector switched from blue's label value to green's, all or nothing."""

from __future__ import annotations

from typing import Any

from backends.base import BackendError, TrafficSplit
from backends.kubernetes.api import SERVICE, Change, Kind
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

    def shift_error(self, c: TrafficConfig, pct: int) -> str:
        if pct in (0, 100):
            return ""
        return (f"strategy service-selector switches a Service's selector: all blue or all green, "
                f"so only 0 or 100 (not {pct})")
