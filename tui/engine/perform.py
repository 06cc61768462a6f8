"""What each effect asks of a backend: a traffic change, a command, a probe, a wait for readiness. Each call is
bounded by the plan's timeout; what it returns becomes the effect's outcome."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from backends import registry
from backends.base import BackendContext, LogLine, ProbeResult, Waitable, run_command
from tui.engine.wiring import Backends, bounded


class Perform:
    """`await perform(effect)`: the backend call behind one effect, as the outcome's data (`ok`, `error`, `detail`
    and what the kind adds). Traffic changes take `traffic_lock`: one at a time, in order."""

    def __init__(self, backends: Backends, ctx: BackendContext, timeout: float, traffic_lock: asyncio.Lock) -> None:
        self.backends, self.ctx, self.timeout, self.traffic_lock = backends, ctx, timeout, traffic_lock

    async def __call__(self, eff: dict[str, Any]) -> dict[str, Any]:
        kind = eff["kind"]
        traffic = self.backends.traffic
        if kind in ("shift", "rollback"):
            async with self.traffic_lock:
                call = traffic.shift(int(eff["percent"])) if kind == "shift" else traffic.rollback()
                # A backend that waits for a controller after its patch (Argo's `settle`) gets that long besides.
                split = await bounded(call, self.timeout + float(getattr(traffic, "patience", 0.0)))
            return {"green": split.green, "detail": split.detail, "commands": list(split.commands)}
        if kind == "run":
            cwd = os.path.join(self.ctx.plan_dir, eff["cwd"]) if eff.get("cwd") else self.ctx.plan_dir
            res = await run_command(
                eff["command"], float(eff["timeout"]), cwd=cwd,
                on_line=lambda stream, text: self.ctx.emit_log(
                    LogLine(self.ctx.clock.now(), "run", "warning" if stream == "stderr" else "info", text)
                ),
            )
            if res.timed_out:
                return {"ok": False, "error": f"timed out after {eff['timeout']:g}s; process group killed",
                        "output": res.output}
            ok = res.exit_code == 0
            return {"ok": ok, "error": "" if ok else f"exit {res.exit_code}: {last_line(res.output)}",
                    "detail": f"exit 0 in {res.duration:.1f}s", "output": res.output}
        if kind == "probe":
            prober = self.backends.probes or self._default_prober()
            probe: ProbeResult = await bounded(
                prober.probe(eff["url"], int(eff["expect_status"]), float(eff["timeout"]), eff.get("body")),
                float(eff["timeout"]) * 4 + self.timeout,
            )
            detail = f"{probe.status} in {probe.latency_ms:.0f}ms {probe.detail}".strip()
            return {"ok": probe.ok, "error": "" if probe.ok else f"probe failed: {detail}", "detail": detail}
        if kind == "wait":
            waiter = self._waiter()
            detail = await bounded(waiter.wait_ready(eff["deployment"], int(eff["ready"]), float(eff["timeout"])),
                                   float(eff["timeout"]) + self.timeout)
            return {"detail": detail}
        raise ValueError(f"unknown effect {kind!r}")

    def _waiter(self) -> Waitable:
        for backend in (self.backends.traffic, *self.backends.metrics.values()):
            if isinstance(backend, Waitable):
                return backend
        raise RuntimeError("no backend can read rollout readiness (traffic or metrics of type kubernetes)")

    def _default_prober(self) -> Any:
        if "http" not in registry.available("probes"):
            raise RuntimeError("no probe backend: set backends.probes")
        cls = registry.load("probes", "http")
        self.backends.probes = cls(cls.Config(type="http"), self.ctx)
        return self.backends.probes


def last_line(text: str) -> str:
    lines = [x for x in text.splitlines() if x.strip()]
    return lines[-1][:200] if lines else "(no output)"
