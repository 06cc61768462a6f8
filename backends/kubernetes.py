"""Kubernetes backends on the official `kubernetes` client: traffic, metrics, logs, readiness.

The client is synchronous, so every call runs in a worker thread with a request timeout and
no client retries: a hung API server fails the call, the engine's loop never waits on it.
Every change is a merge patch carrying the resourceVersion it was built on, so a change made by
someone else in between is refused by the API server (409) instead of being overwritten; the
exact patches are returned for the journal, and the same patch with dryRun=All is the preview.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from backends.base import (
    BackendConfig,
    BackendContext,
    BackendError,
    DriftError,
    LogLine,
    NoData,
    Problem,
    Sample,
    TrafficSplit,
    guess_level,
)

IN_CLUSTER = "in-cluster"


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    plural: str
    label: str  # what the operator calls it

    def ref(self, name: str) -> str:
        return f"{self.plural}/{name}"


ROUTE = Kind("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute")
INGRESS = Kind("networking.k8s.io", "v1", "ingresses", "Ingress")
DEPLOYMENT = Kind("apps", "v1", "deployments", "Deployment")
ROLLOUT = Kind("argoproj.io", "v1alpha1", "rollouts", "Rollout")
SERVICE = Kind("", "v1", "services", "Service")
POD = Kind("", "v1", "pods", "Pod")
POD_METRICS = Kind("metrics.k8s.io", "v1beta1", "pods", "PodMetrics")

CANARY = "nginx.ingress.kubernetes.io/canary"
CANARY_WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"
CANARY_TOTAL = "nginx.ingress.kubernetes.io/canary-weight-total"


class KubeOptions(BackendConfig):
    kubeconfig: str = Field(default="", description="kubeconfig path ($KUBECONFIG, ~/.kube/config), or 'in-cluster'")
    context: str = ""
    namespace: str = "default"
    timeout: float = Field(default=5.0, gt=0, description="per API request")


class Kube:
    """One API client for a backend's life, every call in a thread with a timeout."""

    def __init__(self, options: KubeOptions) -> None:
        self.options = options
        self._api: Any = None
        self._lock = threading.Lock()
        self.context = options.context or ("in-cluster" if options.kubeconfig == IN_CLUSTER else "")

    def api(self) -> Any:
        with self._lock:
            if self._api is None:
                from kubernetes import client, config

                cfg = client.Configuration()
                if self.options.kubeconfig == IN_CLUSTER:
                    config.load_incluster_config(client_configuration=cfg)
                else:
                    path = self.options.kubeconfig or None
                    config.load_kube_config(config_file=path, context=self.options.context or None,
                                            client_configuration=cfg)
                    # Name the cluster on screen: which one is being changed is the first question.
                    self.context = self.options.context or config.list_kube_config_contexts(path)[1]["name"]
                cfg.retries = 0  # the engine retries on its own clock; a retry here only hides a hang
                self._api = client.ApiClient(cfg)
            return self._api

    def where(self) -> str:
        return f"kubernetes {self.context or 'current context'}/{self.options.namespace}"

    async def call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        def run() -> Any:
            return fn(self.api(), *args, _request_timeout=self.options.timeout, **kwargs)

        try:
            return await asyncio.to_thread(run)
        except Exception as e:  # noqa: BLE001 - every failure becomes one readable BackendError
            raise self._error(what, e) from e

    def _error(self, what: str, e: Exception) -> BackendError:
        from kubernetes.client.exceptions import ApiException
        from kubernetes.config.config_exception import ConfigException

        if isinstance(e, ApiException):
            try:
                message = json.loads(e.body or "{}").get("message") or e.reason
            except (ValueError, AttributeError):
                message = e.reason
            hint = {403: " (RBAC: see docs/backends.md for the Role the plan needs)",
                    409: " (changed by someone else meanwhile: this change was refused)"}.get(int(e.status or 0), "")
            return BackendError(f"{self.where()}: {what}: {e.status} {message}{hint}")
        if isinstance(e, ConfigException | FileNotFoundError):
            return BackendError(f"{self.where()}: cannot load the cluster config: {e}")
        text = str(e)
        if "timed out" in text.lower() or "timeout" in type(e).__name__.lower():
            return BackendError(f"{self.where()}: {what}: no answer within {self.options.timeout:g}s")
        reason = getattr(e, "reason", None)  # urllib3 wraps the socket error twice
        if reason is not None:
            host = self._api.configuration.host if self._api is not None else "?"
            return BackendError(f"{self.where()}: {what}: cannot reach the API server at {host}: "
                                f"{str(reason).rsplit(': ', 1)[-1]}")
        return BackendError(f"{self.where()}: {what}: {type(e).__name__}: {text[:300]}")

    # ------------------------------------------------------------ generic object access

    async def get(self, kind: Kind, name: str) -> dict[str, Any]:
        return await self.call(f"get {kind.ref(name)}", _get, kind, self.options.namespace, name)

    async def list(self, kind: Kind, selector: str = "") -> list[dict[str, Any]]:
        what = f"list {kind.plural}" + (f" -l {selector}" if selector else "")
        return await self.call(what, _list, kind, self.options.namespace, selector)

    async def patch(self, kind: Kind, name: str, body: dict[str, Any], dry_run: bool = False,
                    status: bool = False) -> dict[str, Any]:
        what = f"patch {kind.ref(name)}" + (" (dry run)" if dry_run else "")
        return await self.call(what, _patch, kind, self.options.namespace, name, body, dry_run, status)

    async def allowed(self, verb: str, kind: Kind, name: str = "", subresource: str = "") -> bool:
        plural = f"{kind.plural}/{subresource}" if subresource else kind.plural
        return await self.call(f"SelfSubjectAccessReview {verb} {plural}", _can_i, verb, kind,
                               self.options.namespace, name, subresource)

    def close(self) -> None:
        if self._api is not None:
            self._api.close()


