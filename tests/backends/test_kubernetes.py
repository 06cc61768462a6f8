"""The kubernetes backends through the official client, over HTTP, against kmock's emulator.

The emulator is not a real API server (see kube_emulator.py for what it does and does not do):
these tests prove what the backends send and how they read the answers. The test marked
`real_cluster` runs the same calls against a real cluster when SHIPDECK_KUBECONFIG is set.
"""

import asyncio
import contextlib
import json
import os

import pytest

from backends.base import BackendContext, BackendError, DriftError, NoData, RealClock, Sample
from backends.kubernetes import KubernetesLogs, KubernetesMetrics, KubernetesTraffic
from tests.backends import kube_emulator as k8s
from tests.backends.conftest import free_port
from tests.tui.conftest import screen_text, until
from tui.app import make_app
from tui.engine import journal
from tui.engine.plan import PlanError, load_plan, load_plan_text
from tui.engine.preflight import preflight
from tui.headless import run_headless
from tui.screens.confirm import ConfirmScreen


@pytest.fixture
async def kube(tmp_path):
    async for c in k8s.cluster(tmp_path):
        yield c


def traffic(kube, **cfg) -> KubernetesTraffic:
    config = KubernetesTraffic.Config(type="kubernetes", kubeconfig=str(kube.kubeconfig), namespace="shop",
                                      timeout=2, **cfg)
    return KubernetesTraffic(config, BackendContext())


GATEWAY = {"strategy": "gateway-api", "route": "web", "blue": "web-blue", "green": "web-green"}


def weights(kube) -> tuple[int, int]:
    refs = kube.api.get(k8s.ROUTE, "web")["spec"]["rules"][0]["backendRefs"]
    return refs[0]["weight"], refs[1]["weight"]


async def test_gateway_api_shifts_the_route_weights_and_reads_them_back(kube):
    kube.api.put(k8s.ROUTE, "web", k8s.route())
    t = traffic(kube, **GATEWAY)
    assert (await t.current()).green == 0
    split = await t.shift(10)
    assert weights(kube) == (90, 10)
    assert split.green == 10 and "web-green weight=10" in split.detail
    # The exact patch, built on the resourceVersion it read: a concurrent writer gets a 409, not lost.
    sent = json.loads(split.commands[0].split(" ", 2)[2])
    assert split.commands[0].startswith("PATCH httproutes/web ")
    assert sent["metadata"]["resourceVersion"] == "101"
    assert sent["spec"]["rules"][0]["backendRefs"][1] == {"name": "web-green", "port": 80, "weight": 10}
    assert sent["spec"]["rules"][0]["matches"] == k8s.route()["spec"]["rules"][0]["matches"]
    await t.shift(50)
    assert weights(kube) == (50, 50)
    back = await t.rollback()
    assert weights(kube) == (100, 0) and back.green == 0


async def test_the_dry_run_preview_is_checked_by_the_server_and_changes_nothing(kube):
    kube.api.put(k8s.ROUTE, "web", k8s.route())
    t = traffic(kube, **GATEWAY)
    lines = await t.preview_shift(25)
    assert weights(kube) == (100, 0)
    assert kube.api.get(k8s.ROUTE, "web")["metadata"]["resourceVersion"] == "101"
    assert any('"weight": 25' in ln for ln in lines)
    assert lines[-1].endswith("web-blue weight=75 web-green weight=25")
    assert kube.api.writes("httproutes") == []


async def test_a_weight_changed_by_someone_else_is_drift_and_nothing_is_patched(kube):
    kube.api.put(k8s.ROUTE, "web", k8s.route())
    t = traffic(kube, **GATEWAY)
    await t.shift(10)
    kube.api.put(k8s.ROUTE, "web", k8s.route(70, 30))  # kubectl edit by a colleague
    with pytest.raises(DriftError, match="web-green weight=30; shipdeck set green to 10%") as drift:
        await t.current()
    assert drift.value.live is not None and drift.value.live.green == 30
    with pytest.raises(DriftError):
        await t.shift(50)
    assert weights(kube) == (70, 30) and len(kube.api.writes("httproutes")) == 1
    await t.rollback()  # a rollback wins over drift
    assert weights(kube) == (100, 0)


async def test_a_write_landing_between_read_and_patch_is_a_409_and_nothing_is_applied(kube):
    kube.api.put(k8s.ROUTE, "web", k8s.route())
    t = traffic(kube, **GATEWAY)
    kube.api.race = lambda: kube.api.put(k8s.ROUTE, "web", k8s.route(80, 20))
    with pytest.raises(BackendError, match=r"409 .*changed by someone else.*nothing was applied"):
        await t.shift(10)
    assert weights(kube) == (80, 20)


async def test_a_controller_writing_status_between_read_and_patch_is_retried_once_on_what_is_there(kube):
    """A 409 because a controller wrote status (Gateway controllers do, all the time) is retried once, built on the
    fresh read; the journal gets the patch that was stored."""
    kube.api.put(k8s.ROUTE, "web", k8s.route())
    t = traffic(kube, **GATEWAY)
    accepted = {**k8s.route(), "status": {"parents": [{"conditions": [{"type": "Accepted", "status": "True"}]}]}}
    kube.api.race = lambda: kube.api.put(k8s.ROUTE, "web", accepted)
    split = await t.shift(10)
    assert split.green == 10 and weights(kube) == (90, 10)
    stored = kube.api.writes("httproutes")
    assert len(stored) == 1  # the first patch was refused; the retry is the one stored
    assert split.commands[0].startswith('PATCH httproutes/web {"metadata": {"resourceVersion": "102"}')
    assert kube.api.get(k8s.ROUTE, "web")["status"] == accepted["status"]  # the controller's status is kept


