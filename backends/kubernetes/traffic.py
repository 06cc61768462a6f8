"""Blue/green and canary traffic on a cluster: any strategy, driven the same way. Read back; patch with the
resourceVersion read (dryRun=All for the preview); read back again, waiting for a controller where one moves the
traffic; what was sent goes to the journal."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from backends.base import BackendContext, BackendError, DriftError, LogLine, Problem, TrafficSplit
from backends.kubernetes.api import Change, Conflict, Kind, Kube, access, patch_text, reachable, wait_ready
from backends.kubernetes.argo import ArgoRollouts
from backends.kubernetes.gateway import Gateway
from backends.kubernetes.ingress import IngressNginx
from backends.kubernetes.replicas import Replicas
from backends.kubernetes.service import ServiceSelector
from backends.kubernetes.strategy import Strategy, TrafficConfig
from backends.kubernetes.virtualservice import VirtualService


def _intent(obj: dict[str, Any]) -> tuple[Any, ...]:
    """What people and shipdeck write (a controller writes status): the spec, annotations and labels."""
    meta = obj.get("metadata") or {}
    return obj.get("spec"), meta.get("annotations"), meta.get("labels")


STRATEGIES: dict[str, Strategy] = {
    "gateway-api": Gateway(),
    "service-selector": ServiceSelector(),
    "ingress-nginx": IngressNginx(),
    "replicas": Replicas(),
    "argo-rollouts": ArgoRollouts(),
    "virtualservice": VirtualService(),
}


class KubernetesTraffic:
    """Blue/green and canary traffic on a cluster. `strategy` picks the object that carries the split."""

    Config = TrafficConfig

    def __init__(self, config: TrafficConfig, ctx: BackendContext) -> None:
        self.config = config
        self.ctx = ctx
        self.kube = Kube(config)
        self.strategy = STRATEGIES[config.strategy]
        self.expected: int | None = None  # green percent last set by us

    @property
    def patience(self) -> float:
        """Seconds a shift may take besides the API calls: the controller's `settle`, where one moves the traffic."""
        return self.config.settle if self.strategy.controlled else 0.0

    # ------------------------------------------------------------ reading

    def _objects(self) -> list[tuple[Kind, str]]:
        return self.strategy.objects(self.config)

    async def _read(self) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(self.kube.get(k, n) for k, n in self._objects())))

    def _split_of(self, objs: list[dict[str, Any]]) -> TrafficSplit:
        return self.strategy.split(self.config, objs)

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
        if err := self.strategy.shift_error(self.config, pct):
            raise BackendError(err)
        return self.strategy.changes(self.config, objs, pct)

    async def _apply(self, pct: int, dry_run: bool) -> tuple[list[str], list[dict[str, Any]]]:
        objs = await self._read()
        if not dry_run:
            self._check_drift(self._split_of(objs))  # refuse to build on weights someone else changed
        sent: list[str] = []
        answers: list[dict[str, Any]] = []
        changes = self._changes(objs, pct)
        if refused := await self.strategy.refusal(self.kube, self.config, objs, pct):
            raise BackendError(f"{refused}; nothing was applied")
        retried = False
        while changes:
            ch = changes[0]
            try:
                answers.append(await self.kube.patch(ch.kind, ch.name, ch.body, dry_run=dry_run, status=ch.status))
                changes.pop(0)
            except BackendError as e:
                # Controllers write status (and so the resourceVersion) all the time: if only that moved, build the
                # same change on what is there now, once. What someone else changed is theirs: refuse.
                if isinstance(e, Conflict) and not (retried or sent):
                    fresh = await self._read()
                    if [_intent(o) for o in fresh] == [_intent(o) for o in objs]:
                        objs, changes, retried = fresh, self._changes(fresh, pct), True
                        continue
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
        """Read back; where a controller moves the traffic after the patch (Argo), give it `settle` seconds, saying
        after a second, then every five, what it reports (on screen, in the log pane)."""
        started = time.monotonic()
        deadline = started + (self.config.settle if self.strategy.controlled else 0)
        said = started
        while True:
            split = self._split_of(await self._read())
            if split.green == pct or time.monotonic() >= deadline:
                return split
            if time.monotonic() - said >= (1.0 if said == started else 5.0):
                said = time.monotonic()
                self._say(f"waiting for the controller to put green at {pct}%: {split.detail} "
                          f"({said - started:.0f}s of {self.config.settle:g}s)")
            await asyncio.sleep(0.2)

    def _say(self, text: str) -> None:
        if self.ctx.emit_log is not None:
            self.ctx.emit_log(LogLine(time.time(), "kubernetes", "info", text))

    async def reachable_weights(self) -> set[int] | None:
        """The weights a shift can end at, where the cluster decides them (an Argo Rollout's steps), else None."""
        if not self.strategy.steps_weights:
            return None
        return self.strategy.reachable(await self._read())

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
        if not self.strategy.controlled and all(o is not None for o in ordered):
            would = self._split_of([o for o in ordered if o is not None]).detail
            lines.append(f"server dry run accepted it; the cluster would read: {would}")
        else:
            lines.append("server dry run accepted it; the Rollout's controller then moves the weight")
        return lines

    def describe_shift(self, green_percent: int) -> list[str]:
        return [f"{self.kube.where()}: merge patch {self.strategy.describe(self.config, green_percent)}",
                "read back from the API server (resourceVersion checked)"]

    async def wait_ready(self, deployment: str, ready_percent: int, timeout: float) -> str:
        # blue/green name Deployments only where the strategy's blue/green are (named like) Deployments.
        names = ({"blue": self.config.blue, "green": self.config.green}
                 if self.strategy.deployments else {})
        return await wait_ready(self.kube, names.get(deployment) or deployment, ready_percent, timeout)

    async def preflight(self) -> list[Problem]:
        problems = await reachable(self.kube)
        if problems:
            return problems
        field = self.strategy.field
        try:
            self._split_of(await self._read())
        except BackendError as e:
            problems.append(Problem(str(e), field=field))
        for kind, name in dict.fromkeys(self._objects()):
            for verb in ("get", "patch"):
                problems += await access(self.kube, verb, kind, name, field)
            for sub in self.strategy.subresources:
                problems += await access(self.kube, "patch", kind, name, field, subresource=sub)
        return problems + await self.strategy.preflight(self.kube, self.config)

    async def aclose(self) -> None:
        self.kube.close()

