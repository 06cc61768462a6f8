"""argo-rollouts: an existing Rollout driven as its kubectl plugin drives it (promote, promote --full, abort), read
back as its controller reports it."""

from __future__ import annotations

from typing import Any

from backends.base import TrafficSplit
from backends.kubernetes.api import ROLLOUT, Change, Kind
from backends.kubernetes.strategy import Strategy, TrafficConfig


class ArgoRollouts(Strategy):
    field = "rollout"
    controlled = True
    subresources = ("status",)  # promote and abort patch the status
    steps_weights = True

    def objects(self, c: TrafficConfig) -> list[tuple[Kind, str]]:
        return [(ROLLOUT, c.rollout)]

    def split(self, c: TrafficConfig, objs: list[dict[str, Any]]) -> TrafficSplit:
        step, weight, phase = _rollout_position(objs[0])
        return TrafficSplit(weight, f"Rollout {c.rollout}: step {step} weight {weight}% {phase}".rstrip())

    def changes(self, c: TrafficConfig, objs: list[dict[str, Any]], pct: int) -> list[Change]:
        if pct == 0:
            return [Change(ROLLOUT, c.rollout, {"status": {"abort": True}}, status=True)]
        if pct == 100:
            return [Change(ROLLOUT, c.rollout, {"status": {"promoteFull": True}}, status=True)]
        return _promote(objs[0], c.rollout)

    def reachable(self, objs: list[dict[str, Any]]) -> set[int]:
        """The weights the Rollout's steps put on green (0 and 100 always: abort, promote --full)."""
        steps, scale = _canary(objs[0])
        return {0, 100} | {round(int(s["setWeight"]) * scale) for s in steps if "setWeight" in s}

    def describe(self, c: TrafficConfig, pct: int) -> str:
        what = "abort" if pct == 0 else "promote --full" if pct == 100 else "promote to the next step"
        return f"Rollout {c.rollout}: {what}"


def _canary(ro: dict[str, Any]) -> tuple[list[dict[str, Any]], float]:
    """The Rollout's canary steps, and what one unit of its weights is in percent (maxTrafficWeight: 100 unless set;
    with 1000, a weight of 100 is 10%)."""
    canary = ((ro.get("spec") or {}).get("strategy") or {}).get("canary") or {}
    return canary.get("steps") or [], 100 / max(1, int((canary.get("trafficRouting") or {}).get("maxTrafficWeight")
                                                        or 100))


def _promote(ro: dict[str, Any], name: str) -> list[Change]:
    """What `kubectl argo rollouts promote` sends: the status first (clear the pause conditions; outside a pause
    step, an analysis or experiment running, move to the next step instead), then unpause the spec if it was."""
    status = ro.get("status") or {}
    body: dict[str, Any] = {"pauseConditions": None}
    steps, _ = _canary(ro)
    if not status.get("pauseConditions") and steps:
        body["currentStepIndex"] = min(int(status.get("currentStepIndex") or 0) + 1, len(steps))
    out = [Change(ROLLOUT, name, {"status": body}, status=True)]
    if (ro.get("spec") or {}).get("paused"):  # no resourceVersion: the status patch just moved it, as for the plugin
        out.append(Change(ROLLOUT, name, {"spec": {"paused": False}}))
    return out


def _rollout_position(ro: dict[str, Any]) -> tuple[int, int, str]:
    """(step index, canary weight %, phase) as the Rollout's status says, weights in units of maxTrafficWeight."""
    status = ro.get("status") or {}
    steps, scale = _canary(ro)
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
    generation, seen = (ro.get("metadata") or {}).get("generation"), status.get("observedGeneration")
    if generation is not None and seen is not None and str(seen) != str(generation):  # Argo writes it as a string
        note = f"{note} the controller has not seen generation {generation} yet (at {seen})".strip()
    return index, weight, note