def _to_dict(api: Any, obj: Any) -> Any:
    return obj if isinstance(obj, dict) else api.sanitize_for_serialization(obj)


def _raw(answer: Any) -> Any:
    """Core objects as the server sent them: the typed models reject objects they don't fully know."""
    data = answer.data if hasattr(answer, "data") else answer.read()
    return json.loads(data or b"{}")


def _get(api: Any, kind: Kind, ns: str, name: str, **kw: Any) -> dict[str, Any]:
    from kubernetes import client

    if kind.group == "":
        read = getattr(client.CoreV1Api(api), f"read_namespaced_{kind.plural[:-1]}")
        return _raw(read(name, ns, _preload_content=False, **kw))
    got: Any = client.CustomObjectsApi(api).get_namespaced_custom_object(
        kind.group, kind.version, ns, kind.plural, name, **kw)
    return got


def _list(api: Any, kind: Kind, ns: str, selector: str, **kw: Any) -> list[dict[str, Any]]:
    from kubernetes import client

    if kind.group == "":
        ls = getattr(client.CoreV1Api(api), f"list_namespaced_{kind.plural[:-1]}")
        out = _raw(ls(ns, label_selector=selector or None, _preload_content=False, **kw))
    else:
        out = client.CustomObjectsApi(api).list_namespaced_custom_object(
            kind.group, kind.version, ns, kind.plural, label_selector=selector or None, **kw)
    return list(out.get("items") or [])


def _patch(api: Any, kind: Kind, ns: str, name: str, body: dict[str, Any], dry_run: bool, status: bool,
           **kw: Any) -> dict[str, Any]:
    from kubernetes import client

    opts = {"dry_run": "All" if dry_run else None, "field_manager": "shipdeck", **kw}
    if kind.group == "":
        patch = getattr(client.CoreV1Api(api), f"patch_namespaced_{kind.plural[:-1]}")
        return _raw(patch(name, ns, body, _preload_content=False, **opts))
    co = client.CustomObjectsApi(api)
    fn = co.patch_namespaced_custom_object_status if status else co.patch_namespaced_custom_object
    got: Any = fn(kind.group, kind.version, ns, kind.plural, name, body,
             _content_type="application/merge-patch+json", **opts)
    return got


def _can_i(api: Any, verb: str, kind: Kind, ns: str, name: str, subresource: str, **kw: Any) -> bool:
    """RBAC grants a subresource (rollouts/status, pods/log) only where a rule lists it: ask for it by name."""
    from kubernetes import client

    review = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
        resource_attributes=client.V1ResourceAttributes(
            namespace=ns, verb=verb, group=kind.group, resource=kind.plural, name=name or None,
            subresource=subresource or None)))
    answer = _to_dict(api, client.AuthorizationV1Api(api).create_self_subject_access_review(review, **kw))
    return bool((answer.get("status") or {}).get("allowed"))


def _version(api: Any, **kw: Any) -> str:
    from kubernetes import client

    return str(_to_dict(api, client.VersionApi(api).get_code(**kw)).get("gitVersion") or "?")