async def test_the_read_back_says_what_each_gateway_made_of_the_route(kube):
    """Stored weights are not routed weights: the Gateway's conditions and the generation it has seen are said."""
    route = {**k8s.route(90, 10), "metadata": {"generation": 3}, "status": {"parents": [
        {"parentRef": {"name": "public"}, "conditions": [
            {"type": "Accepted", "status": "True", "observedGeneration": 3},
            {"type": "ResolvedRefs", "status": "False", "reason": "BackendNotFound", "observedGeneration": 3}]},
        {"parentRef": {"name": "internal"}, "conditions": [
            {"type": "Accepted", "status": "True", "observedGeneration": 2},
            {"type": "ResolvedRefs", "status": "True", "observedGeneration": 2}]}]}}
    kube.api.put(k8s.ROUTE, "web", route)
    split = await traffic(kube, **GATEWAY).current()
    assert split.green == 10
    assert split.detail == ("HTTPRoute web: web-blue weight=90 web-green weight=10 (Gateway public not ResolvedRefs: "
                            "BackendNotFound; Gateway internal has not seen generation 3 yet (it routes generation 2))")
    route["status"]["parents"] = route["status"]["parents"][:1]
    route["status"]["parents"][0]["conditions"][1] = {"type": "ResolvedRefs", "status": "True", "observedGeneration": 3}
    kube.api.put(k8s.ROUTE, "web", route)
    assert (await traffic(kube, **GATEWAY).current()).detail.endswith("(Gateway public accepted it, backends resolved)")


async def test_forbidden_missing_and_hung_servers_are_readable_errors(kube):
    kube.api.put(k8s.ROUTE, "web", k8s.route())
    t = traffic(kube, **GATEWAY)
    kube.api.denied.add(("patch", "httproutes", "web"))
    with pytest.raises(BackendError, match=r"patch httproutes/web: 403 .*RBAC"):
        await t.shift(10)
    missing = traffic(kube, **{**GATEWAY, "route": "nope"})
    with pytest.raises(BackendError, match=r"get httproutes/nope: 404"):
        await missing.current()
    hung = KubernetesTraffic(KubernetesTraffic.Config(type="kubernetes", kubeconfig=str(kube.kubeconfig),
                                                      namespace="shop", timeout=0.5, **GATEWAY), BackendContext())
    kube.api.stalled = True
    with pytest.raises(BackendError, match=r"no answer within 0.5s"):
        await asyncio.wait_for(hung.current(), 10)


async def test_service_selector_switches_all_at_once_and_check_refuses_a_canary(kube, tmp_path):
    kube.api.put(k8s.SERVICES, "web", {"spec": {"selector": {"app": "web", "color": "blue"}}})
    t = traffic(kube, strategy="service-selector", service="web", blue="blue", green="green")
    assert (await t.current()).green == 0
    kube.api.put(k8s.PODS, "web-green-1", k8s.pod("green", ready=False))  # green not ready: nothing to switch to
    with pytest.raises(BackendError, match="no ready pod matches color=green .1 pod.s., none ready.*nothing was applied"):
        await t.shift(100)
    assert kube.api.get(k8s.SERVICES, "web")["spec"]["selector"]["color"] == "blue"
    kube.api.put(k8s.PODS, "web-green-1", k8s.pod("green"))
    split = await t.shift(100)
    assert kube.api.get(k8s.SERVICES, "web")["spec"]["selector"] == {"app": "web", "color": "green"}
    assert split.detail == "Service web: selector color=green"
    with pytest.raises(BackendError, match="only 0 or 100"):
        await t.shift(10)
    await t.rollback()
    assert kube.api.get(k8s.SERVICES, "web")["spec"]["selector"]["color"] == "blue"
    text = plan_text(f"{{type: kubernetes, strategy: service-selector, service: web, blue: blue, "
                     f"green: green, {kube.options()}}}", "      - shift: 10")
    with pytest.raises(PlanError) as err:
        load_plan_text(text, str(tmp_path / "p.yaml"))
    assert "p.yaml:9:16: phases[0].steps[0].shift: strategy service-selector" in str(err.value)


async def test_ingress_nginx_sets_the_canary_weight_annotation(kube):
    kube.api.put(k8s.INGRESSES, "web-canary", {"metadata": {"annotations": {
        "nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-weight": "0",
        "keep": "me"}}})
    t = traffic(kube, strategy="ingress-nginx", ingress="web-canary")
    await t.shift(10)
    notes = kube.api.get(k8s.INGRESSES, "web-canary")["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/canary-weight"] == "10" and notes["keep"] == "me"
    await t.rollback()
    assert (await t.current()).green == 0
    assert "sticky" not in (await t.current()).detail


async def test_ingress_nginx_says_sticky_sessions_stay_on_the_canary_after_a_rollback(kube):
    kube.api.put(k8s.INGRESSES, "web-canary", {"metadata": {"annotations": {
        "nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-weight": "50",
        "nginx.ingress.kubernetes.io/affinity": "cookie"}}})
    t = traffic(kube, strategy="ingress-nginx", ingress="web-canary")
    back = await t.rollback()
    assert back.green == 0 and "sticky sessions: users already on green stay there at any weight" in back.detail


async def test_replicas_grow_the_gaining_side_first_and_say_the_split_is_approximate(kube, tmp_path):
    kube.api.put(k8s.DEPLOYMENTS, "web-blue", k8s.deployment(10, colour="blue"))
    kube.api.put(k8s.DEPLOYMENTS, "web-green", k8s.deployment(0))
    t = traffic(kube, strategy="replicas", blue="web-blue", green="web-green", replicas=10)
    split = await t.shift(30)
    assert [p["spec"]["replicas"] for p in kube.api.writes("deployments")] == [3, 7]  # green up, then blue down
    assert "approximate" in split.detail and split.green == 30
    await t.rollback()
    assert [p["spec"]["replicas"] for p in kube.api.writes("deployments")][2:] == [10, 0]  # blue up first
    text = plan_text(f"{{type: kubernetes, strategy: replicas, blue: web-blue, green: web-green, "
                     f"replicas: 4, {kube.options()}}}", "      - shift: 10")
    with pytest.raises(PlanError, match=r"replicas: 4, 10% is not a whole number of pods; reachable nearby: 0%, 25%"):
        load_plan_text(text, str(tmp_path / "p.yaml"))


async def test_a_half_applied_replica_shift_says_what_was_applied(kube):
    kube.api.put(k8s.DEPLOYMENTS, "web-blue", k8s.deployment(10, colour="blue"))
    kube.api.put(k8s.DEPLOYMENTS, "web-green", k8s.deployment(0))
    kube.api.denied.add(("patch", "deployments", "web-blue"))
    t = traffic(kube, strategy="replicas", blue="web-blue", green="web-green", replicas=10)
    with pytest.raises(BackendError, match=r"403.*already applied: PATCH deployments/web-green .*\"replicas\": 5"):
        await t.shift(50)
    assert kube.api.get(k8s.DEPLOYMENTS, "web-green")["spec"]["replicas"] == 5


