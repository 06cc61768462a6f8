"""Log lines of every running pod of each colour, followed as kubectl follows them."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import math
import re
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import Field

from backends.base import BackendContext, BackendError, LogLine, Problem, guess_level
from backends.kubernetes.api import POD, Kube, KubeOptions, access, reachable


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
