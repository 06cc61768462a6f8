"""The driver: feeds events through the machine, runs effects through backends, journals both.

Commands in, events out, both plain dicts: a subscriber may live in another process, so
nothing here assumes it shares one with the UI. Every backend call runs in its own task
with a timeout; a hung backend fails its call, never the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import math
import os
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from backends.base import (
    BackendContext,
    Clock,
    DriftError,
    LogLine,
    NoData,
    Previewable,
    RealClock,
    Restorable,
    Sample,
)
from tui.engine.guards import GuardSet
from tui.engine.identity import identity
from tui.engine.initial import initial_state
from tui.engine.journal import Journal, parse_iso, replay
from tui.engine.machine import transition
from tui.engine.perform import Perform
from tui.engine.plan import ACCEPTED_IMPORT_ENV, LoadedPlan, format_duration, outside_window
from tui.engine.reconcile import read_live, settle
from tui.engine.secrets import Redactor, mask_plan
from tui.engine.sources import MetricSources
from tui.engine.state import RunState, Subscriber, resume_command, traffic_words
from tui.engine.wiring import (
    BackendHealth,
    Backends,
    bounded,
    build_backends,
    close_all,
    line_dict,
    on_loop,
    sample_dict,
)
from tui.memory import AfterBursts

NOTIFY_TIMEOUT = 10.0
NOTIFY_REPEAT_S = 300.0  # the same alert again within this is a duplicate
REMIND_MAX_S = 3600.0  # a hold is said again at least this often
MAX_UNWRITTEN = 100_000  # journal records kept in memory while the disk refuses them


class Driver:
    def __init__(
        self,
        loaded: LoadedPlan,
        journal_path: str | Path,
        clock: Clock | None = None,
        backends: Backends | None = None,
        operator: str | None = None,
        shared: dict[str, Any] | None = None,
        resume: bool = False,
    ) -> None:
        self.loaded = loaded
        self.plan = loaded.plan
        self.clock: Clock = clock or RealClock()
        self.operator = operator or identity()
        self.plan_dir = str(Path(loaded.path).resolve().parent) if loaded.path else "."
        self._plan_data = self.plan.model_dump(mode="json", by_alias=True)
        self.redact = Redactor(self._plan_data)
        self.ctx = BackendContext(clock=self.clock, plan_dir=self.plan_dir, shared=shared or {}, emit_log=self._log)
        self.journal_path = Path(journal_path)
        # The lock comes first: a second driver must not build backends or touch the journal.
        self.journal = Journal(self.journal_path, resume=resume, operator=self.operator)
        self._resumed = resume
        self.state: RunState = replay(self.journal.records) if resume else initial_state(self.plan)
        try:
            self.backends = backends or build_backends(loaded, self.ctx)
        except BaseException:
            self.journal.close()
            raise
        self.guards = GuardSet(self.plan)
        self.subscribers: list[Subscriber] = []
        self.health: dict[str, BackendHealth] = {}
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._loops: list[asyncio.Task[Any]] = []
        self._after_bursts = AfterBursts(self.plan.settings.max_log_lines)
        self._stopping = False
        self._stop_requested = False
        self._suspend_reason: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the engine's own, once run() starts
        self._notifications: set[asyncio.Task[None]] = set()
        self._sent: dict[tuple[str, str], float] = {}
        self._traffic_lock = asyncio.Lock()  # one traffic change at a time, in order
        self._perform = Perform(self.backends, self.ctx, self.plan.settings.timeout, self._traffic_lock)
        self._sources = MetricSources(self.backends.metrics, self.plan.queries_by_source(), self.clock,
                                      self.plan.settings, self.health, self._emit, self._log)
        self._unwritten: list[tuple[str, dict[str, Any], str, float]] = []
        self._in_fault = False
        self._faults: dict[str, str] = {}  # part of the engine -> what failed, while it stays failed
        self.spilled = ""  # where records the journal refused went at exit ('' when none did)
        self.machine_broken = False  # the state machine raised: only the emergency rollback is left
        self.last_samples: dict[str, Any] = {}
        self._last_readings: dict[str, Sample | NoData] = {}
        self._said: set[tuple[Any, ...]] = set()  # refusals said since the state last changed
        self._ended = self.state.terminal  # the run-end record is written (a resumed journal may hold it)
        self._reminder: tuple[float, float] | None = None  # (hold since, next reminder at)

    def _accepted_import(self) -> dict[str, Any]:
        pending = self.plan.pending_review()
        who = os.environ.get(ACCEPTED_IMPORT_ENV, "")
        if not pending or not who:
            return {}
        self._log(LogLine(self.clock.now(), "shipdeck", "warning", f"import accepted by {who} with {len(pending)} "
                          "item(s) not reviewed: they stay inactive"))
        return {"import_accepted": {"by": who, "pending": [r.line for r in pending]}}

    # ------------------------------------------------------------ public

    def subscribe(self, fn: Subscriber) -> None:
        self.subscribers.append(fn)

    def submit(self, name: str, operator: str | None = None, **args: Any) -> None:
        """Queue an operator command. Safe to call at any time, from any thread."""
        self._post(self._command(name, operator, args))

    async def command(self, name: str, operator: str, **args: Any) -> None:
        """Queue a command, on the engine's loop, and return once the engine has taken it (done or refused)."""
        taken = asyncio.get_running_loop().create_future()
        self._post({**self._command(name, operator, args), "taken": taken})
        await taken

    def _command(self, name: str, operator: str | None, args: dict[str, Any]) -> dict[str, Any]:
        return {"type": "command", "name": name, "operator": operator or self.operator, "args": args}

    def _post(self, item: dict[str, Any]) -> None:
        loop = self._loop
        if loop is not None and not on_loop(loop) and not loop.is_closed():
            loop.call_soon_threadsafe(self._inbox.put_nowait, item)  # from the screen's thread
        else:
            self._inbox.put_nowait(item)

    async def run(self, linger: bool = False) -> RunState:
        """Drive the plan until the run ends (completed, rolled back or aborted) or is suspended.

        `linger`: keep sampling and taking commands after the end (the screen stays live,
        a rollback is still possible) until `stop()` or `suspend()`.
        """
        self._loop = asyncio.get_running_loop()
        try:
            if self.journal.stale_holder:
                self._log(LogLine(self.clock.now(), "shipdeck", "warning",
                                  f"stale journal lock from {self.journal.stale_holder}: taken over"))
            if not self._resumed:
                self._write("run-start", {
                    "plan": mask_plan(self._plan_data),
                    "plan_path": self.loaded.path,
                    "fingerprint": self.plan.fingerprint(),
                    "journal": str(self.journal_path),
                    **self._accepted_import(),
                })
            else:
                await self._reconcile()
            self._emit({"type": "journal", "path": str(self.journal_path)})
            self.guards.set_traffic(self.state.traffic, self.clock.now())
            await self._read_back()
            # The guards (and the window) look once before anyone, the autopilot included, is shown a state.
            self._check_window()
            await self._guarded("sampler", self._sample_once())
            self._emit_state()
            self._loops.append(asyncio.create_task(self._sources.backfill(), name="backfill"))
            self._loops.append(asyncio.create_task(self._sample_loop(), name="sampler"))
            for src in self.backends.logs:
                self._loops.append(asyncio.create_task(self._log_loop(src), name="logs"))
            while True:
                if self._suspend_reason is not None and not self._traffic_in_flight():
                    break  # never leave a shift half-applied: its outcome is journalled first
                quiet = self.state.terminal and self._inbox.empty() and not self._has_live_effects()
                if quiet and (not linger or self._stop_requested):
                    break
                event = await self._inbox.get()
                if event.get("type") == "stop":
                    continue
                taken = event.pop("taken", None)
                try:
                    self._process(event)
                finally:
                    if taken is not None and not taken.done():
                        taken.set_result(None)
        except BaseException as e:
            if self._suspend_reason is None and not self.state.terminal:
                # The engine itself broke: the run is left suspended and resumable and says so, never "ended".
                self._suspend_reason = f"engine error: {type(e).__name__}: {e}"
            raise
        finally:
            await self._shutdown()
        return self.state

    async def stop(self, reason: str = "stopped") -> None:
        """End the run here (aborting it if still live) and return from run()."""
        self._stop_requested = True
        if not self.state.terminal:
            self.submit("abort", reason=reason)
        self._post({"type": "stop"})

    def suspend(self, reason: str) -> None:
        """Stop driving but leave the run resumable: traffic stays where it is, nothing is aborted.

        A traffic change in flight finishes (and is journalled) first. Used for quit, SIGHUP and
        a headless run that needs a human.
        """
        if self._suspend_reason is None:
            self._suspend_reason = reason
        self._post({"type": "stop"})

    @property
    def failed(self) -> str:
        """Why the engine failed ('' while healthy): shown as ENGINE FAILED."""
        return next(iter(self._faults.values()), "")

    @property
    def suspending(self) -> bool:
        return self._suspend_reason is not None

    def describe(self, name: str, **args: Any) -> list[str]:
        """What each backend will do for a forward action: the confirm preview."""
        traffic = self.backends.traffic
        if name == "shift":
            return list(traffic.describe_shift(int(args["percent"])))
        if name == "rollback":
            return list(traffic.describe_shift(0))
        return []

    def preview(self, percent: int) -> concurrent.futures.Future[list[str]] | None:
        """Ask the traffic backend to check a shift without applying it (a server-side dry run), on the
        engine's loop; None when it cannot. The screen shows the answer when it comes."""
        traffic, loop = self.backends.traffic, self._loop
        if not isinstance(traffic, Previewable) or loop is None or loop.is_closed():
            return None
        return asyncio.run_coroutine_threadsafe(
            bounded(traffic.preview_shift(percent), self.plan.settings.timeout), loop)

    # ------------------------------------------------------------ core loop

    def _process(self, event: dict[str, Any]) -> None:
        event.setdefault("at", self.clock.now())
        who = str(event.get("operator") or "shipdeck")
        if self.machine_broken:
            self._write("event", event, who)
            self._degraded(event)
            return
        before = self.state
        try:
            self.state, effects = transition(before, event)
        except Exception as e:  # noqa: BLE001 - the engine failing must not take rollback with it
            self._write("event", event, who)
            self.machine_broken = True
            self._fail("engine", e)
            self._degraded(event)
            return
        if self.state == before and event.get("type") == "command" and all(e["kind"] == "notice" for e in effects):
            # Refused (or a no-op): the machine is pure, so the same command in the same state gets the same
            # answer. It is journalled and said once; a key held down or a retry loop adds nothing.
            said = (event.get("name"), repr(event.get("args")), tuple(e["text"] for e in effects))
            if said in self._said:
                self._emit({"type": "refused", "cause": event})  # the sender learns its command was heard
                return
            self._said.add(said)
        elif self.state != before:
            self._said.clear()
        self._write("event", event, who)
        if self.state.terminal and not before.terminal:  # journalled when the run ends, not when the engine leaves
            self._ended = True
            self._write("run-end", {"status": self.state.status, "traffic": self.state.traffic,
                                    "reason": self.state.reason})
        self._emit_state(event)
        for eff in effects:
            self._execute(eff)
        if self.state.traffic != before.traffic:
            # A side that starts carrying traffic waits for its evidence from now, not from the next sample.
            self.guards.set_traffic(self.state.traffic, self.clock.now())
            self.guards.reclassify(self.clock.now())
            self._sync_evidence()

    def _degraded(self, event: dict[str, Any]) -> None:
        """After the state machine failed: rollback (by a human or a guard) still reaches the backend."""
        wants_rollback = (event.get("type") == "command" and event.get("name") == "rollback") or (
            event.get("type") == "guard" and event.get("action") == "rollback")
        if wants_rollback:
            reason = str(event.get("summary") or f"rollback by {event.get('operator')}")
            self._tasks["emergency-rollback"] = asyncio.create_task(self._emergency_rollback(reason))
        elif event.get("type") == "command":
            self._emit({"type": "notice", "level": "error",
                        "text": f"ENGINE FAILED ({self.failed}): only rollback works now"})

    async def _emergency_rollback(self, reason: str) -> None:
        eff = {"kind": "rollback", "id": f"emergency-{self.clock.now():.3f}", "reason": reason}
        self._write("intent", eff)
        try:
            split = await bounded(self.backends.traffic.rollback(), self.plan.settings.timeout)
            result = {"ok": True, "data": {"green": split.green, "commands": list(split.commands)}, "error": ""}
            self.state.traffic, self.state.status, self.state.reason = split.green, "rolled-back", reason
            self.state.waiting = ""
        except Exception as e:  # noqa: BLE001 - reported; the key can be pressed again
            result = {"ok": False, "data": {}, "error": f"{type(e).__name__}: {e}"}
        self._write("outcome", {"id": eff["id"], "kind": "rollback", **result})
        self._emit({"type": "effect", "phase": "end", "effect": eff, **result})
        self._emit_state()
        text = f"emergency rollback: green {self.state.traffic}%" if result["ok"] else \
            f"EMERGENCY ROLLBACK FAILED: {result['error']}; press rollback to retry"
        self._send_all("rollback", text)

    def _has_live_effects(self) -> bool:
        return any(not t.done() and not t.cancelling() for t in self._tasks.values())

    def _traffic_in_flight(self) -> bool:
        return any(e["kind"] in ("shift", "rollback") for e in self.state.pending.values()) and not self.machine_broken

    def _execute(self, eff: dict[str, Any]) -> None:
        kind = eff["kind"]
        if kind == "notice":
            self._emit({"type": "notice", "level": eff["level"], "text": eff["text"]})
            self._log(LogLine(self.clock.now(), "shipdeck", eff["level"], eff["text"]))
        elif kind == "notify":
            values = {name: v.get("value") for name, v in self.last_samples.items()}
            self._send_all(eff["event"], eff["message"], {**eff["context"], "metrics": values})
        elif kind == "cancel":
            task = self._tasks.get(eff["id"])
            if task is not None:
                task.cancel()
        elif kind == "timer":
            self._tasks[eff["id"]] = asyncio.create_task(self._timer(eff))
        elif kind == "rearm":
            self.guards.rearm(list(eff["guards"]), self.clock.now(), eff.get("silence_until"))
        else:
            self._write("intent", eff, str(eff.get("operator") or "shipdeck"))
            self._emit({"type": "effect", "phase": "start", "effect": eff})
            self._tasks[eff["id"]] = asyncio.create_task(self._call(eff))

    def _send_all(self, event: str, message: str, context: dict[str, Any] | None = None) -> None:
        """Every notifier, once: the same alert within NOTIFY_REPEAT_S is a duplicate and not sent."""
        now = self.clock.now()
        key = (event, message)
        if now - self._sent.get(key, -math.inf) < NOTIFY_REPEAT_S:
            return
        self._sent[key] = now
        if context is None:
            ph = self.state.current_phase
            context = {"plan": self.plan.name, "phase": ph.name if ph else "", "traffic": self.state.traffic}
        eff = self.redact.data({"event": event, "message": message, "context": context})
        for n in self.backends.notify:
            sending = asyncio.create_task(self._notify(n, eff))
            self._notifications.add(sending)
            sending.add_done_callback(self._notifications.discard)

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

    async def _notify(self, notifier: Any, eff: dict[str, Any]) -> None:
        try:
            await bounded(notifier.notify(eff["event"], eff["message"], eff["context"]), NOTIFY_TIMEOUT)
        except Exception as e:  # noqa: BLE001 - notifications never stop a deploy
            self._log(LogLine(self.clock.now(), "notify", "warning", f"notification failed: {type(e).__name__}"))

    # ------------------------------------------------------------ sampling and logs

    async def _read_back(self) -> None:
        """Read the live split; a change nobody here made (drift) holds the run."""
        if self._traffic_lock.locked() or self._traffic_in_flight():
            return  # a shift or rollback is under way: its own result says what the split is
        if self.state.traffic_by_hand is not None:
            return  # moved by hand: there is nothing to read back
        health = self.health.setdefault("traffic", BackendHealth("traffic", "traffic"))
        try:
            async with self._traffic_lock:
                split = await bounded(self.backends.traffic.current(), self.plan.settings.timeout)
        except Exception as e:  # noqa: BLE001 - reported on screen, never fatal
            if isinstance(e, DriftError):
                live = {"green": e.live.green} if e.live is not None else {}
                self._inbox.put_nowait({"type": "traffic", "drift": str(e), **live})
                return
            reason = "timed out" if isinstance(e, TimeoutError) else f"{type(e).__name__}: {e}"
            if health.status != "failed":
                health.status, health.detail, health.since = "failed", f"read-back: {reason}", self.clock.now()
                self._emit({"type": "backend", **health.to_dict()})
            return
        if health.status == "failed" and health.detail.startswith("read-back"):
            health.status, health.detail = "ok", ""
            self._emit({"type": "backend", **health.to_dict()})
        known = self.state.traffic
        if split.green == known or self._traffic_in_flight():
            return
        event: dict[str, Any] = {"type": "traffic", "green": split.green, "detail": split.detail}
        if known is not None:  # shipdeck set (or saw) another split: someone changed it by hand
            event["drift"] = f"green reads {split.green}% where shipdeck last had {known}% ({split.detail})"
        self._inbox.put_nowait(event)

    async def _sample_loop(self) -> None:
        interval = self.plan.settings.sample_interval
        next_sample = self.clock.now() + interval
        while not self._stopping:
            now = self.clock.now()
            due = self.guards.next_deadline()
            if due is not None and due < next_sample:
                # A window fills between two samples: judge it at that moment, on the last readings.
                await self.clock.sleep(max(0.0, due - now))
                await self._guarded("guards", self._judge(self._last_readings, self.clock.now()))
                continue
            await self.clock.sleep(max(0.0, next_sample - now))
            self._check_window()
            await self._guarded("sampler", self._sample_once())
            await self._guarded("read-back", self._read_back())
            self._remind()
            next_sample = self.clock.now() + interval  # after completion: polls never overlap

    def _remind(self) -> None:
        """A hold that lasts is said again, at a falling rate (hold_limit, then twice as long each time, an hour
        at most): to the log pane and every notifier, not the journal."""
        hold, now, limit = self.state.hold, self.clock.now(), self.plan.settings.hold_limit
        if hold is None or hold["kind"] == "evidence":
            self._reminder = None
            return
        if self._reminder is None or self._reminder[0] != hold["since"]:
            self._reminder = (hold["since"], hold["since"] + limit)
        since, due = self._reminder
        if now < due:
            return
        age = now - since
        self._reminder = (since, now + min(max(age, limit), REMIND_MAX_S))
        text = f"the run has held for {format_duration(age)}: {hold['reason']}"
        self._log(LogLine(now, "shipdeck", "warning", text))
        self._send_all("hold-reminder", text)

    def _check_window(self) -> None:
        """The plan's window, by the engine's clock; processed now, like blindness: no command slips past it."""
        outside = outside_window(self.plan.window, self.clock.now())
        if outside != self.state.outside_window:
            self._process({"type": "window", "outside": outside})

    async def _guarded(self, part: str, work: Awaitable[None]) -> None:
        """Run one tick of a loop; a failure is loud (ENGINE FAILED, notified) and the loop goes on. The next
        tick that works ends the failure, as loudly."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - a dead sampler would be a guard that silently stopped
            self._fail(part, e)
            return
        if part in self._faults:
            self._recover(part, "its last tick worked")

    async def _sample_once(self) -> None:
        now = self.clock.now()
        samples = await self._sources.read()
        self._last_readings = samples
        values = {name: sample_dict(v) for name, v in samples.items()}
        self.last_samples = values
        fired = self._observe(samples, now)
        guards = [g.to_dict() for g in self.guards.status]
        self._write("sample", {"values": values, "guards": guards}, "shipdeck", now)
        self._emit({"type": "samples", "ts": now, "values": values, "guards": guards})
        self._act(fired)

    async def _judge(self, samples: dict[str, Sample | NoData], now: float) -> None:
        """Guards judged between samples (a window's deadline), on the readings they last saw."""
        fired = self._observe(samples, now)
        if fired:
            self._write("guards", {"guards": [g.to_dict() for g in self.guards.status]}, "shipdeck", now)
        self._act(fired)

    def _observe(self, samples: dict[str, Sample | NoData], now: float) -> list[Any]:
        s = self.state
        phase = s.current_phase.name if s.current_phase else None
        fired = self.guards.observe(samples, now, phase, s.status in ("running", "paused"))
        self._sync_evidence()
        return fired

    def _sync_evidence(self) -> None:
        """Tell the machine what the guards lack, now, not queued: no command may slip in while they are blind."""
        s = self.state
        evidence = self.guards.evidence(s.current_phase.name if s.current_phase else None)
        if (evidence["guards"], evidence["awaiting"], evidence["no_traffic"]) != (s.blind, s.awaiting, s.no_traffic):
            self._process({"type": "blind", **evidence})

    def _act(self, fired: list[Any]) -> None:
        for g in fired:
            unit = self.plan.metrics[g.metric].unit
            self._inbox.put_nowait({
                "type": "guard", "guard": g.index, "metric": g.metric, "action": g.action,
                "summary": f"guard breached: {g.summary(unit)} → {g.action}",
                "threshold": g.threshold, "window": g.window, "unit": unit,
                "values": [[round(t, 3), v] for t, v in g.breach_values],
                "operator": f"guard:{g.metric}",
            })

    async def _log_loop(self, source: Any) -> None:
        try:
            async for batch in source.lines():
                # bulk: a screen behind a burst may go without these (told how many), never without shipdeck's own
                self._emit({"type": "logs", "lines": [line_dict(x) for x in batch], "bulk": True})
                self._after_bursts.came(len(batch))
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - a dead log source shows up on screen, no more
            self._log(LogLine(self.clock.now(), "shipdeck", "error", f"log source stopped: {type(e).__name__}: {e}"))

    def _log(self, line: LogLine) -> None:
        self._emit({"type": "logs", "lines": [line_dict(line)]})

    # ------------------------------------------------------------ plumbing

    async def _reconcile(self) -> None:
        """After a crash: settle what the journal says was under way (tui.engine.reconcile), let guard windows go on
        from the last journalled sample, then hold the run with a `restart` event: nothing moves forward by itself."""
        traffic = self.backends.traffic
        if isinstance(traffic, Restorable) and self.state.traffic is not None:
            traffic.restore(self.state.traffic)  # the simulated world outlives the crash, as a real one does
        green, said = await read_live(traffic, self.plan.settings.timeout)
        outcomes, results = settle(self.journal.records, self.state.pending, green, said)
        for outcome in outcomes:
            self._write("outcome", outcome)
        for result in results:
            self._inbox.put_nowait(result)
        last_sample = self.journal.last_sample
        if last_sample is not None:
            self.guards.restore(last_sample["data"]["guards"], parse_iso(last_sample["ts"]))
        last = self.journal.last_record
        crashed_at = parse_iso(last["ts"]) if last else self.clock.now()
        self._write("resume", {"live": green, "said": said, "crashed_at": crashed_at}, self.operator)
        self._inbox.put_nowait({"type": "restart", "live": green, "crashed_at": crashed_at,
                                "operator": self.operator})

    def _write(self, kind: str, data: dict[str, Any], operator: str = "shipdeck", ts: float | None = None) -> None:
        """Journal a record. If the disk refuses it, keep it in memory (and in order) for the next try,
        and raise a fault: forward actions stop, guards and rollback go on."""
        record = (kind, self.redact.data(data), operator, self.clock.now() if ts is None else ts)
        self._unwritten.append(record)
        try:
            while self._unwritten:
                self.journal.append(*self._unwritten[0])
                self._unwritten.pop(0)
        except OSError as e:
            del self._unwritten[:-MAX_UNWRITTEN]
            if "journal" not in self._faults and not self._in_fault:
                self._fail("journal", e)
            return
        if "journal" in self._faults:
            self._recover("journal", "the journal's disk takes records again; every record held meanwhile is written")

    def _fail(self, part: str, exc: BaseException) -> None:
        """Loud failure of a part of the engine: ENGINE FAILED on every screen, every notifier told,
        forward actions refused. Rollback keeps working."""
        if self._in_fault:
            return
        self._in_fault = True
        try:
            text = f"{part}: {type(exc).__name__}: {exc}"
            first = not self.failed
            self._faults.setdefault(part, text)
            self._emit({"type": "engine", "status": "failed", "reason": text})
            self._log(LogLine(self.clock.now(), "shipdeck", "error", f"ENGINE FAILED: {text}"))
            if first:
                self._send_all("engine-failed", f"ENGINE FAILED: {text}; forward actions stopped, rollback works")
            if not self.machine_broken:
                self._inbox.put_nowait({"type": "fault", "text": text})
        finally:
            self._in_fault = False

    def _recover(self, part: str, text: str) -> None:
        """A failed part works again: the engine leaves its failed state by itself, says so, journals it."""
        failed = self._faults.pop(part, "")
        if not failed:
            return
        self._log(LogLine(self.clock.now(), "shipdeck", "info", f"{part} recovered: {text}"))
        self._emit({"type": "engine", "status": "failed" if self.failed else "ok", "reason": self.failed})
        self._send_all("engine-recovered", f"{part} recovered ({text}); was: {failed}")
        self._inbox.put_nowait({"type": "recovered", "part": part, "text": text})

    def _emit(self, event: dict[str, Any]) -> None:
        if self.redact.secrets or event.get("type") in ("logs", "notice", "effect", "backend"):
            event = self.redact.data(event)
        for fn in list(self.subscribers):
            try:
                fn(event)
            except Exception as e:  # noqa: BLE001 - a broken screen must not stop the engine
                self._fail(f"subscriber {getattr(fn, '__qualname__', fn)!s}", e)

    def _emit_state(self, cause: dict[str, Any] | None = None) -> None:
        self._emit({"type": "state", "state": self.state.to_dict(), "cause": cause or {}})

    async def _shutdown(self) -> None:
        self._stopping = True
        for t in [*self._loops, *self._tasks.values()]:
            t.cancel()
        for t in [*self._loops, *self._tasks.values()]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        b = self.backends
        await close_all([*b.logs, *b.metrics.values(), b.traffic, b.probes])  # notifiers: after the last alert
        s = self.state
        if self._suspend_reason is not None and not s.terminal:
            text = (f"{self._suspend_reason}: the engine stopped with the run {s.status} and "
                    f"{traffic_words(s)}; guards are not watching until someone resumes "
                    f"({resume_command(self.loaded.path, self.journal_path)})")
            self._write("suspend", {"reason": self._suspend_reason, "status": s.status, "traffic": s.traffic})
            self._send_all("suspended", text)
            self._log(LogLine(self.clock.now(), "shipdeck", "warning", text))
        elif not self._ended:
            self._write("run-end", {"status": s.status, "traffic": s.traffic, "reason": s.reason})
        if self._unwritten:  # the disk still refuses them: never lost silently
            where, count = self.journal.spill(self._unwritten)
            self.spilled = (f"{count} journal record(s) could not be written to {self.journal_path}; they are in "
                            f"{where} (report and --resume read them)" if where else
                            f"{count} journal record(s) could not be written anywhere; they were printed to stderr")
            self._unwritten.clear()
            self._log(LogLine(self.clock.now(), "shipdeck", "error", self.spilled))
            self._send_all("journal-spilled", self.spilled)
        pending = {t for t in self._notifications if not t.done()}
        if pending:  # the last notifications (rollback, completed, suspended) matter most
            await asyncio.wait(pending, timeout=NOTIFY_TIMEOUT)
        await close_all(b.notify)
        self._emit({"type": "end", "status": s.status, "traffic": s.traffic, "words": traffic_words(s),
                    "journal": str(self.journal_path),
                    "suspended": self._suspend_reason or "", "spilled": self.spilled})
        self.journal.close()