def rollout(index: int, paused: bool = True) -> dict:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "spec": {"paused": False, "strategy": {"canary": {"steps": [
                {"setWeight": 10}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}]}}},
            "status": {"currentStepIndex": index, "phase": "Paused" if paused else "Progressing",
                       "pauseConditions": [{"reason": "CanaryPauseStep"}] if paused else None}}


async def argo_controller(kube, stop: asyncio.Event) -> None:
    """Stands in for the Argo Rollouts controller: a cleared pause moves to the next pause step."""
    while not stop.is_set():
        ro = kube.api.get(k8s.ROLLOUTS, "web")
        st = ro["status"]
        if st.get("abort") and st.get("phase") != "Degraded":
            kube.api.put(k8s.ROLLOUTS, "web", {**ro, "status": {**st, "phase": "Degraded", "currentStepIndex": 0}})
        elif st.get("promoteFull") and st.get("currentStepIndex") != 4:
            kube.api.put(k8s.ROLLOUTS, "web", {**ro, "status": {**st, "currentStepIndex": 4, "phase": "Healthy"}})
        elif not st.get("pauseConditions") and st.get("phase") == "Paused":
            kube.api.put(k8s.ROLLOUTS, "web", {**ro, **rollout(st["currentStepIndex"] + 2)})
        await asyncio.sleep(0.05)


async def test_argo_rollouts_is_promoted_and_aborted_and_the_screen_shows_its_step(kube):
    kube.api.put(k8s.ROLLOUTS, "web", rollout(1))
    t = traffic(kube, strategy="argo-rollouts", rollout="web", settle=3)
    assert (await t.current()).detail == "Rollout web: step 1 weight 10% (Paused)"
    stop = asyncio.Event()
    controller = asyncio.create_task(argo_controller(kube, stop))
    try:
        split = await t.shift(50)
        assert split.green == 50 and "step 3" in split.detail
        # as the plugin: a pause step's conditions cleared; the spec was not paused by hand, so left alone
        assert split.commands == ('PATCH rollouts/web/status {"status": {"pauseConditions": null}}',)
        back = await t.rollback()
        assert back.green == 0 and kube.api.get(k8s.ROLLOUTS, "web")["status"]["abort"] is True
    finally:
        stop.set()
        await controller


async def test_metrics_per_colour_ready_restarts_and_no_metrics_server(kube):
    kube.api.put(k8s.DEPLOYMENTS, "web-blue", k8s.deployment(2, colour="blue"))
    kube.api.put(k8s.DEPLOYMENTS, "web-green", k8s.deployment(2))
    kube.api.put(k8s.PODS, "b1", k8s.pod("blue"))
    kube.api.put(k8s.PODS, "b2", k8s.pod("blue"))
    kube.api.put(k8s.PODS, "g1", k8s.pod("green", restarts=3))
    kube.api.put(k8s.PODS, "g2", k8s.pod("green", ready=False))
    cfg = KubernetesMetrics.Config(type="kubernetes", kubeconfig=str(kube.kubeconfig), namespace="shop", timeout=2,
                                   selectors={"blue": "app=web,color=blue", "green": "app=web,color=green"})
    m = KubernetesMetrics(cfg, BackendContext())
    queries = {"ready": "ready", "restarts": "restarts:5m", "cpu": "cpu"}
    first = await m.sample(queries)
    assert first["ready"] == Sample(75.0, first["ready"].ts, {"blue": 100.0, "green": 50.0})
    assert first["restarts"].series == {"blue": 0.0, "green": 0.0}  # restarts before we watched are history
    assert isinstance(first["cpu"], NoData) and "metrics.k8s.io" in first["cpu"].reason
    kube.api.put(k8s.PODS, "g1", k8s.pod("green", restarts=5))
    kube.api.put(k8s.POD_METRICS, "g1", {"metadata": {"labels": {"app": "web", "color": "green"}},
                                         "containers": [{"name": "web", "usage": {"cpu": "250m", "memory": "64Mi"}}]})
    second = await m.sample(queries)
    assert second["restarts"].series["green"] == 2.0 and second["restarts"].value == 2.0
    assert second["cpu"].series == {"green": 250.0}
    assert await m.validate("latency") == "unknown query 'latency'; one of: ready, restarts, cpu, memory, restarts:10m"


def follow_green_logs(kube) -> tuple[list, asyncio.Task]:
    """Green's pods followed, every batch gathered in the list, until the task is cancelled."""
    cfg = KubernetesLogs.Config(type="kubernetes", kubeconfig=str(kube.kubeconfig), namespace="shop", timeout=2,
                                poll=0.2, selectors={"green": "app=web,color=green"})
    source = KubernetesLogs(cfg, BackendContext()).lines()
    got: list = []

    async def consume() -> None:
        async for batch in source:
            got.extend(batch)

    return got, asyncio.create_task(consume())


async def eventually(cond, timeout: float = 10.0) -> None:
    async def poll() -> None:
        while not cond():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), timeout)


async def test_logs_follow_every_pod_of_each_colour_and_pick_up_new_ones(kube):
    kube.api.put(k8s.PODS, "web-green-1", k8s.pod("green"))
    kube.api["get /api/v1/namespaces/shop/pods/web-green-1/log"] << (
        b"2026-11-30T10:00:00.000000001Z started\n2026-11-30T10:00:01.5Z ERROR db timeout\n")
    kube.api["get /api/v1/namespaces/shop/pods/web-green-2/log"] << b"2026-11-30T10:00:02Z hello from 2\n"
    got, reader = follow_green_logs(kube)

    def pod_lines():
        return [(x.source, x.level, x.text) for x in got if x.source.startswith("green ")]

    try:
        await eventually(lambda: len(pod_lines()) >= 2)
        kube.api.put(k8s.PODS, "web-green-2", k8s.pod("green"))  # a new pod of the colour appears
        await eventually(lambda: len(pod_lines()) >= 3)
        # The first pod's stream ended; the reconnect asks only for what came after and repeats nothing.
        await eventually(lambda: any(
            r.url.path.endswith("web-green-1/log") and "sinceSeconds" in r.params for r in kube.api._requests))
        await asyncio.sleep(0.3)
    finally:
        reader.cancel()
    lines = pod_lines()
    assert lines[:2] == [("green web-green-1", "info", "started"), ("green web-green-1", "error", "ERROR db timeout")]
    assert ("green web-green-2", "info", "hello from 2") in lines
    assert [x.text for x in got].count("started") == 1
    assert got[0].ts == pytest.approx(1796032800.0, abs=1e-3)



