"""The driver: feeds events through the machine, runs effects through backends, journals both.

Commands in, events out, both plain dicts: a subscriber may live in another process, so
nothing here assumes it shares one with the UI. Every backend call runs in its own task
with a timeout; a hung backend fails its call, never the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import math
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from backends import registry
from backends.base import (
    BackendConfig,
    BackendContext,
    Backfillable,
    Clock,
    DriftError,
    LogLine,
    NoData,
    ProbeResult,
    RealClock,
    Sample,
    run_command,
)
from tui.engine.guards import GuardSet
from tui.engine.journal import Journal, open_intents, replay
from tui.engine.machine import RunState, initial_state, transition
from tui.engine.plan import LoadedPlan

Subscriber = Callable[[dict[str, Any]], None]
NOTIFY_TIMEOUT = 10.0
BACKFILL_S = 600.0  # chart history fetched at start
T = TypeVar("T")


async def bounded(awaitable: Awaitable[T], seconds: float) -> T:
    """Await with a deadline. asyncio.timeout, unlike 3.11's wait_for, never swallows a cancel."""
    async with asyncio.timeout(seconds):
        return await awaitable


def default_operator() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        return os.environ.get("USER", "operator")


@dataclass
class BackendHealth:
    name: str
    kind: str
    status: str = "ok"  # ok | busy | failed | down
    detail: str = ""
    since: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "status": self.status, "detail": self.detail, "since": self.since}


@dataclass
class Backends:
    traffic: Any
    metrics: dict[str, Any] = field(default_factory=dict)
    logs: list[Any] = field(default_factory=list)
    notify: list[Any] = field(default_factory=list)
    probes: Any = None


def build_backends(loaded: LoadedPlan, ctx: BackendContext) -> Backends:
    cfg = loaded.backends
    traffic_cfg: BackendConfig = cfg["traffic"][0]
    out = Backends(traffic=registry.create("traffic", traffic_cfg, ctx))
    for mc in cfg.get("metrics", []):
        out.metrics[mc.name or mc.type] = registry.create("metrics", mc, ctx)
    out.logs = [registry.create("logs", c, ctx) for c in cfg.get("logs", [])]
    out.notify = [registry.create("notify", c, ctx) for c in cfg.get("notify", [])]
    if cfg.get("probes"):
        out.probes = registry.create("probes", cfg["probes"][0], ctx)
    return out


