"""The cluster as shipdeck reaches it: one client, every call in a worker thread with a timeout, every failure one
readable BackendError; objects read and merge-patched as plain dicts; access reviews; a Deployment's readiness.

The client is synchronous, so every call runs in a worker thread with a request timeout and no client retries: a
hung API server fails the call, the engine's loop never waits on it. Every change is a merge patch carrying the
resourceVersion it was built on, so a change made by someone else in between is refused by the API server (409)
instead of being overwritten; the exact patches are returned for the journal, and the same patch with dryRun=All
is the preview.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from backends.base import BackendConfig, BackendError, Problem

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

class KubeOptions(BackendConfig):
    kubeconfig: str = Field(default="", description="kubeconfig path ($KUBECONFIG, ~/.kube/config), or 'in-cluster'")
    context: str = ""
    namespace: str = "default"
    timeout: float = Field(default=5.0, gt=0, description="per API request")


class Conflict(BackendError):
    """409: the object changed between the read and the patch."""


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
            error = Conflict if int(e.status or 0) == 409 else BackendError
            return error(f"{self.where()}: {what}: {e.status} {message}{hint}")
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


def pod_ready(pod: Mapping[str, Any]) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def patch_text(kind: Kind, name: str, body: Mapping[str, Any], status: bool = False) -> str:
    """A patch as journalled: what was sent, to what, exactly."""
    return f"PATCH {kind.ref(name)}{'/status' if status else ''} {json.dumps(body, sort_keys=True)}"


@dataclass(frozen=True)
class Change:
    kind: Kind
    name: str
    body: dict[str, Any]
    status: bool = False  # the status subresource (Argo Rollouts' promote and abort)


def whole(value: Any, what: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError as e:
        raise BackendError(f"{what} is {value!r}, not a whole number") from e


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