async def test_logs_of_pods_with_a_sidecar_follow_the_container_kubectl_would(kube):
    """The apiserver refuses a log request that names no container on a pod of several (the emulator does too):
    the default-container annotation decides, else the first container, and the source names it. A pod that
    finishes is not followed any more; one already finished is never followed."""
    kube.api.put(k8s.PODS, "web-green-1", k8s.pod("green", containers=("istio-proxy", "web"), default="web"))
    kube.api.put(k8s.PODS, "web-green-2", k8s.pod("green", containers=("app", "log-shipper")))
    kube.api.put(k8s.PODS, "web-green-job", k8s.pod("green", phase="Succeeded"))
    for name, text in (("1", b"2026-11-30T10:00:00Z from web\n"), ("2", b"2026-11-30T10:00:01Z from app\n"),
                       ("job", b"2026-11-30T10:00:02Z from a finished job\n")):
        kube.api[f"get /api/v1/namespaces/shop/pods/web-green-{name}/log"] << text
    got, reader = follow_green_logs(kube)
    try:
        await eventually(lambda: {"from web", "from app"} <= {x.text for x in got})
        finished = k8s.pod("green", containers=("istio-proxy", "web"), default="web", phase="Succeeded")
        kube.api.put(k8s.PODS, "web-green-1", finished)
        await eventually(lambda: any("stopped following" in x.text for x in got))
    finally:
        reader.cancel()
    assert ("green web-green-1/web", "from web") in [(x.source, x.text) for x in got]
    assert ("green web-green-2/app", "from app") in [(x.source, x.text) for x in got]
    assert not any("container name must be specified" in x.text or "finished job" in x.text for x in got), got
    asked = [(r.url.path.split("/")[-2], r.params.get("container")) for r in kube.api._requests
             if r.url.path.endswith("/log")]
    assert ("web-green-1", "web") in asked and ("web-green-2", "app") in asked
    assert all(pod != "web-green-job" for pod, _ in asked)
    stopped = next(x for x in got if "stopped following" in x.text)
    assert stopped.source == "green web-green-1/web" and "no longer running" in stopped.text


async def test_the_emulator_refuses_a_log_request_without_a_container_on_a_pod_of_several(kube):
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    kube.api.put(k8s.PODS, "web-green-1", k8s.pod("green", containers=("istio-proxy", "web")))
    from backends.kubernetes import Kube, KubeOptions

    api = client.CoreV1Api(Kube(KubeOptions(type="kubernetes", kubeconfig=str(kube.kubeconfig))).api())
    with pytest.raises(ApiException) as refused:
        await asyncio.to_thread(api.read_namespaced_pod_log, "web-green-1", "shop")
    assert refused.value.status == 400 and "choose one of: [istio-proxy web]" in str(refused.value.body)



async def test_a_wait_judges_available_pods_and_a_stalled_rollout_as_kubectl_rollout_status_does(kube):
    """minReadySeconds: ready pods that are not yet available (the field absent) do not end the wait; a
    Deployment whose controller reports ProgressDeadlineExceeded fails the wait at once, in the controller's words."""
    t = traffic(kube, **GATEWAY)
    kube.api.put(k8s.DEPLOYMENTS, "web-green", k8s.deployment(3, ready=3, available=0))
    with pytest.raises(BackendError, match="3/3 ready, 0 available"):
        await t.wait_ready("web-green", 100, 0.5)
    kube.api.put(k8s.DEPLOYMENTS, "web-green", k8s.deployment(3, ready=3))
    assert "3 available" in await t.wait_ready("web-green", 100, 1)
    stalled = [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                "message": 'ReplicaSet "web-green-7d9" has timed out progressing.'}]
    kube.api.put(k8s.DEPLOYMENTS, "web-green", k8s.deployment(3, ready=1, conditions=stalled))
    started = asyncio.get_running_loop().time()
    with pytest.raises(BackendError, match="exceeded its progress deadline .ReplicaSet \"web-green-7d9\" has timed"):
        await t.wait_ready("web-green", 100, 30)
    assert asyncio.get_running_loop().time() - started < 5  # at once, not at the wait's timeout


async def test_argo_weights_are_read_in_units_of_max_traffic_weight(kube):
    ro = rollout(1)
    canary = ro["spec"]["strategy"]["canary"]
    canary["trafficRouting"] = {"maxTrafficWeight": 1000, "smi": {}}
    canary["steps"] = [{"setWeight": 100}, {"pause": {}}, {"setWeight": 500}, {"pause": {}}]
    kube.api.put(k8s.ROLLOUTS, "web", ro)
    t = traffic(kube, strategy="argo-rollouts", rollout="web")
    assert (await t.current()).green == 10  # the last setWeight reached, 100 of 1000
    ro["status"]["canary"] = {"weights": {"canary": {"weight": 500}, "stable": {"weight": 500}}}
    kube.api.put(k8s.ROLLOUTS, "web", ro)
    assert (await t.current()).green == 50  # the live weight the controller reports, 500 of 1000



async def test_check_asks_for_the_subresources_rbac_lists_apart(kube):
    """A Role may grant `rollouts` without `rollouts/status` (promote and abort need it) and `pods` without
    `pods/log`: check names each, and the emulator refuses the calls as the apiserver would."""
    kube.api.put(k8s.ROLLOUTS, "web", rollout(1))
    kube.api.put(k8s.PODS, "web-green-1", k8s.pod("green"))
    kube.api.denied.update({("patch", "rollouts/status", "web"), ("get", "pods/log", "")})
    t = traffic(kube, strategy="argo-rollouts", rollout="web")
    said = [p.message for p in await t.preflight()]
    assert any("may not patch rollouts/status web" in m and "`rollouts/status`" in m for m in said), said
    assert not any("may not patch rollouts web" in m or "may not get rollouts" in m for m in said), said
    with pytest.raises(BackendError):
        await t.rollback()  # abort patches the status subresource: refused
    logs = KubernetesLogs(KubernetesLogs.Config(type="kubernetes", kubeconfig=str(kube.kubeconfig), namespace="shop",
                                                timeout=2, selectors={"green": "app=web,color=green"}),
                          BackendContext())
    said = [p.message for p in await logs.preflight()]
    assert any("may not get pods/log" in m for m in said) and not any("may not list pods" in m for m in said), said
    await logs.aclose()



