"""A Kubernetes API emulator for the kubernetes backends' tests. It is NOT a real API server.

kmock's KubernetesEmulator stores objects and answers the official `kubernetes` client's REST
calls over real HTTP on 127.0.0.1 (nothing in the client is patched). On top of it this adds the
API-server behaviour the backends rely on, the way kube-apiserver does it: a new resourceVersion
on every write and 409 Conflict for a patch built on a stale one, dryRun=All that answers without
storing, equality label selectors on lists, and SelfSubjectAccessReview answered from a deny list.
There is no admission, schema validation, RBAC object model or controller: what a controller
would do (Argo Rollouts moving a Rollout) is done by the test itself, in plain sight.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp.web
import attrs
import kmock
from kmock._internal import dicts  # the emulator's own merge, so a dry run answers what a write stores

ROUTE = "gateway.networking.k8s.io/v1/httproutes"
SERVICES = "v1/services"
INGRESSES = "networking.k8s.io/v1/ingresses"
DEPLOYMENTS = "apps/v1/deployments"
VIRTUAL_SERVICES = "networking.istio.io/v1beta1/virtualservices"
DESTINATION_RULES = "networking.istio.io/v1beta1/destinationrules"
ROLLOUTS = "argoproj.io/v1alpha1/rollouts"
PODS = "v1/pods"
POD_METRICS = "metrics.k8s.io/v1beta1/pods"


@attrs.frozen
class Conflict(kmock.KubernetesError):
    status: int = 409
    reason: str = "Conflict"
    message: str = "the object has been modified; please apply your changes to the latest version and try again"


@attrs.frozen
class Forbidden(kmock.KubernetesError):
    status: int = 403
    reason: str = "Forbidden"
    message: str = "forbidden: the test's RBAC denies this verb"


@attrs.define(kw_only=True)
class ApiServer(kmock.KubernetesEmulator):
    denied: set[tuple[str, str, str]] = attrs.field(factory=set)  # (verb, plural, name or "") refused
    stalled: bool = False  # every request hangs, as a server that stopped answering does
    race: Any = None  # called once before the next write is stored: another client's write lands first
    _rv: int = 100
    _patches: list[tuple[str, dict[str, Any]]] = attrs.field(factory=list)  # (plural, body as sent), stored ones

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.fallback["get /version/"] << self._serve_server_version  # the official client asks with the slash

    def put(self, resource: str, name: str, obj: dict[str, Any], namespace: str = "shop") -> None:
        """Seed (or replace, as another client would) an object, with a fresh resourceVersion."""
        self._rv += 1
        meta = {"name": name, "namespace": namespace, "resourceVersion": str(self._rv), "uid": f"uid-{name}"}
        body = copy.deepcopy(obj)
        body["metadata"] = {**meta, **(obj.get("metadata") or {}), "resourceVersion": str(self._rv)}
        self.objects[resource, namespace, name] = body

    def get(self, resource: str, name: str, namespace: str = "shop") -> dict[str, Any]:
        return copy.deepcopy(self.objects[resource, namespace, name].raw)

    def states(self, resource: str, name: str, namespace: str = "shop") -> list[dict[str, Any]]:
        """Every state the object had, oldest first, as stored."""
        return [copy.deepcopy(v.raw) for v in self.objects[resource, namespace, name].history if v is not None]

    def writes(self, resource_plural: str) -> list[dict[str, Any]]:
        """Every PATCH the server stored for that kind (dry runs excluded), as sent."""
        return [body for plural, body in self._patches if plural == resource_plural]

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        if self.stalled:
            await asyncio.sleep(3600)
        res = request.resource
        if res is not None and res.plural == "selfsubjectaccessreviews":
            spec = ((request.data or {}).get("spec") or {}).get("resourceAttributes") or {}
            verb, plural, name = spec.get("verb", ""), spec.get("resource", ""), spec.get("name") or ""
            if spec.get("subresource"):  # RBAC matches `rollouts/status`, `pods/log` as resources of their own
                plural = f"{plural}/{spec['subresource']}"
            allowed = (verb, plural, name) not in self.denied and (verb, plural, "") not in self.denied
            return aiohttp.web.json_response({**(request.data or {}), "status": {"allowed": allowed}}, status=201)
        plural = f"{res.plural}/{request.subresource}" if res is not None and request.subresource else (
            res.plural if res is not None else "")
        if res is not None and request.name and ((_verb(request), plural, request.name) in self.denied
                                                 or (_verb(request), plural, "") in self.denied):
            raise Forbidden()
        if res is not None and res.plural == "pods" and request.subresource == "log":
            refused = self._log_refusal(request)
            if refused:
                return aiohttp.web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                                  "message": refused, "reason": "BadRequest", "code": 400}, status=400)
        if res is not None and request.method.value == "PATCH" and request.name and isinstance(request.data, dict):
            if self.race is not None:
                hook, self.race = self.race, None
                hook()
            key = (res, request.namespace, request.name)
            if key in self.objects and not self.objects[key].deleted:
                current = self.objects[key].raw
                sent = str((request.data.get("metadata") or {}).get("resourceVersion") or "")
                if sent and sent != str(current["metadata"].get("resourceVersion")):
                    raise Conflict()
                if request.params.get("dryRun") == "All":
                    return aiohttp.web.json_response(dicts.patch_dict(copy.deepcopy(current), request.data))
                self._patches.append((res.plural, copy.deepcopy(request.data)))
                self._rv += 1
                request.data.setdefault("metadata", {})["resourceVersion"] = str(self._rv)
        return await super()._handle(request)

    def _log_refusal(self, request: kmock.Request) -> str:
        """The apiserver's pod-log rule: a pod of several containers needs one named, and it must be one of its
        own (the default-container annotation is kubectl's, not the server's)."""
        key = (request.resource, request.namespace, request.name)
        if key not in self.objects or self.objects[key].deleted:
            return ""
        names = [c.get("name") for c in ((self.objects[key].raw.get("spec") or {}).get("containers") or [])]
        container = request.params.get("container", "")
        if not container and len(names) > 1:
            return (f"a container name must be specified for pod {request.name}, choose one of: "
                    f"[{' '.join(names)}]")
        if container and names and container not in names:
            return f"container {container} is not valid for pod {request.name}"
        return ""

    async def _serve_list(self, request: kmock.Request) -> Any:
        answer = await super()._serve_list(request)
        wanted = _selector(request.params.get("labelSelector", ""))
        answer["items"] = [o for o in answer["items"] if _matches(o, wanted)]
        return answer


def _verb(request: kmock.Request) -> str:
    return {"GET": "get", "PATCH": "patch", "PUT": "update", "DELETE": "delete", "POST": "create"}.get(
        str(request.method.value).upper(), "")


def _selector(text: str) -> list[tuple[str, str, bool]]:
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        neg = "!=" in part
        k, v = part.split("!=" if neg else "=", 1)
        out.append((k.strip(), v.lstrip("=").strip(), neg))
    return out


def _matches(obj: dict[str, Any], wanted: list[tuple[str, str, bool]]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all((labels.get(k) == v) != neg for k, v, neg in wanted)


@dataclass
class Cluster:
    api: ApiServer
    kubeconfig: Path
    url: str

    def options(self, **more: Any) -> str:
        """The connection part of a backend entry, as plan YAML flow-map items."""
        items = {"kubeconfig": str(self.kubeconfig), "namespace": "shop", "timeout": 2, **more}
        return ", ".join(f"{k}: {json.dumps(v)}" for k, v in items.items())


async def cluster(tmp: Path) -> AsyncIterator[Cluster]:
    async with ApiServer() as api, kmock.Server(api, host="127.0.0.1") as server:
        url = str(server.url).rstrip("/")
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "test",
            "clusters": [{"name": "emulator", "cluster": {"server": url}}],
            "users": [{"name": "operator", "user": {"token": "test-token"}}],
            "contexts": [{"name": "test", "context": {"cluster": "emulator", "user": "operator",
                                                      "namespace": "shop"}}],
        }
        path = tmp / "kubeconfig"
        path.write_text(json.dumps(config))
        yield Cluster(api, path, url)


def route(blue: int = 100, green: int = 0) -> dict[str, Any]:
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "spec": {"parentRefs": [{"name": "gw"}], "rules": [
                {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                 "backendRefs": [{"name": "web-blue", "port": 80, "weight": blue},
                                 {"name": "web-green", "port": 80, "weight": green}]}]}}


def deployment(replicas: int, ready: int | None = None, colour: str = "green", available: int | None = None,
               conditions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """As the controller reports it: available follows ready unless minReadySeconds holds it back (then the
    apiserver leaves availableReplicas out, as it leaves out every zero)."""
    ready = replicas if ready is None else ready
    status: dict[str, Any] = {"observedGeneration": 1, "readyReplicas": ready, "updatedReplicas": ready,
                              "replicas": replicas, "conditions": conditions or []}
    available = ready if available is None else available
    if available:
        status["availableReplicas"] = available
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"labels": {"app": "web", "color": colour}, "generation": 1},
            "spec": {"replicas": replicas}, "status": status}


def pod(colour: str, ready: bool = True, restarts: int = 0, containers: tuple[str, ...] = ("web",),
        default: str = "", phase: str = "Running") -> dict[str, Any]:
    meta: dict[str, Any] = {"labels": {"app": "web", "color": colour}}
    if default:
        meta["annotations"] = {"kubectl.kubernetes.io/default-container": default}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"containers": [{"name": c, "image": f"{c}:1"} for c in containers]},
            "status": {"phase": phase,
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                       "containerStatuses": [{"name": "web", "restartCount": restarts}]}}