def resource_version(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def patch_text(kind: Kind, name: str, body: Mapping[str, Any], status: bool = False) -> str:
    """A patch as journalled: what was sent, to what, exactly."""
    return f"PATCH {kind.ref(name)}{'/status' if status else ''} {json.dumps(body, sort_keys=True)}"


# ---------------------------------------------------------------- traffic


@dataclass(frozen=True)
class Change:
    kind: Kind
    name: str
    body: dict[str, Any]
    status: bool = False  # the status subresource (Argo Rollouts' promote and abort)


Strategy = Literal["gateway-api", "service-selector", "ingress-nginx", "replicas", "argo-rollouts"]
NEEDS: dict[str, tuple[str, ...]] = {
    "gateway-api": ("route", "blue", "green"),
    "service-selector": ("service", "blue", "green"),
    "ingress-nginx": ("ingress",),
    "replicas": ("blue", "green", "replicas"),
    "argo-rollouts": ("rollout",),
}


class KubernetesTraffic:
    """Blue/green and canary traffic on a cluster. `strategy` picks the object that carries the split."""

    class Config(KubeOptions):
        strategy: Strategy
        route: str = Field(default="", description="gateway-api: the HTTPRoute")
        rule: int = Field(default=0, ge=0, description="gateway-api: which rule of the route")
        service: str = Field(default="", description="service-selector: the Service whose selector moves")
        label: str = Field(default="color", description="service-selector: the selector key naming the colour")
        ingress: str = Field(default="", description="ingress-nginx: the canary Ingress (to green)")
        rollout: str = Field(default="", description="argo-rollouts: the Rollout")
        replicas: int = Field(default=0, ge=0, description="replicas: pods in all, shared blue/green")
        blue: str = Field(default="", description="the blue Service (gateway-api), label value or Deployment")
        green: str = ""
        settle: float = Field(default=5.0, ge=0, description="argo-rollouts: how long to wait for the controller")

        @model_validator(mode="after")
        def _needs(self) -> KubernetesTraffic.Config:
            missing = [f for f in NEEDS[self.strategy] if not getattr(self, f)]
            if missing:
                raise ValueError(f"strategy {self.strategy} needs {', '.join(missing)}")
            return self

        def shift_error(self, percent: int) -> str:
            if self.strategy == "service-selector" and percent not in (0, 100):
                return (f"strategy service-selector switches a Service's selector: all blue or all green, "
                        f"so only 0 or 100 (not {percent})")
            if self.strategy == "replicas" and (self.replicas * percent) % 100:
                near = sorted({round(100 * k / self.replicas) for k in range(self.replicas + 1)},
                              key=lambda p: abs(p - percent))[:2]
                return (f"with replicas: {self.replicas}, {percent}% is not a whole number of pods; "
                        f"reachable nearby: {', '.join(f'{p}%' for p in sorted(near))}")
            return ""

    def __init__(self, config: Config, ctx: BackendContext) -> None:
        self.config = config
        self.ctx = ctx
        self.kube = Kube(config)
        self.expected: int | None = None  # green percent last set by us

    # ------------------------------------------------------------ reading

    def _objects(self) -> list[tuple[Kind, str]]:
        c = self.config
        return {
            "gateway-api": [(ROUTE, c.route)],
            "service-selector": [(SERVICE, c.service)],
            "ingress-nginx": [(INGRESS, c.ingress)],
            "replicas": [(DEPLOYMENT, c.blue), (DEPLOYMENT, c.green)],
            "argo-rollouts": [(ROLLOUT, c.rollout)],
        }[c.strategy]

    async def _read(self) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(self.kube.get(k, n) for k, n in self._objects())))

    def _split_of(self, objs: list[dict[str, Any]]) -> TrafficSplit:
        c = self.config
        if c.strategy == "gateway-api":
            blue, green = self._route_weights(objs[0])
            pct = round(100 * green / (blue + green)) if blue + green else 0
            return TrafficSplit(pct, f"HTTPRoute {c.route}: {c.blue} weight={blue} {c.green} weight={green}")
        if c.strategy == "service-selector":
            value = ((objs[0].get("spec") or {}).get("selector") or {}).get(c.label)
            if value not in (c.blue, c.green):
                raise BackendError(f"Service {c.service} selects {c.label}={value!r}, neither blue ({c.blue}) "
                                   f"nor green ({c.green})")
            return TrafficSplit(100 if value == c.green else 0, f"Service {c.service}: selector {c.label}={value}")
        if c.strategy == "ingress-nginx":
            notes = (objs[0].get("metadata") or {}).get("annotations") or {}
            on = str(notes.get(CANARY, "")).lower() == "true"
            weight = _int(notes.get(CANARY_WEIGHT, "0"), f"Ingress {c.ingress} {CANARY_WEIGHT}") if on else 0
            total = _int(notes.get(CANARY_TOTAL, "100"), f"Ingress {c.ingress} {CANARY_TOTAL}") or 100
            return TrafficSplit(round(100 * weight / total), f"Ingress {c.ingress}: canary={'true' if on else 'false'} "
                                f"canary-weight={weight}/{total}")
        if c.strategy == "replicas":
            b, g = ((o.get("spec") or {}).get("replicas") or 0 for o in objs)
            ready = [int((o.get("status") or {}).get("readyReplicas") or 0) for o in objs]
            pct = round(100 * g / (b + g)) if b + g else 0
            return TrafficSplit(pct, f"replicas {c.blue}={b} ({ready[0]} ready) {c.green}={g} ({ready[1]} ready): "
                                     f"a pod ratio, so the request split is approximate")
        step, weight, phase = _rollout_position(objs[0])
        return TrafficSplit(weight, f"Rollout {c.rollout}: step {step} weight {weight}% {phase}".rstrip())

    def _route_weights(self, route: dict[str, Any]) -> tuple[int, int]:
        c = self.config
        rules = (route.get("spec") or {}).get("rules") or []
        if c.rule >= len(rules):
            raise BackendError(f"HTTPRoute {c.route} has {len(rules)} rule(s); the plan names rule {c.rule}")
        refs = {r.get("name"): r for r in rules[c.rule].get("backendRefs") or []}
        missing = [n for n in (c.blue, c.green) if n not in refs]
        if missing:
            raise BackendError(f"HTTPRoute {c.route} rule {c.rule} has no backendRef {', '.join(missing)}")
        # Gateway API: an omitted weight is 1.
        return int(refs[c.blue].get("weight", 1)), int(refs[c.green].get("weight", 1))

    async def current(self) -> TrafficSplit:
        split = self._split_of(await self._read())
        self._check_drift(split)
        return split

    def _check_drift(self, split: TrafficSplit) -> None:
        if self.expected is not None and split.green != self.expected:
            raise DriftError(f"changed outside shipdeck: {split.detail}; shipdeck set green to {self.expected}%",
                             split)

    # ------------------------------------------------------------ changing

    def _changes(self, objs: list[dict[str, Any]], pct: int) -> list[Change]:
        c = self.config
        if c.strategy != "argo-rollouts" and (err := c.shift_error(pct)):
            raise BackendError(err)
        rv = [{"metadata": {"resourceVersion": resource_version(o)}} for o in objs]
        if c.strategy == "gateway-api":
            self._route_weights(objs[0])  # a missing rule or backendRef is an error here too, not an IndexError
            rules = json.loads(json.dumps((objs[0].get("spec") or {}).get("rules") or []))
            for ref in rules[c.rule].get("backendRefs") or []:
                if ref.get("name") in (c.blue, c.green):
                    ref["weight"] = pct if ref["name"] == c.green else 100 - pct
            return [Change(ROUTE, c.route, {**rv[0], "spec": {"rules": rules}})]
        if c.strategy == "service-selector":
            value = c.green if pct == 100 else c.blue
            return [Change(SERVICE, c.service, {**rv[0], "spec": {"selector": {c.label: value}}})]
        if c.strategy == "ingress-nginx":
            total = _int(((objs[0].get("metadata") or {}).get("annotations") or {}).get(CANARY_TOTAL, "100"),
                         f"Ingress {c.ingress} {CANARY_TOTAL}") or 100
            if (pct * total) % 100:
                raise BackendError(f"Ingress {c.ingress} has {CANARY_TOTAL}={total}: {pct}% is not a whole weight")
            notes = {CANARY: "true", CANARY_WEIGHT: str(pct * total // 100)}
            return [Change(INGRESS, c.ingress, {"metadata": {**rv[0]["metadata"], "annotations": notes}})]
        if c.strategy == "replicas":
            green = c.replicas * pct // 100
            sides = [Change(DEPLOYMENT, c.blue, {**rv[0], "spec": {"replicas": c.replicas - green}}),
                     Change(DEPLOYMENT, c.green, {**rv[1], "spec": {"replicas": green}})]
            # The side that grows goes first, so capacity never dips between the two patches.
            now_green = (objs[1].get("spec") or {}).get("replicas") or 0
            return sides[::-1] if green > now_green else sides
        if pct == 0:
            return [Change(ROLLOUT, c.rollout, {"status": {"abort": True}}, status=True)]
        if pct == 100:
            return [Change(ROLLOUT, c.rollout, {"status": {"promoteFull": True}}, status=True)]
        return _promote(objs[0], c.rollout)

    async def _apply(self, pct: int, dry_run: bool) -> tuple[list[str], list[dict[str, Any]]]:
        objs = await self._read()
        if not dry_run:
            self._check_drift(self._split_of(objs))  # refuse to build on weights someone else changed
        sent: list[str] = []
        answers: list[dict[str, Any]] = []
        for ch in self._changes(objs, pct):
            try:
                answers.append(await self.kube.patch(ch.kind, ch.name, ch.body, dry_run=dry_run, status=ch.status))
            except BackendError as e:
                done = f"; already applied: {'; '.join(sent)}" if sent and not dry_run else "; nothing was applied"
                if sent and not dry_run:  # half applied: our own change must not read as drift afterwards
                    with contextlib.suppress(BackendError):
                        self.expected = self._split_of(await self._read()).green
                raise BackendError(f"{e}{done}") from e
            sent.append(patch_text(ch.kind, ch.name, ch.body, ch.status))
        return sent, answers

    async def shift(self, green_percent: int) -> TrafficSplit:
        sent, _ = await self._apply(green_percent, dry_run=False)
        self.expected = green_percent
        split = await self._settled(green_percent)
        if split.green != green_percent:
            raise BackendError(f"sent {'; '.join(sent)} but the cluster reads back {split.detail}")
        return TrafficSplit(split.green, split.detail, tuple(sent))

    async def _settled(self, pct: int) -> TrafficSplit:
        """Read back; Argo's controller moves the Rollout after the patch, so give it `settle` seconds."""
        deadline = time.monotonic() + (self.config.settle if self.config.strategy == "argo-rollouts" else 0)
        while True:
            split = self._split_of(await self._read())
            if split.green == pct or time.monotonic() >= deadline:
                return split
            await asyncio.sleep(0.2)

    async def rollback(self) -> TrafficSplit:
        before, self.expected = self.expected, None  # a rollback wins over any drift
        try:
            return await self.shift(0)
        except BackendError:
            if self.expected is None:
                self.expected = before  # still watching for drift after a failed rollback
            raise

    async def preview_shift(self, green_percent: int) -> list[str]:
        """The exact patches, sent with dryRun=All: the API server validates them and changes nothing."""
        sent, answers = await self._apply(green_percent, dry_run=True)
        lines = [f"{self.kube.where()}: {s}" for s in sent]
        by_name = {(a.get("metadata") or {}).get("name"): a for a in answers}
        ordered = [by_name.get(name) for _, name in self._objects()]  # the replicas patches go gaining side first
        if self.config.strategy != "argo-rollouts" and all(o is not None for o in ordered):
            would = self._split_of([o for o in ordered if o is not None]).detail
            lines.append(f"server dry run accepted it; the cluster would read: {would}")
        else:
            lines.append("server dry run accepted it; the Rollout's controller then moves the weight")
        return lines

    def describe_shift(self, green_percent: int) -> list[str]:
        c = self.config
        target = {"gateway-api": f"HTTPRoute {c.route} rule {c.rule}: {c.blue} weight={100 - green_percent} "
                                 f"{c.green} weight={green_percent}",
                  "service-selector": f"Service {c.service}: selector {c.label}="
                                      f"{c.green if green_percent == 100 else c.blue}",
                  "ingress-nginx": f"Ingress {c.ingress}: {CANARY_WEIGHT}={green_percent}",
                  "replicas": f"Deployments {c.blue}={c.replicas - c.replicas * green_percent // 100} "
                              f"{c.green}={c.replicas * green_percent // 100} (approximate split)",
                  "argo-rollouts": f"Rollout {c.rollout}: "
                                   + ("abort" if green_percent == 0 else "promote --full" if green_percent == 100
                                      else "promote to the next step")}[c.strategy]
        return [f"{self.kube.where()}: merge patch {target}", "read back from the API server (resourceVersion checked)"]

    async def wait_ready(self, deployment: str, ready_percent: int, timeout: float) -> str:
        # blue/green name Deployments only where the strategy's blue/green are (named like) Deployments.
        names = ({"blue": self.config.blue, "green": self.config.green}
                 if self.config.strategy in ("gateway-api", "replicas") else {})
        return await wait_ready(self.kube, names.get(deployment) or deployment, ready_percent, timeout)

    async def preflight(self) -> list[Problem]:
        problems = await reachable(self.kube)
        if problems:
            return problems
        field = {"gateway-api": "route", "service-selector": "service", "ingress-nginx": "ingress",
                 "replicas": "green", "argo-rollouts": "rollout"}[self.config.strategy]
        try:
            self._split_of(await self._read())
        except BackendError as e:
            problems.append(Problem(str(e), field=field))
        for kind, name in dict.fromkeys(self._objects()):
            for verb in ("get", "patch"):
                problems += await access(self.kube, verb, kind, name, field)
            if kind is ROLLOUT:  # promote and abort patch the status subresource
                problems += await access(self.kube, "patch", kind, name, field, subresource="status")
        return problems

    async def aclose(self) -> None:
        self.kube.close()


def _promote(ro: dict[str, Any], name: str) -> list[Change]:
    """What `kubectl argo rollouts promote` sends: the status first (clear the pause conditions; outside a pause
    step, an analysis or experiment running, move to the next step instead), then unpause the spec if it was."""
    status = ro.get("status") or {}
    body: dict[str, Any] = {"pauseConditions": None}
    steps = (((ro.get("spec") or {}).get("strategy") or {}).get("canary") or {}).get("steps") or []
    if not status.get("pauseConditions") and steps:
        body["currentStepIndex"] = min(int(status.get("currentStepIndex") or 0) + 1, len(steps))
    out = [Change(ROLLOUT, name, {"status": body}, status=True)]
    if (ro.get("spec") or {}).get("paused"):  # no resourceVersion: the status patch just moved it, as for the plugin
        out.append(Change(ROLLOUT, name, {"spec": {"paused": False}}))
    return out


def _int(value: Any, what: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError as e:
        raise BackendError(f"{what} is {value!r}, not a whole number") from e


def _rollout_position(ro: dict[str, Any]) -> tuple[int, int, str]:
    """(step index, canary weight %, phase) as the Rollout's status says. Weights are in units of the traffic
    routing's maxTrafficWeight (100 unless set: with 1000, a weight of 100 is 10%)."""
    status = ro.get("status") or {}
    canary = ((ro.get("spec") or {}).get("strategy") or {}).get("canary") or {}
    steps = canary.get("steps") or []
    scale = 100 / max(1, int((canary.get("trafficRouting") or {}).get("maxTrafficWeight") or 100))
    index = int(status.get("currentStepIndex") or 0)
    weights = ((status.get("canary") or {}).get("weights") or {}).get("canary") or {}
    promoted = bool(status.get("stableRS")) and status.get("stableRS") == status.get("currentPodHash")
    phase = str(status.get("phase") or "")
    reached = round(next((int(s["setWeight"]) for s in reversed(steps[:index + 1]) if "setWeight" in s), 0) * scale)
    note = f"({phase})" if phase else ""
    # What the controller did, never what shipdeck wrote: `abort` is a request until the controller acts on it.
    if promoted and (status.get("promoteFull") or index >= len(steps)):
        weight = 100  # fully promoted: the controller sets the canary weight back to 0, all traffic is new
        if status.get("abort"):  # the controller removes an abort from a fully promoted Rollout
            note = f"{note} abort has no effect on a fully promoted Rollout".strip()
    elif "weight" in weights:  # a traffic-routed canary reports its live weight
        weight = round(int(weights["weight"]) * scale)
    elif status.get("abort"):  # a basic canary: aborted once the controller says Degraded
        weight = 0 if phase == "Degraded" else reached
        if phase != "Degraded":
            note = f"{note} abort sent, the controller has not acted on it".strip()
    elif index >= len(steps) and steps:
        weight = 100
    else:  # basic canary: the last setWeight reached
        weight = reached
    return index, weight, note


async def reachable(kube: Kube) -> list[Problem]:
    try:
        await kube.call("GET /version", _version)
    except BackendError as e:
        return [Problem(str(e), field="context" if kube.options.context else "kubeconfig")]
    return []


async def access(kube: Kube, verb: str, kind: Kind, name: str, field: str, subresource: str = "") -> list[Problem]:
    try:
        if await kube.allowed(verb, kind, name, subresource):
            return []
    except BackendError as e:
        return [Problem(f"cannot ask whether {verb} {kind.ref(name)} is allowed: {e}", severity="warning",
                        field=field)]
    group = kind.group or '""'
    plural = f"{kind.plural}/{subresource}" if subresource else kind.plural
    listed = f"; a Role grants it only where its resources list `{plural}`" if subresource else ""
    return [Problem(f"RBAC: this identity may not {verb} {plural} {name or ''} in namespace "
                    f"{kube.options.namespace} (apiGroup {group}{listed}); the plan needs it".replace("  ", " "),
                    field=field)]


async def wait_ready(kube: Kube, name: str, ready_percent: int, timeout: float) -> str:
    """Until the Deployment has `ready_percent` of its desired pods updated and available, as `kubectl rollout
    status` judges it (at 100%, no old pod left either); the detail as read."""
    if not name or name in ("blue", "green"):
        raise BackendError(f"wait: which Deployment is {name or 'that'}? name it (this traffic strategy has no "
                           f"Deployment called {name or 'so'})")
    deadline = time.monotonic() + timeout
    while True:
        dep = await kube.get(DEPLOYMENT, name)
        desired = int((dep.get("spec") or {}).get("replicas") or 0)
        st = dep.get("status") or {}
        ready, updated = int(st.get("readyReplicas") or 0), int(st.get("updatedReplicas") or 0)
        # Absent means none (the apiserver omits zeros): with minReadySeconds, ready pods are not available yet.
        available, total = int(st.get("availableReplicas") or 0), int(st.get("replicas") or 0)
        current = (dep.get("metadata") or {}).get("generation") == st.get("observedGeneration")
        need = math.ceil(desired * ready_percent / 100)
        detail = f"Deployment {name}: {ready}/{desired} ready, {available} available, {updated} updated"
        stuck = next((c for c in st.get("conditions") or [] if c.get("type") == "Progressing"
                      and c.get("reason") == "ProgressDeadlineExceeded"), None)
        if current and stuck is not None:  # as `kubectl rollout status`: the controller has given up
            raise BackendError(f"{detail}: exceeded its progress deadline ({stuck.get('message') or 'no message'})")
        old_gone = ready_percent < 100 or total <= updated
        if current and updated >= need and available >= need and ready >= need and old_gone:
            return detail
        if time.monotonic() >= deadline:
            raise BackendError(f"{detail}; wanted {ready_percent}% ready within {timeout:g}s")
        await asyncio.sleep(min(2.0, max(0.1, deadline - time.monotonic())))


# ---------------------------------------------------------------- metrics


QUERIES = ("ready", "restarts", "cpu", "memory")
_QUERY = re.compile(r"^(ready|restarts|cpu|memory)(?::(\d+)(s|m|h))?$")


class KubernetesMetrics:
    """Per colour (a label selector each): ready pods % of desired, restarts in a window, CPU, memory.

    Queries: `ready`, `restarts` or `restarts:10m` (default 5m), `cpu` (millicores), `memory` (MiB).
    CPU and memory come from metrics.k8s.io; without a metrics server they are no data, said so.
    """

    class Config(KubeOptions):
        selectors: dict[str, str] = Field(description="colour -> label selector, e.g. green: app=web,color=green")

        @model_validator(mode="after")
        def _some(self) -> KubernetesMetrics.Config:
            if not self.selectors:
                raise ValueError("selectors needs at least one colour, e.g. green: app=web,color=green")
            return self

    def __init__(self, config: Config, ctx: BackendContext) -> None:
        self.config = config
        self.ctx = ctx
        self.kube = Kube(config)
        self.first_seen: dict[str, int] = {}  # pod uid -> restarts when first seen
        self.history: deque[tuple[float, dict[str, int]]] = deque()

    @staticmethod
    def validate_query(query: str) -> str:
        return "" if _QUERY.match(query) else f"unknown query {query!r}; one of: {', '.join(QUERIES)}, restarts:10m"

    async def validate(self, query: str) -> str:
        return self.validate_query(query)

    async def sample(self, queries: Mapping[str, str]) -> Mapping[str, Sample | NoData]:
        now = self.ctx.clock.now()
        colours = list(self.config.selectors)
        wanted = {_QUERY.match(q).group(1) for q in queries.values() if _QUERY.match(q)}  # type: ignore[union-attr]
        pods: dict[str, list[dict[str, Any]]] = {}
        deps: dict[str, list[dict[str, Any]]] = {}
        usage: dict[str, list[dict[str, Any]]] | BackendError = {}
        try:
            calls = [self.kube.list(POD, self.config.selectors[c]) for c in colours]
            if "ready" in wanted:
                calls += [self.kube.list(DEPLOYMENT, self.config.selectors[c]) for c in colours]
            got = await asyncio.gather(*calls)
            pods = dict(zip(colours, got[:len(colours)], strict=True))
            deps = dict(zip(colours, got[len(colours):], strict=False))
        except BackendError as e:
            return {n: NoData(str(e), now, source_down=True) for n in queries}
        if wanted & {"cpu", "memory"}:
            try:
                got = await asyncio.gather(*(self.kube.list(POD_METRICS, self.config.selectors[c]) for c in colours))
                usage = dict(zip(colours, got, strict=True))
            except BackendError as e:
                usage = e
        self._remember(now, pods)
        out: dict[str, Sample | NoData] = {}
        for name, query in queries.items():
            m = _QUERY.match(query)
            if m is None:
                out[name] = NoData(self.validate_query(query), now)
                continue
            what, window = m.group(1), _seconds(m.group(2), m.group(3)) or 300.0
            if what in ("cpu", "memory") and isinstance(usage, BackendError):
                out[name] = NoData(f"metrics.k8s.io not available (no metrics server?): {usage}", now)
                continue
            series: dict[str, float] = {}
            for c in colours:
                if what == "ready":
                    value = _ready_percent(pods[c], deps[c])
                elif what == "restarts":
                    value = self._restarts(pods[c], now - window)
                else:
                    assert isinstance(usage, dict)
                    value = _usage(usage[c], what) if usage[c] else None
                if value is not None:
                    series[c] = value
            if not series:
                why = "no Deployment matches the selectors" if what == "ready" else "no pod matches the selectors"
                out[name] = NoData(f"{what}: {why}" if what != "cpu" and what != "memory"
                                   else f"{what}: metrics.k8s.io has no pod metrics for the selectors", now,
                                   answered=True)
                continue
            total = (_ready_percent([p for c in colours for p in pods[c]], [d for c in colours for d in deps[c]])
                     if what == "ready" else sum(series.values()))
            out[name] = Sample(float(total if total is not None else 0.0), now, series)
        return out

    def _remember(self, now: float, pods: Mapping[str, list[dict[str, Any]]]) -> None:
        counts = {}
        for plist in pods.values():
            for p in plist:
                uid = (p.get("metadata") or {}).get("uid") or (p.get("metadata") or {}).get("name", "")
                counts[uid] = _pod_restarts(p)
                self.first_seen.setdefault(uid, counts[uid])
        self.history.append((now, counts))
        while len(self.history) > 1 and self.history[1][0] <= now - 3600:
            self.history.popleft()

    def _restarts(self, pods: list[dict[str, Any]], since: float) -> float | None:
        if not pods:
            return None  # a mistyped selector is no data, never "0 restarts"
        old = next((c for t, c in self.history if t >= since), self.history[-1][1] if self.history else {})
        total = 0
        for p in pods:
            uid = (p.get("metadata") or {}).get("uid") or (p.get("metadata") or {}).get("name", "")
            total += max(0, _pod_restarts(p) - old.get(uid, self.first_seen.get(uid, 0)))
        return float(total)

    async def wait_ready(self, deployment: str, ready_percent: int, timeout: float) -> str:
        return await wait_ready(self.kube, deployment, ready_percent, timeout)

    async def preflight(self) -> list[Problem]:
        problems = await reachable(self.kube)
        if problems:
            return problems
        for kind in (POD, DEPLOYMENT):
            problems += await access(self.kube, "list", kind, "", "selectors")
        return problems

    async def aclose(self) -> None:
        self.kube.close()


def _seconds(n: str | None, unit: str | None) -> float:
    return float(n) * {"s": 1, "m": 60, "h": 3600}[unit] if n and unit else 0.0


def _pod_restarts(pod: Mapping[str, Any]) -> int:
    return sum(int(c.get("restartCount") or 0) for c in (pod.get("status") or {}).get("containerStatuses") or [])


def _pod_ready(pod: Mapping[str, Any]) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def _ready_percent(pods: list[dict[str, Any]], deps: list[dict[str, Any]]) -> float | None:
    desired = sum(int((d.get("spec") or {}).get("replicas") or 0) for d in deps)
    if not deps:
        return None
    if desired == 0:
        return 100.0  # scaled to zero on purpose: nothing is missing
    return 100.0 * min(desired, sum(_pod_ready(p) for p in pods)) / desired


# Kubernetes quantities: decimal and binary suffixes, to cores and to bytes.
_SUFFIX = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
           "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60}
_QUANTITY = re.compile(r"^([0-9.]+(?:[eE][-+]?\d+)?)([a-zA-Z]*)$")


def quantity(raw: str) -> float | None:
    """'250m' -> 0.25, '64Mi' -> 67108864.0; None for what is not a Kubernetes quantity."""
    m = _QUANTITY.match(raw.strip())
    if m is None or m.group(2) not in _SUFFIX:
        return None
    return float(m.group(1)) * _SUFFIX[m.group(2)]


def _usage(items: list[dict[str, Any]], what: str) -> float | None:
    """CPU in millicores or memory in MiB over the pods; None if any value cannot be read (never a silent 0)."""
    total = 0.0
    for item in items:
        for c in item.get("containers") or []:
            value = quantity(str((c.get("usage") or {}).get(what, "0")))
            if value is None:
                return None
            total += value * 1000 if what == "cpu" else value / 2**20
    return total


# ---------------------------------------------------------------- logs


class _LineBuffer:
    """Lines from the reader threads to the engine's loop: bounded, the oldest dropped and counted."""

    def __init__(self, size: int, loop: asyncio.AbstractEventLoop) -> None:
        self.lines: deque[LogLine] = deque(maxlen=size)
        self.dropped = 0
        self.wake = asyncio.Event()
        self._loop = loop
        self._lock = threading.Lock()

    def put(self, line: LogLine) -> None:
        with self._lock:
            was_empty = not self.lines
            if len(self.lines) == self.lines.maxlen:
                self.dropped += 1
            self.lines.append(line)
        if was_empty:  # one wake-up per batch, not one per line
            self._loop.call_soon_threadsafe(self.wake.set)

    def take(self, most: int) -> tuple[int, list[LogLine]]:
        """(lines dropped since the last take, up to `most` of the oldest lines)."""
        with self._lock:
            lost, self.dropped = self.dropped, 0
            batch = [self.lines.popleft() for _ in range(min(len(self.lines), most))]
            if not self.lines:
                self.wake.clear()
        return lost, batch


SILENT_RECONNECT = 300.0  # a followed stream silent this long is opened again (a dead connection looks silent)


class KubernetesLogs:
    """Follow every pod of each colour: new pods are picked up, dropped streams reconnect."""

    class Config(KubeOptions):
        selectors: dict[str, str] = Field(description="colour -> label selector")
        container: str = ""
        tail: int = Field(default=20, ge=0, description="lines of history per pod when first followed")
        poll: float = Field(default=5.0, gt=0, description="seconds between looks for new pods")
        max_pods: int = Field(default=50, ge=1, description="pods followed at once, per source")
        buffer: int = Field(default=20000, ge=100, description="lines held before the oldest are dropped")

    def __init__(self, config: Config, ctx: BackendContext) -> None:
        self.config = config
        self.ctx = ctx
        self.kube = Kube(config)
        # Followed streams block a thread each for as long as they live: their own pool, so they can never
        # take the threads that traffic, rollback and metrics calls need.
        self._readers = concurrent.futures.ThreadPoolExecutor(config.max_pods, thread_name_prefix="k8s-logs")
        self._open: set[Any] = set()  # responses being read, closed on stop to unblock their readers

    async def lines(self) -> AsyncIterator[Sequence[LogLine]]:
        buffer = _LineBuffer(self.config.buffer, asyncio.get_running_loop())
        followers: dict[str, asyncio.Task[None]] = {}
        stop = threading.Event()
        last_error = ""
        next_look = 0.0
        listed: dict[str, tuple[str, str, bool]] = {}  # the pods to follow, as of the last look
        try:
            while True:
                if time.monotonic() >= next_look:
                    next_look = time.monotonic() + self.config.poll
                    try:
                        found = await self._pods()
                        listed.clear()  # only an answer changes what is followed: a failed look stops nothing
                        listed.update(found)
                        if last_error:
                            buffer.put(LogLine(time.time(), "kubernetes", "info", "pod list answers again"))
                        last_error = ""
                    except BackendError as e:
                        if str(e) != last_error:
                            buffer.put(LogLine(time.time(), "kubernetes", "error", f"cannot list pods: {e}"))
                        last_error, found = str(e), {}
                    for name, (colour, container, several) in found.items():
                        live = sum(not t.done() for t in followers.values())
                        if (name not in followers or followers[name].done()) and live < self.config.max_pods:
                            source = f"{colour} {name}" + (f"/{container}" if several else "")
                            followers[name] = asyncio.create_task(
                                self._follow(name, container, source, buffer.put, stop, listed))
                lost, batch = buffer.take(1000)
                if lost:
                    yield [LogLine(time.time(), "kubernetes", "warning",
                                   f"{lost} log lines dropped: more than {self.config.buffer} waiting")]
                if batch:
                    yield batch
                    continue
                try:
                    await asyncio.wait_for(buffer.wake.wait(), max(0.05, next_look - time.monotonic()))
                except TimeoutError:
                    pass
        finally:
            stop.set()
            for t in followers.values():
                t.cancel()
            for resp in list(self._open):  # wake the readers blocked on silent streams
                with contextlib.suppress(Exception):
                    resp.shutdown()

    async def _pods(self) -> dict[str, tuple[str, str, bool]]:
        """Pod -> (colour, the container to follow, whether it has several) for the pods still running."""
        out: dict[str, tuple[str, str, bool]] = {}
        for colour, selector in self.config.selectors.items():
            for p in await self.kube.list(POD, selector):
                meta, phase = p.get("metadata") or {}, (p.get("status") or {}).get("phase")
                if phase in ("Running", "Pending", None) and not meta.get("deletionTimestamp"):
                    names = [str(c.get("name")) for c in ((p.get("spec") or {}).get("containers") or [])]
                    out[str(meta.get("name"))] = (colour, self._container(meta, names), len(names) > 1)
        return out

    def _container(self, meta: Mapping[str, Any], names: list[str]) -> str:
        """As kubectl picks: the plan's container, else the pod's default-container annotation, else its first
        (a pod with a sidecar has several, and the server refuses a log request that names none)."""
        if self.config.container:
            return self.config.container
        default = str((meta.get("annotations") or {}).get("kubectl.kubernetes.io/default-container") or "")
        return default if default in names else (names[0] if names else "")

    async def _follow(self, pod: str, container: str, source: str, put: Callable[[LogLine], None],
                      stop: threading.Event, listed: Mapping[str, Any]) -> None:
        """One pod until it goes away or finishes: reconnect from the last timestamp seen, never repeat a line.
        `source` starts with the colour: it survives a narrow source column."""
        # [timestamp of the last line delivered (written by the reader thread), when following started]
        last = [0.0, time.time()]
        first = True
        failures = 0
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            if not first and pod not in listed:  # finished (Succeeded, Failed) or deleted: nothing more to read
                put(LogLine(time.time(), source, "info", "pod no longer running: stopped following"))
                return
            try:
                await loop.run_in_executor(self._readers, self._stream, pod, container, source, put, stop, last,
                                           first)
                failures = 0
            except Exception as e:  # noqa: BLE001 - shown once per streak, then retried with backoff
                if " 404 " in str(e):
                    put(LogLine(time.time(), source, "info", "pod gone: stopped following"))
                    return
                if failures == 0:  # a Pending pod answers 400 until it starts: say it once, not every second
                    put(LogLine(time.time(), source, "warning", f"log stream dropped, reconnecting: {e}"[:300]))
                failures += 1
            first = False
            await asyncio.sleep(min(30.0, 1.0 * 2 ** min(failures, 5)) if failures else 1.0)

    def _stream(self, pod: str, container: str, source: str, put: Callable[[LogLine], None],
                stop: threading.Event, last: list[float], first: bool) -> None:
        from kubernetes import client

        kw: dict[str, Any] = {"follow": True, "timestamps": True, "_preload_content": False,
                              "_request_timeout": (self.config.timeout, SILENT_RECONNECT)}
        if container:
            kw["container"] = container
        resume_after = last[0]
        if first:
            kw["tail_lines"] = self.config.tail
        else:  # only what came after (30 s spare for clock skew: lines already delivered are skipped by time)
            kw["since_seconds"] = max(1, math.ceil(time.time() - (resume_after or last[1])) + 30)
        try:
            resp: Any = client.CoreV1Api(self.kube.api()).read_namespaced_pod_log(pod, self.kube.options.namespace,
                                                                                  **kw)
        except Exception as e:
            raise self.kube._error(f"logs {pod}", e) from e
        self._open.add(resp)
        try:
            partial = b""
            for chunk in resp.stream(65536, decode_content=True):
                if stop.is_set():
                    return
                *done, partial = (partial + chunk).split(b"\n")
                for raw in done:
                    stamp, text = _split_ts(raw.decode("utf-8", "replace").rstrip("\r"))
                    ts = _ts(stamp) if stamp else 0.0
                    if ts and ts <= resume_after:
                        continue  # delivered before the reconnect
                    last[0] = ts or last[0]
                    put(LogLine(ts or time.time(), source, guess_level(text), text))
        finally:
            self._open.discard(resp)
            resp.close()  # not release_conn: a half-read stream must not go back to the pool

    async def preflight(self) -> list[Problem]:
        problems = await reachable(self.kube)
        if problems:
            return problems
        problems += await access(self.kube, "list", POD, "", "selectors")
        problems += await access(self.kube, "get", POD, "", "selectors", subresource="log")
        return problems

    async def aclose(self) -> None:
        self._readers.shutdown(wait=False, cancel_futures=True)
        self.kube.close()


_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) (.*)$", re.S)


def _split_ts(line: str) -> tuple[str, str]:
    m = _TS.match(line)
    return (m.group(1), m.group(2)) if m else ("", line)


def _ts(rfc3339: str) -> float:
    whole, _, frac = rfc3339.rstrip("Z").partition(".")
    base = datetime.fromisoformat(whole + "+00:00").timestamp()
    return base + (float("0." + frac) if frac else 0.0)