async def test_an_argo_abort_is_a_rollback_only_once_the_controller_has_acted_on_it(kube):
    """The read-back is what the controller did: with the controller down, a canary at 50% stays 50% after the
    abort is written (the rollback fails, saying so); with it up, the live weight goes to 0; on a fully promoted
    Rollout an abort changes nothing and the read-back says 100%."""
    ro = rollout(3)
    ro["spec"]["strategy"]["canary"]["trafficRouting"] = {"smi": {}}
    ro["status"]["canary"] = {"weights": {"canary": {"weight": 50}, "stable": {"weight": 50}}}
    ro["metadata"], ro["status"]["observedGeneration"] = {"generation": 4}, "3"
    kube.api.put(k8s.ROLLOUTS, "web", ro)
    t = traffic(kube, strategy="argo-rollouts", rollout="web", settle=1)
    seen = await t.current()
    assert seen.green == 50 and "the controller has not seen generation 4 yet (at 3)" in seen.detail
    ro["status"]["observedGeneration"] = "4"
    kube.api.put(k8s.ROLLOUTS, "web", ro)
    assert "has not seen" not in (await t.current()).detail
    with pytest.raises(BackendError, match="reads back Rollout web: step 3 weight 50%"):
        await t.rollback()  # nobody moved the traffic
    assert kube.api.get(k8s.ROLLOUTS, "web")["status"]["abort"] is True

    async def controller() -> None:  # the Argo controller acting on the abort
        await asyncio.sleep(0.3)
        now = kube.api.get(k8s.ROLLOUTS, "web")
        now["status"] = {**now["status"], "phase": "Degraded",
                         "canary": {"weights": {"canary": {"weight": 0}, "stable": {"weight": 100}}}}
        kube.api.put(k8s.ROLLOUTS, "web", now)

    acting = asyncio.create_task(controller())
    assert (await t.rollback()).green == 0
    await acting

    done = rollout(4, paused=False)
    done["status"].update({"stableRS": "abc", "currentPodHash": "abc", "phase": "Healthy", "abort": True})
    kube.api.put(k8s.ROLLOUTS, "web", done)
    with pytest.raises(DriftError, match="weight 100% .* abort has no effect on a fully promoted Rollout"):
        await t.current()  # after the rollback it journalled, 100% on green is drift, and said so
    split = await traffic(kube, strategy="argo-rollouts", rollout="web").current()
    assert split.green == 100 and "abort has no effect on a fully promoted Rollout" in split.detail



async def test_argo_promote_during_an_analysis_moves_to_the_next_step_as_the_plugin_does(kube):
    ro = rollout(2, paused=False)  # step 2 runs an analysis: no pause condition to clear
    ro["spec"]["strategy"]["canary"]["steps"][3] = {"analysis": {"templates": [{"templateName": "success-rate"}]}}
    ro["status"]["currentStepIndex"] = 3
    ro["spec"]["paused"] = True  # and someone paused it by hand
    kube.api.put(k8s.ROLLOUTS, "web", ro)
    t = traffic(kube, strategy="argo-rollouts", rollout="web", settle=0)
    with contextlib.suppress(BackendError):  # no controller here to move the weight
        await t.shift(50)
    assert kube.api.writes("rollouts") == [{"status": {"pauseConditions": None, "currentStepIndex": 4}},
                                           {"spec": {"paused": False}}]



def virtual_service(blue: int = 100, green: int = 0, by: str = "subset") -> dict:
    def dest(colour: str) -> dict:
        return {"host": "web", "subset": colour} if by == "subset" else {"host": f"web-{colour}"}

    return {"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
            "spec": {"hosts": ["web"], "http": [
                {"match": [{"uri": {"prefix": "/admin"}}], "route": [{"destination": {"host": "admin"}}]},
                {"route": [{"destination": dest("blue"), "weight": blue},
                           {"destination": dest("green"), "weight": green}]}]}}


async def test_istio_virtualservice_weights_move_on_one_http_route_and_read_back(kube):
    """Route weights on a VirtualService's http route, by DestinationRule subset (or by host for two Services);
    the other routes go back as they were (a merge patch replaces the list whole)."""
    kube.api.put(k8s.VIRTUAL_SERVICES, "web", virtual_service())
    t = traffic(kube, strategy="virtualservice", virtualservice="web", rule=1, blue="blue", green="green")
    assert (await t.current()).detail == "VirtualService web http[1]: blue weight=100 green weight=0"
    split = await t.shift(10)
    assert split.green == 10
    http = kube.api.get(k8s.VIRTUAL_SERVICES, "web")["spec"]["http"]
    assert http[0] == virtual_service()["spec"]["http"][0]
    assert [(r["destination"]["subset"], r["weight"]) for r in http[1]["route"]] == [("blue", 90), ("green", 10)]
    assert (await t.rollback()).green == 0
    preview = await t.preview_shift(50)
    assert preview[-1].endswith("would read: VirtualService web http[1]: blue weight=50 green weight=50")
    assert kube.api.get(k8s.VIRTUAL_SERVICES, "web")["spec"]["http"][1]["route"][1]["weight"] == 0  # a dry run

    kube.api.put(k8s.VIRTUAL_SERVICES, "web", virtual_service(by="host"))
    hosts = traffic(kube, strategy="virtualservice", virtualservice="web", rule=1, blue="web-blue", green="web-green")
    assert (await hosts.shift(50)).green == 50
    with pytest.raises(BackendError, match="http\\[0\\] has no destination with subset \\(or host\\) blue, green"):
        await traffic(kube, strategy="virtualservice", virtualservice="web", blue="blue", green="green").current()


async def test_istio_check_finds_a_subset_the_destination_rule_does_not_define(kube):
    kube.api.put(k8s.VIRTUAL_SERVICES, "web", virtual_service())
    kube.api.put(k8s.DESTINATION_RULES, "web", {"spec": {"host": "web", "subsets": [
        {"name": "blue", "labels": {"color": "blue"}}]}})
    t = traffic(kube, strategy="virtualservice", virtualservice="web", rule=1, blue="blue", green="green",
                destination_rule="web")
    said = [(p.field, p.message) for p in await t.preflight()]
    assert said == [("destination_rule", "DestinationRule web defines no subset green: requests routed there would "
                                         "fail (503)")], said


def plan_text(traffic_entry: str, steps: str, extra: str = "") -> str:
    return (f"version: 1\nname: k8s\nbackends:\n  traffic: {traffic_entry}\n{extra}"
            f"phases:\n  - name: Canary\n    owner: ops\n    steps:\n{steps}\n")