class Driver:
    def __init__(
        self,
        loaded: LoadedPlan,
        journal_path: str | Path,
        clock: Clock | None = None,
        backends: Backends | None = None,
        operator: str | None = None,
        shared: dict[str, Any] | None = None,
        resume: list[dict[str, Any]] | None = None,
    ) -> None:
        self.loaded = loaded
        self.plan = loaded.plan
        self.clock: Clock = clock or RealClock()
        self.operator = operator or default_operator()
        self.plan_dir = str(Path(loaded.path).resolve().parent) if loaded.path else "."
        self.ctx = BackendContext(clock=self.clock, plan_dir=self.plan_dir, shared=shared or {}, emit_log=self._log)
        self.backends = backends or build_backends(loaded, self.ctx)
        self.journal_path = Path(journal_path)
        self._resume = resume
        if resume:
            self.journal = Journal.reopen(self.journal_path)
            self.state: RunState = replay(resume)
        else:
            self.journal = Journal(self.journal_path)
            self.state = initial_state(self.plan)
        self.guards = GuardSet(self.plan)
        self.subscribers: list[Subscriber] = []
        self.health: dict[str, BackendHealth] = {}
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._loops: list[asyncio.Task[Any]] = []
        self._stopping = False
        self._stop_requested = False
        self._notifications: set[asyncio.Task[None]] = set()
        self._traffic_lock = asyncio.Lock()  # one traffic change at a time, in order
        self.last_samples: dict[str, Any] = {}

    # ------------------------------------------------------------ public

    def subscribe(self, fn: Subscriber) -> None:
        self.subscribers.append(fn)

    def submit(self, name: str, operator: str | None = None, **args: Any) -> None:
        """Queue an operator command. Safe to call from the UI at any time."""
        self._inbox.put_nowait(
            {"type": "command", "name": name, "operator": operator or self.operator, "args": args}
        )

    async def run(self, linger: bool = False) -> RunState:
        """Drive the plan until the run ends (completed, rolled back or aborted).

        `linger`: keep sampling and taking commands after the end (the screen stays live,
        a rollback is still possible) until `stop()`.
        """
        if not self._resume:
            self._write("run-start", {
                "plan": self.plan.model_dump(mode="json", by_alias=True),
                "plan_path": self.loaded.path,
                "fingerprint": self.plan.fingerprint(),
                "journal": str(self.journal_path),
            })
        else:
            await self._reconcile()
        self._emit({"type": "journal", "path": str(self.journal_path)})
        self._emit_state()
        await self._read_back()
        self._loops.append(asyncio.create_task(self._backfill(), name="backfill"))
        self._loops.append(asyncio.create_task(self._sample_loop(), name="sampler"))
        for src in self.backends.logs:
            self._loops.append(asyncio.create_task(self._log_loop(src), name="logs"))
        try:
            while True:
                quiet = self.state.terminal and self._inbox.empty() and not self._has_live_effects()
                if quiet and (not linger or self._stop_requested):
                    break
                event = await self._inbox.get()
                if event.get("type") == "stop":
                    continue
                self._process(event)
        finally:
            await self._shutdown()
        return self.state

    async def stop(self, reason: str = "stopped") -> None:
        """End the run here (aborting it if still live) and return from run()."""
        self._stop_requested = True
        if not self.state.terminal:
            self._inbox.put_nowait({"type": "command", "name": "abort", "operator": self.operator,
                                    "args": {"reason": reason}})
        self._inbox.put_nowait({"type": "stop"})

    def describe(self, name: str, **args: Any) -> list[str]:
        """What each backend will do for a forward action: the confirm preview."""
        traffic = self.backends.traffic
        if name == "shift":
            return list(traffic.describe_shift(int(args["percent"])))
        if name == "rollback":
            return list(traffic.describe_shift(0))
        return []

    # ------------------------------------------------------------ core loop

    def _process(self, event: dict[str, Any]) -> None:
        event.setdefault("at", self.clock.now())
        self._write("event", event, str(event.get("operator") or "shipdeck"))
        self.state, effects = transition(self.state, event)
        self._emit_state(event)
        for eff in effects:
            self._execute(eff)

    def _has_live_effects(self) -> bool:
        return any(not t.done() and not t.cancelling() for t in self._tasks.values())

    def _execute(self, eff: dict[str, Any]) -> None:
        kind = eff["kind"]
        if kind == "notice":
            self._emit({"type": "notice", "level": eff["level"], "text": eff["text"]})
            self._log(LogLine(self.clock.now(), "shipdeck", eff["level"], eff["text"]))
        elif kind == "notify":
            values = {name: v.get("value") for name, v in self.last_samples.items()}
            eff = {**eff, "context": {**eff["context"], "metrics": values}}
            for n in self.backends.notify:
                sending = asyncio.create_task(self._notify(n, eff))
                self._notifications.add(sending)
                sending.add_done_callback(self._notifications.discard)
        elif kind == "cancel":
            task = self._tasks.get(eff["id"])
            if task is not None:
                task.cancel()
        elif kind == "timer":
            self._tasks[eff["id"]] = asyncio.create_task(self._timer(eff))
        else:
            self._write("intent", eff, str(eff.get("operator") or "shipdeck"))
            self._emit({"type": "effect", "phase": "start", "effect": eff})
            self._tasks[eff["id"]] = asyncio.create_task(self._call(eff))

    async def _timer(self, eff: dict[str, Any]) -> None:
        await self.clock.sleep(float(eff["seconds"]))
        self._inbox.put_nowait({"type": "timer", "id": eff["id"]})

    async def _call(self, eff: dict[str, Any]) -> None:
        kind = eff["kind"]
        backend = "traffic" if kind in ("shift", "rollback") else kind
        health = self.health.setdefault(backend, BackendHealth(backend, kind))
        health.status, health.detail, health.since = "busy", kind, self.clock.now()
        self._emit({"type": "backend", **health.to_dict()})
        result: dict[str, Any]
        try:
            data = await self._perform(eff)
            result = {"ok": data.pop("ok", True), "data": data, "error": data.pop("error", "")}
            health.status, health.detail = "ok", ""
        except asyncio.CancelledError:
            result = {"ok": False, "data": {}, "error": "cancelled: superseded by a rollback"}
            health.status, health.detail = "ok", "cancelled"
        except TimeoutError:
            result = {"ok": False, "data": {}, "error": f"{kind} timed out: the backend did not answer in time"}
            health.status, health.detail = "failed", result["error"]
        except Exception as e:  # noqa: BLE001 - a backend failure is reported, never fatal
            result = {"ok": False, "data": {}, "error": f"{type(e).__name__}: {e}"}
            health.status, health.detail = "failed", result["error"]
        health.since = self.clock.now()
        self._emit({"type": "backend", **health.to_dict()})
        self._write("outcome", {"id": eff["id"], "kind": kind, **result}, "shipdeck")
        self._emit({"type": "effect", "phase": "end", "effect": eff, **result})
        self._inbox.put_nowait({"type": "result", "id": eff["id"], **result})

    async def _perform(self, eff: dict[str, Any]) -> dict[str, Any]:
        kind = eff["kind"]
        timeout = self.plan.settings.timeout
        traffic = self.backends.traffic
        if kind in ("shift", "rollback"):
            async with self._traffic_lock:
                call = traffic.shift(int(eff["percent"])) if kind == "shift" else traffic.rollback()
                split = await bounded(call, timeout)
            return {"green": split.green, "detail": split.detail, "commands": list(split.commands)}
        if kind == "run":
            cwd = os.path.join(self.plan_dir, eff["cwd"]) if eff.get("cwd") else self.plan_dir
            res = await run_command(
                eff["command"], float(eff["timeout"]), cwd=cwd,
                on_line=lambda stream, text: self._log(
                    LogLine(self.clock.now(), "run", "warning" if stream == "stderr" else "info", text)
                ),
            )
            if res.timed_out:
                return {"ok": False, "error": f"timed out after {eff['timeout']:g}s; process group killed",
                        "output": res.output}
            ok = res.exit_code == 0
            return {"ok": ok, "error": "" if ok else f"exit {res.exit_code}: {_last_line(res.output)}",
                    "detail": f"exit 0 in {res.duration:.1f}s", "output": res.output}
        if kind == "probe":
            prober = self.backends.probes or self._default_prober()
            probe: ProbeResult = await bounded(
                prober.probe(eff["url"], int(eff["expect_status"]), float(eff["timeout"]), eff.get("body")),
                float(eff["timeout"]) * 4 + timeout,
            )
            detail = f"{probe.status} in {probe.latency_ms:.0f}ms {probe.detail}".strip()
            return {"ok": probe.ok, "error": "" if probe.ok else f"probe failed: {detail}", "detail": detail}
        raise ValueError(f"unknown effect {kind!r}")

    def _default_prober(self) -> Any:
        if "http" not in registry.available("probes"):
            raise RuntimeError("no probe backend: set backends.probes")
        cls = registry.load("probes", "http")
        self.backends.probes = cls(cls.Config(type="http"), self.ctx)
        return self.backends.probes

    async def _notify(self, notifier: Any, eff: dict[str, Any]) -> None:
        try:
            await bounded(notifier.notify(eff["event"], eff["message"], eff["context"]), NOTIFY_TIMEOUT)
        except Exception as e:  # noqa: BLE001 - notifications never stop a deploy
            self._log(LogLine(self.clock.now(), "notify", "warning", f"notification failed: {type(e).__name__}"))

    # ------------------------------------------------------------ sampling and logs

    async def _read_back(self) -> None:
        """Read the live split; a change nobody here made (drift) holds the run."""
        if self._traffic_lock.locked():
            return
        health = self.health.setdefault("traffic", BackendHealth("traffic", "traffic"))
        try:
            async with self._traffic_lock:
                split = await bounded(self.backends.traffic.current(), self.plan.settings.timeout)
        except Exception as e:  # noqa: BLE001 - reported on screen, never fatal
            if isinstance(e, DriftError):
                self._inbox.put_nowait({"type": "traffic", "drift": str(e)})
                return
            reason = "timed out" if isinstance(e, TimeoutError) else f"{type(e).__name__}: {e}"
            if health.status != "failed":
                health.status, health.detail, health.since = "failed", f"read-back: {reason}", self.clock.now()
                self._emit({"type": "backend", **health.to_dict()})
            return
        if health.status == "failed" and health.detail.startswith("read-back"):
            health.status, health.detail = "ok", ""
            self._emit({"type": "backend", **health.to_dict()})
        if split.green != self.state.traffic:
            self._inbox.put_nowait({"type": "traffic", "green": split.green, "detail": split.detail})

    def _queries(self) -> dict[str, dict[str, str]]:
        """metrics source -> {metric name: query}"""
        out: dict[str, dict[str, str]] = {}
        for name, m in self.plan.metrics.items():
            out.setdefault(self.plan.metric_source(name), {})[name] = m.query or name
        return out

    async def _backfill(self) -> None:
        """Fill the charts with the recent past from sources that keep history (Prometheus)."""
        now = self.clock.now()
        for source, queries in self._queries().items():
            backend = self.backends.metrics.get(source)
            if not isinstance(backend, Backfillable):
                continue
            try:
                history = await bounded(backend.backfill(queries, now - BACKFILL_S, now,
                                                         self.plan.settings.sample_interval), self.plan.settings.timeout)
            except Exception as e:  # noqa: BLE001 - charts start empty, nothing worse
                self._log(LogLine(now, "shipdeck", "warning", f"no chart history from {source}: {e}"))
                continue
            points = sorted({s.ts for samples in history.values() for s in samples})
            by_ts: dict[float, dict[str, Any]] = {t: {} for t in points}
            for name, samples in history.items():
                for smp in samples:
                    by_ts[smp.ts][name] = _sample_dict(smp)
            self._emit({"type": "history", "points": [[t, by_ts[t]] for t in points]})

    async def _sample_loop(self) -> None:
        interval = self.plan.settings.sample_interval
        queries = self._queries()
        while not self._stopping:
            await self._sample_once(queries)
            await self._read_back()
            # Reschedule after completion: polls never overlap.
            await self.clock.sleep(interval)

    async def _sample_once(self, queries: dict[str, dict[str, str]]) -> None:
        now = self.clock.now()
        samples: dict[str, Sample | NoData] = {}
        results = await asyncio.gather(
            *(self._sample_source(src, q) for src, q in queries.items()), return_exceptions=False
        )
        for part in results:
            samples.update(part)
        s = self.state
        phase = s.current_phase.name if s.current_phase else None
        active = s.status in ("running", "paused")
        fired = self.guards.observe(samples, now, phase, active)
        values = {name: _sample_dict(v) for name, v in samples.items()}
        guards = [g.to_dict() for g in self.guards.status]
        self.last_samples = values
        self._write("sample", {"values": values, "guards": guards}, "shipdeck", now)
        self._emit({"type": "samples", "ts": now, "values": values, "guards": guards})
        for g in fired:
            unit = self.plan.metrics[g.metric].unit
            self._inbox.put_nowait({
                "type": "guard", "guard": g.index, "metric": g.metric, "action": g.action,
                "summary": f"guard breached: {g.summary(unit)} → {g.action}",
                "threshold": g.threshold, "window": g.window,
                "values": [[round(t, 3), v] for t, v in g.breach_values],
                "operator": f"guard:{g.metric}",
            })

    async def _sample_source(self, source: str, queries: dict[str, str]) -> dict[str, Sample | NoData]:
        backend = self.backends.metrics.get(source)
        health = self.health.setdefault(f"metrics:{source}", BackendHealth(source, "metrics"))
        now = self.clock.now()
        if backend is None:
            return {n: NoData(f"no metrics source {source!r}", now, True) for n in queries}
        try:
            out = dict(await bounded(backend.sample(queries), self.plan.settings.timeout))
        except Exception as e:  # noqa: BLE001 - a failing source is no data, never a crash
            reason = "timed out" if isinstance(e, TimeoutError) else f"{type(e).__name__}: {e}"
            out = {n: NoData(reason, now, True) for n in queries}
        down = [v for v in out.values() if isinstance(v, NoData) and v.source_down]
        status = "down" if down and len(down) == len(out) else "ok"
        if status != health.status:
            health.status, health.detail, health.since = status, down[0].reason if down else "", now
            self._emit({"type": "backend", **health.to_dict()})
        return out

    async def _log_loop(self, source: Any) -> None:
        try:
            async for batch in source.lines():
                self._emit({"type": "logs", "lines": [_line_dict(x) for x in batch]})
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - a dead log source shows up on screen, no more
            self._log(LogLine(self.clock.now(), "shipdeck", "error", f"log source stopped: {type(e).__name__}: {e}"))

    def _log(self, line: LogLine) -> None:
        self._emit({"type": "logs", "lines": [_line_dict(line)]})

    # ------------------------------------------------------------ plumbing

    async def _reconcile(self) -> None:
        """After a crash: intents without outcomes are unknown; read back and let the operator decide."""
        assert self._resume is not None
        try:
            live = await bounded(self.backends.traffic.current(), self.plan.settings.timeout)
            live_text = f"traffic now reads green {live.green}% ({live.detail})"
            green: int | None = live.green
        except Exception as e:  # noqa: BLE001
            live_text, green = f"traffic could not be read back: {e}", None
        for rec in open_intents(self._resume):
            eff = rec["data"]
            error = f"outcome unknown after restart; {live_text}"
            data = {"green": green} if eff["kind"] in ("shift", "rollback") and green is not None else {}
            self._write("outcome", {"id": eff["id"], "kind": eff["kind"], "ok": False, "error": error,
                                    "data": data}, "shipdeck")
            self._inbox.put_nowait({"type": "result", "id": eff["id"], "ok": False, "error": error, "data": data})
        bake = self.state.bake
        if bake and "timer" in bake:
            remaining = max(0.0, float(bake["ends_at"]) - self.clock.now())
            self._tasks[bake["timer"]] = asyncio.create_task(self._timer({"id": bake["timer"], "seconds": remaining}))

    def _write(self, kind: str, data: dict[str, Any], operator: str = "shipdeck", ts: float | None = None) -> None:
        self.journal.append(kind, data, operator, self.clock.now() if ts is None else ts)

    def _emit(self, event: dict[str, Any]) -> None:
        for fn in list(self.subscribers):
            fn(event)

    def _emit_state(self, cause: dict[str, Any] | None = None) -> None:
        self._emit({"type": "state", "state": self.state.to_dict(), "cause": cause or {}})

    async def _shutdown(self) -> None:
        self._stopping = True
        pending = {t for t in self._notifications if not t.done()}
        if pending:  # the last notifications (rollback, completed) matter most: let them go out
            await asyncio.wait(pending, timeout=NOTIFY_TIMEOUT)
        for t in [*self._loops, *self._tasks.values()]:
            t.cancel()
        for t in [*self._loops, *self._tasks.values()]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        for src in self.backends.logs:
            close = getattr(src, "aclose", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()
        s = self.state
        self._write("run-end", {"status": s.status, "traffic": s.traffic, "reason": s.reason})
        self._emit({"type": "end", "status": s.status, "traffic": s.traffic, "journal": str(self.journal_path)})
        self.journal.close()


def _last_line(text: str) -> str:
    lines = [x for x in text.splitlines() if x.strip()]
    return lines[-1][:200] if lines else "(no output)"


def _sample_dict(v: Sample | NoData) -> dict[str, Any]:
    if isinstance(v, Sample):
        value = None if math.isnan(v.value) else v.value
        return {"value": value, "series": dict(v.series)}
    return {"value": None, "nodata": v.reason, "down": v.source_down}


def _line_dict(line: LogLine) -> dict[str, Any]:
    return {"ts": line.ts, "source": line.source, "level": line.level, "text": line.text}


def exit_code(state: RunState) -> int:
    if state.status == "completed" and state.traffic == 100:
        return 0
    if state.status == "rolled-back":
        return 3
    return 1
