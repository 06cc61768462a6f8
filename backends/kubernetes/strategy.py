"""What every traffic strategy is: the objects that carry the split, how to read it, and the patches that move it.

One module per strategy (gateway, service, ingress, replicas, argo, virtualservice); `traffic.py` drives any of
them the same way: read back, patch with the resourceVersion read, read back again.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from backends.base import Problem, TrafficSplit
from backends.kubernetes.api import Change, Kind, Kube, KubeOptions

Name = Literal["gateway-api", "service-selector", "ingress-nginx", "replicas", "argo-rollouts", "virtualservice"]
NEEDS: dict[str, tuple[str, ...]] = {
    "gateway-api": ("route", "blue", "green"),
    "service-selector": ("service", "blue", "green"),
    "ingress-nginx": ("ingress",),
    "replicas": ("blue", "green", "replicas"),
    "argo-rollouts": ("rollout",),
    "virtualservice": ("virtualservice", "blue", "green"),
}


class TrafficConfig(KubeOptions):
    strategy: Name
    route: str = Field(default="", description="gateway-api: the HTTPRoute")
    rule: int = Field(default=0, ge=0, description="gateway-api, virtualservice: which rule (http route) it is")
    service: str = Field(default="", description="service-selector: the Service whose selector moves")
    label: str = Field(default="color", description="service-selector: the selector key naming the colour")
    ingress: str = Field(default="", description="ingress-nginx: the canary Ingress (to green)")
    rollout: str = Field(default="", description="argo-rollouts: the Rollout")
    virtualservice: str = Field(default="", description="virtualservice: the Istio VirtualService")
    destination_rule: str = Field(default="", description="virtualservice: the DestinationRule defining the subsets")
    replicas: int = Field(default=0, ge=0, description="replicas: pods in all, shared blue/green")
    blue: str = Field(default="", description="the blue Service (gateway-api), subset (virtualservice), label value "
                                              "or Deployment")
    green: str = ""
    settle: float = Field(default=120.0, ge=0, description="argo-rollouts: how long to wait for the controller "
                                                           "(canary pods start first)")

    @model_validator(mode="after")
    def _needs(self) -> TrafficConfig:
        missing = [f for f in NEEDS[self.strategy] if not getattr(self, f)]
        if missing:
            raise ValueError(f"strategy {self.strategy} needs {', '.join(missing)}")
        return self

    def shift_error(self, percent: int) -> str:
        from backends.kubernetes.traffic import STRATEGIES

        return STRATEGIES[self.strategy].shift_error(self, percent)


class Strategy:
    """How one kind of object carries the split."""

    field = ""  # the plan field a problem with it is reported at
    controlled = False  # a controller moves the traffic after the patch: wait `settle` for it to
    subresources: tuple[str, ...] = ()  # patched besides the object (RBAC lists them apart)
    deployments = False  # blue and green name Deployments: a wait step may call them so
    steps_weights = False  # the object decides the weights a shift can end at (`reachable`)

    def objects(self, c: TrafficConfig) -> list[tuple[Kind, str]]:
        raise NotImplementedError

    def split(self, c: TrafficConfig, objs: list[dict[str, Any]]) -> TrafficSplit:
        raise NotImplementedError

    def changes(self, c: TrafficConfig, objs: list[dict[str, Any]], pct: int) -> list[Change]:
        raise NotImplementedError

    def describe(self, c: TrafficConfig, pct: int) -> str:
        raise NotImplementedError

    def shift_error(self, c: TrafficConfig, pct: int) -> str:
        return ""

    def reachable(self, objs: list[dict[str, Any]]) -> set[int]:
        """The weights a shift can end at, where `steps_weights`."""
        raise NotImplementedError

    async def preflight(self, kube: Kube, c: TrafficConfig) -> list[Problem]:
        """What `check` asks of the cluster besides the objects and their RBAC."""
        return []

    async def refusal(self, kube: Kube, c: TrafficConfig, objs: list[dict[str, Any]], pct: int) -> str:
        """Why the cluster cannot take this shift as it is ('' when it can): asked before anything is sent."""
        return ""


def version_of(obj: dict[str, Any]) -> dict[str, Any]:
    """The part of a merge patch that makes the API server refuse it if the object changed since it was read."""
    return {"resourceVersion": str((obj.get("metadata") or {}).get("resourceVersion") or "")}