def canary_plan(kube, tmp_path):
    traffic_entry = "{type: kubernetes, strategy: gateway-api, route: web, blue: web-blue, green: web-green, " \
                    f"{kube.options()}}}"
    metrics = (f"  metrics: [{{type: kubernetes, {kube.options()}, "
               "selectors: {blue: 'app=web,color=blue', green: 'app=web,color=green'}}]\n"
               "metrics:\n  ready: {query: ready, unit: percent}\n"
               f"guards:\n  - {{metric: ready, series: green, below: 100, for: 0s, phases: [Final validation]}}\n"
               "settings: {sample_interval: 200ms, timeout: 3s}\n")
    text = (f"version: 1\nname: k8s canary\nbackends:\n  traffic: {traffic_entry}\n{metrics}phases:\n"
            "  - name: Deploy green\n    steps:\n      - wait: {deployment: green, ready: 100%, timeout: 5s}\n"
            "  - name: Canary 10%\n    steps:\n      - shift: 10\n      - bake: 500ms\n"
            "  - name: Canary 50%\n    steps:\n      - shift: 50\n      - bake: 500ms\n"
            "  - name: Canary 100%\n    steps:\n      - shift: 100\n"
            "  - name: Final validation\n    steps:\n      - bake: 2s\n")
    (tmp_path / "plan.yaml").write_text(text)
    return load_plan(tmp_path / "plan.yaml")


def seed_shop(kube) -> None:
    kube.api.put(k8s.ROUTE, "web", k8s.route())
    kube.api.put(k8s.DEPLOYMENTS, "web-blue", k8s.deployment(1, colour="blue"))
    kube.api.put(k8s.DEPLOYMENTS, "web-green", k8s.deployment(1))
    kube.api.put(k8s.PODS, "web-blue-1", k8s.pod("blue"))
    kube.api.put(k8s.PODS, "web-green-1", k8s.pod("green"))


async def test_a_headless_canary_against_the_emulator_shifts_10_50_100_and_a_guard_rolls_back(kube, tmp_path):
    seed_shop(kube)  # green's pod is ready for the canary, then falls over once all traffic is on it
    loaded = canary_plan(kube, tmp_path)
    out: list[str] = []

    async def green_falls_over() -> None:
        while (100 - weights(kube)[0]) < 100:
            await asyncio.sleep(0.05)
        kube.api.put(k8s.PODS, "web-green-1", k8s.pod("green", ready=False))

    saboteur = asyncio.create_task(green_falls_over())
    code = await asyncio.wait_for(run_headless(loaded, tmp_path / "j.jsonl", RealClock(), yes=True,
                                               out=out.append), 60)
    saboteur.cancel()
    assert code == 3, "\n".join(out)  # rolled back
    # The route as the API server stored it after each change: 10%, 50%, 100%, then the guard's rollback.
    stored = [tuple(r["weight"] for r in o["spec"]["rules"][0]["backendRefs"])
              for o in kube.api.states(k8s.ROUTE, "web")]
    assert stored == [(100, 0), (90, 10), (50, 50), (0, 100), (100, 0)]
    outcomes = [r["data"] for r in journal.load(tmp_path / "j.jsonl").records
                if r["kind"] == "outcome" and r["data"]["kind"] in ("shift", "rollback", "wait")]
    assert [o["kind"] for o in outcomes] == ["wait", "shift", "shift", "shift", "rollback"]
    assert outcomes[0]["data"]["detail"] == "Deployment web-green: 1/1 ready, 1 available, 1 updated"
    # The journal holds exactly what the API server received.
    sent = [json.loads(c.split(" ", 2)[2]) for o in outcomes[1:] for c in o["data"]["commands"]]
    assert sent == kube.api.writes("httproutes")
    assert any("guard" in ln and "ready" in ln for ln in out), "\n".join(out)


async def test_a_wait_step_times_out_when_green_never_gets_ready(kube, tmp_path):
    seed_shop(kube)
    kube.api.put(k8s.DEPLOYMENTS, "web-green", k8s.deployment(2, ready=1))
    loaded = canary_plan(kube, tmp_path)
    code = await asyncio.wait_for(run_headless(loaded, tmp_path / "j.jsonl", RealClock(), yes=True,
                                               out=lambda s: None), 30)
    assert code == 1
    wait = next(r["data"] for r in journal.load(tmp_path / "j.jsonl").records
                if r["kind"] == "outcome" and r["data"]["kind"] == "wait")
    assert not wait["ok"] and "web-green: 1/2 ready, 1 available, 1 updated; wanted 100% ready within 5s" in wait["error"]
    assert weights(kube) == (100, 0) and kube.api.writes("httproutes") == []


async def test_a_controller_slower_than_the_call_timeout_is_waited_for_up_to_settle(kube, tmp_path):
    """settle beyond settings.timeout is honoured: the engine gives the shift its settle besides the timeout."""
    kube.api.put(k8s.ROLLOUTS, "web", rollout(1))
    plan = tmp_path / "plan.yaml"
    plan.write_text(plan_text(f"{{type: kubernetes, strategy: argo-rollouts, rollout: web, settle: 6, "
                              f"{kube.options()}}}", "      - shift: 50", extra="settings: {timeout: 1s}\n"))

    async def slow_controller() -> None:  # pods take a few seconds before the controller moves the weight
        while kube.api.get(k8s.ROLLOUTS, "web")["status"].get("pauseConditions") is not None:
            await asyncio.sleep(0.1)
        await asyncio.sleep(2.5)
        now = kube.api.get(k8s.ROLLOUTS, "web")
        kube.api.put(k8s.ROLLOUTS, "web", {**now, **rollout(3)})

    moving = asyncio.create_task(slow_controller())
    code = await asyncio.wait_for(run_headless(load_plan(plan), tmp_path / "j.jsonl", RealClock(), yes=True,
                                               out=lambda s: None), 30)
    await moving
    shifted = next(r["data"] for r in journal.load(tmp_path / "j.jsonl").records
                   if r["kind"] == "outcome" and r["data"]["kind"] == "shift")
    assert code == 0 and shifted["ok"] and shifted["data"]["green"] == 50, shifted


async def test_check_compares_the_plans_shifts_with_the_rollouts_set_weight_steps(kube, tmp_path):
    kube.api.put(k8s.ROLLOUTS, "web", rollout(1))  # steps: setWeight 10, pause, setWeight 50, pause
    text = plan_text(f"{{type: kubernetes, strategy: argo-rollouts, rollout: web, {kube.options()}}}",
                     "      - shift: 10\n      - shift: 30\n      - shift: 100")
    issues = [str(i).split("plan.yaml:")[1] for i in await preflight(load_plan_text(text, str(tmp_path / "plan.yaml")))]
    assert issues == ["10:16: phases[0].steps[1].shift: the traffic backend steps through 0%, 10%, 50%, 100%: a shift "
                      "to 30% would end at another weight (make the plan's shifts the same steps)"], issues


async def test_waiting_for_the_argo_controller_is_said_on_screen(kube):
    kube.api.put(k8s.ROLLOUTS, "web", rollout(1))
    said: list = []
    config = KubernetesTraffic.Config(type="kubernetes", kubeconfig=str(kube.kubeconfig), namespace="shop",
                                      timeout=2, strategy="argo-rollouts", rollout="web", settle=6.5)
    t = KubernetesTraffic(config, BackendContext(emit_log=said.append))
    with pytest.raises(BackendError, match="reads back Rollout web: step 1 weight 10%"):
        await t.shift(50)  # nobody moves it
    waits = [x.text for x in said if x.source == "kubernetes"]
    assert len(waits) == 2 and waits[0].startswith("waiting for the controller to put green at 50%: Rollout web: step 1")
    assert waits[0].endswith("(1s of 6.5s)") and waits[1].endswith("(6s of 6.5s)")  # after a second, then every five


async def test_check_asks_the_cluster_and_reports_rbac_and_missing_objects_at_the_plan_line(kube, tmp_path):
    seed_shop(kube)
    loaded = canary_plan(kube, tmp_path)
    assert await preflight(loaded) == []
    kube.api.denied.add(("patch", "httproutes", "web"))
    kube.api.denied.add(("list", "pods", ""))
    lines = (tmp_path / "plan.yaml").read_text().splitlines()
    route_col = lines[3].index("route: web") + len("route: ") + 1  # the value the problem is about
    selectors_col = lines[4].index("selectors: ") + len("selectors: ") + 1
    issues = [str(i).split("plan.yaml:")[1] for i in await preflight(loaded)]
    assert issues == [
        f"4:{route_col}: backends.traffic.route: RBAC: this identity may not patch httproutes web in namespace shop "
        "(apiGroup gateway.networking.k8s.io); the plan needs it",
        f"5:{selectors_col}: backends.metrics[0].selectors: RBAC: this identity may not list pods in namespace shop "
        '(apiGroup ""); the plan needs it',
    ]
    kube.api.denied.clear()
    del kube.api.objects[k8s.ROUTE, "shop", "web"]
    issues = [str(i).split("plan.yaml:")[1] for i in await preflight(loaded)]
    assert len(issues) == 1 and issues[0].startswith(f"4:{route_col}: backends.traffic.route: kubernetes test/shop: "
                                                     "get httproutes/web: 404")


async def test_check_says_so_when_the_cluster_does_not_answer(tmp_path):
    dead = free_port()
    (tmp_path / "kubeconfig").write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{dead}"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}]}))
    text = plan_text(f"{{type: kubernetes, strategy: gateway-api, route: web, blue: b, green: g, "
                     f"kubeconfig: {tmp_path / 'kubeconfig'}, timeout: 1}}", "      - shift: 10")
    issues = await preflight(load_plan_text(text, str(tmp_path / "plan.yaml")))
    assert len(issues) == 1
    assert str(issues[0]).endswith(f"backends.traffic.kubeconfig: kubernetes x/default: GET /version: cannot reach "
                                   f"the API server at http://127.0.0.1:{dead}: [Errno 111] Connection refused")


async def test_a_log_flood_is_bounded_and_the_drop_is_said(kube):
    kube.api.put(k8s.PODS, "web-green-1", k8s.pod("green"))
    flood = b"".join(b"2026-11-30T10:%02d:%02dZ line %d\n" % (i // 60 % 60, i % 60, i) for i in range(3000))
    kube.api["get /api/v1/namespaces/shop/pods/web-green-1/log"] << flood
    cfg = KubernetesLogs.Config(type="kubernetes", kubeconfig=str(kube.kubeconfig), namespace="shop", timeout=2,
                                buffer=100, tail=5000, selectors={"green": "app=web,color=green"})
    source = KubernetesLogs(cfg, BackendContext()).lines()
    got = list(await asyncio.wait_for(anext(source), 10))  # at most 1000 lines a batch
    await asyncio.sleep(0.5)  # the operator's screen is busy: the rest of the flood waits in the buffer
    while got[-1].text != "line 2999":
        got.extend(await asyncio.wait_for(anext(source), 10))
    await source.aclose()
    warnings = [x.text for x in got if x.level == "warning"]
    assert warnings and all(w.endswith("log lines dropped: more than 100 waiting") for w in warnings)
    dropped = sum(int(w.split()[0]) for w in warnings)
    assert len(got) - len(warnings) + dropped == 3000  # every line is either shown or counted as dropped
    assert [x.text for x in got[-100:]] == [f"line {i}" for i in range(2900, 3000)]  # the newest are kept


async def test_found_in_review_preview_order_promoted_rollouts_wait_names_and_quantities(kube):
    from backends.kubernetes import quantity

    # The replicas dry run is read back in blue/green order, whichever side was patched first.
    kube.api.put(k8s.DEPLOYMENTS, "web-blue", k8s.deployment(10, colour="blue"))
    kube.api.put(k8s.DEPLOYMENTS, "web-green", k8s.deployment(0))
    t = traffic(kube, strategy="replicas", blue="web-blue", green="web-green", replicas=10)
    assert "web-blue=7 (10 ready) web-green=3" in (await t.preview_shift(30))[-1]
    # A fully promoted, traffic-routed Rollout reports canary weight 0: that is 100% on the new version.
    done = rollout(4, paused=False)
    done["status"].update({"stableRS": "abc", "currentPodHash": "abc", "phase": "Healthy",
                           "canary": {"weights": {"canary": {"weight": 0}}}})
    kube.api.put(k8s.ROLLOUTS, "web", done)
    assert (await traffic(kube, strategy="argo-rollouts", rollout="web").current()).green == 100
    # `green` names a Deployment only where the strategy's green is one; an empty name is an error.
    ing = traffic(kube, strategy="ingress-nginx", ingress="web-canary")
    with pytest.raises(BackendError, match="which Deployment is green"):
        await ing.wait_ready("green", 100, 1)
    assert (await ing.wait_ready("web-blue", 100, 1)).startswith("Deployment web-blue: 10/10 ready")
    # Quantities: every Kubernetes suffix, and None (no data), never 0, for what is not one.
    assert [quantity(q) for q in ("250m", "1500000n", "64Mi", "1Gi", "5k", "1e3", "2Ti")] == [
        0.25, 0.0015, 64 * 2**20, 2**30, 5000, 1000, 2 * 2**40]
    assert quantity("12 cores") is None and quantity("5K") is None


async def test_restarts_without_pods_are_no_data(kube):
    kube.api.put(k8s.PODS, "web-blue-1", k8s.pod("blue"))
    cfg = KubernetesMetrics.Config(type="kubernetes", kubeconfig=str(kube.kubeconfig), namespace="shop", timeout=2,
                                   selectors={"green": "app=web,color=grene"})  # a typo matches nothing
    got = await KubernetesMetrics(cfg, BackendContext()).sample({"restarts": "restarts"})
    assert isinstance(got["restarts"], NoData) and "no pod matches" in got["restarts"].reason


async def test_quiet_log_streams_never_take_the_threads_traffic_calls_need(kube):
    kube.api.put(k8s.ROUTE, "web", k8s.route())
    for i in range(8):  # more quiet pods than the default thread pool has workers (2 CPUs + 4)
        kube.api.put(k8s.PODS, f"web-green-{i}", k8s.pod("green"))
        kube.api[f"get /api/v1/namespaces/shop/pods/web-green-{i}/log"] << (b"", ...)  # open, silent
    cfg = KubernetesLogs.Config(type="kubernetes", kubeconfig=str(kube.kubeconfig), namespace="shop", timeout=2,
                                selectors={"green": "app=web,color=green"})
    logs = KubernetesLogs(cfg, BackendContext())
    source = logs.lines()
    reader = asyncio.create_task(anext(source))
    while sum(1 for r in kube.api._requests if r.url.path.endswith("/log")) < 8:
        await asyncio.sleep(0.05)
    split = await asyncio.wait_for(traffic(kube, **GATEWAY).current(), 5)  # not queued behind 8 readers
    assert split.green == 0
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader
    await source.aclose()
    await logs.aclose()


@pytest.mark.skipif(not os.environ.get("SHIPDECK_KUBECONFIG"), reason="needs a real cluster: set SHIPDECK_KUBECONFIG")
@pytest.mark.parametrize("strategy", ["gateway-api", "virtualservice"])
async def test_real_cluster_shift_and_rollback(strategy):
    """On a real cluster (SHIPDECK_KUBECONFIG), in SHIPDECK_KUBE_NAMESPACE (default `default`), for each strategy:
    check finds no error (the object exists, RBAC allows get and patch); the server's dry run of a 10% shift is
    accepted and would read 10%; a 10% shift is stored and reads back 10%, also on a fresh read; a rollback reads
    back 0%. It proves what the API server stores, not what a Gateway or Istio routes.
    gateway-api: an HTTPRoute SHIPDECK_KUBE_ROUTE (default web), rule 0, backendRefs SHIPDECK_KUBE_BLUE/GREEN
    (default web-blue/web-green). virtualservice: a VirtualService SHIPDECK_KUBE_VIRTUALSERVICE (default web),
    http route 0, destinations of subsets blue and green."""
    env = os.environ
    common = {"type": "kubernetes", "kubeconfig": env["SHIPDECK_KUBECONFIG"],
              "namespace": env.get("SHIPDECK_KUBE_NAMESPACE", "default")}
    if strategy == "gateway-api":
        config = KubernetesTraffic.Config(**common, strategy="gateway-api", route=env.get("SHIPDECK_KUBE_ROUTE", "web"),
                                          blue=env.get("SHIPDECK_KUBE_BLUE", "web-blue"),
                                          green=env.get("SHIPDECK_KUBE_GREEN", "web-green"))
    else:
        config = KubernetesTraffic.Config(**common, strategy="virtualservice", blue="blue", green="green",
                                          virtualservice=env.get("SHIPDECK_KUBE_VIRTUALSERVICE", "web"))
    t = KubernetesTraffic(config, BackendContext())
    assert [p for p in await t.preflight() if p.severity == "error"] == []
    assert "green weight=10" in (await t.preview_shift(10))[-1].replace(config.green, "green")
    assert (await t.shift(10)).green == 10
    assert (await t.current()).green == 10
    assert (await t.rollback()).green == 0


async def test_the_confirm_dialog_shows_the_servers_dry_run_and_the_weights_follow_the_keys(kube, tmp_path):
    kube.api.put(k8s.ROUTE, "web", k8s.route())
    text = plan_text(f"{{type: kubernetes, strategy: gateway-api, route: web, blue: web-blue, green: web-green, "
                     f"{kube.options()}}}", "      - shift: 10\n      - bake: 1h\n      - shift: 50")
    app = make_app(load_plan_text(text, str(tmp_path / "p.yaml")), tmp_path / "j.jsonl", clock=RealClock(),
                   operator="tester", keymap={})
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, lambda: "read back from the traffic backend" in screen_text(app), what="a read-back")
        await pilot.press("n")
        await until(pilot, lambda: "server dry run accepted it" in screen_text(app), what="the phase's dry run")
        assert app.screen.checked[0] == "dry run of 10%:"
        await pilot.press("enter")
        await until(pilot, lambda: app.state["traffic"] == 10, what="shift 10")
        assert weights(kube) == (90, 10)
        await pilot.press("s")
        assert isinstance(app.screen, ConfirmScreen)
        await until(pilot, lambda: "server dry run accepted it" in screen_text(app), what="the dry run")
        assert app.screen.checked[-1].endswith("the cluster would read: HTTPRoute web: web-blue weight=50 "
                                               "web-green weight=50")
        assert '"weight": 50' in app.screen.checked[1] and "asking" not in screen_text(app)
        assert weights(kube) == (90, 10)  # a preview changes nothing
        await pilot.press("enter")
        await until(pilot, lambda: app.state["traffic"] == 50, what="shift 50")
        assert weights(kube) == (50, 50)
        kube.api.denied.add(("patch", "httproutes", "web"))
        await pilot.press("w", "7", "5", "enter")
        await until(pilot, lambda: "DRY RUN of 75% REFUSED" in screen_text(app), what="the refused dry run")
        assert "patch httproutes/web (dry run): 403" in app.screen.checked[0]
