"""`shipdeck check` without --offline: ask every backend whether it is ready."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from backends.base import BackendContext, Problem
from tui.engine.plan import LoadedPlan, PlanIssue, ShiftStep, backend_name
from tui.engine.wiring import bounded, build_backends

PREFLIGHT_TIMEOUT = 10.0


async def _ask(backend: Any, timeout: float) -> list[Problem]:
    try:
        return list(await bounded(backend.preflight(), timeout))
    except TimeoutError:
        return [Problem(f"no answer within {timeout:g}s")]
    except Exception as e:  # noqa: BLE001 - a broken backend is a finding, not a crash
        return [Problem(f"{type(e).__name__}: {e}")]


async def preflight(loaded: LoadedPlan) -> list[PlanIssue]:
    plan = loaded.plan
    ctx = BackendContext(plan_dir=str(Path(loaded.path).resolve().parent))
    try:
        backends = build_backends(loaded, ctx)
    except Exception as e:  # noqa: BLE001
        return [loaded.issue(("backends",), f"cannot set up backends: {type(e).__name__}: {e}")]
    checks: list[tuple[tuple[str | int, ...], Any]] = [(("backends", "traffic"), backends.traffic)]
    for i, entry in enumerate(plan.backends.metrics):
        checks.append((("backends", "metrics", i), backends.metrics[backend_name(entry)]))
    checks += [(("backends", "logs", i), b) for i, b in enumerate(backends.logs)]
    checks += [(("backends", "notify", i), b) for i, b in enumerate(backends.notify)]
    if backends.probes is not None:
        checks.append((("backends", "probes"), backends.probes))
    answers = await asyncio.gather(*(_ask(b, PREFLIGHT_TIMEOUT) for _, b in checks))
    issues: list[PlanIssue] = []
    for (path, _), problems in zip(checks, answers, strict=True):
        for p in problems:
            message = p.message if p.severity == "error" else f"warning: {p.message}"
            issues.append(loaded.issue((*path, *p.field.split(".")) if p.field else path, message))
    # A traffic backend that can tell which weights it reaches (an Argo Rollout's setWeight steps) checks each shift.
    reaches = getattr(backends.traffic, "reachable_weights", None)
    shifts = [(i, j, step.shift) for i, ph in enumerate(plan.phases) for j, step in enumerate(ph.steps)
              if isinstance(step, ShiftStep)]
    if reaches is not None and shifts:
        try:
            weights = await bounded(reaches(), PREFLIGHT_TIMEOUT)
        except Exception as e:  # noqa: BLE001 - said in the backend's own problems already, or here
            weights, why = None, f"{type(e).__name__}: {e}"
            issues.append(loaded.issue(("backends", "traffic"), f"warning: could not read the weights it reaches: {why}"))
        for i, j, pct in shifts if weights is not None else []:
            if pct not in weights:
                issues.append(loaded.issue(("phases", i, "steps", j, "shift"), (
                    f"the traffic backend steps through {', '.join(f'{w}%' for w in sorted(weights))}: a shift to "
                    f"{pct}% would end at another weight (make the plan's shifts the same steps)")))
    # Backends that can parse their own queries (Prometheus) check them here.
    for name, metric in plan.metrics.items():
        backend = backends.metrics.get(plan.metric_source(name))
        validate = getattr(backend, "validate", None)
        if validate is None:
            continue
        try:
            error = await bounded(validate(metric.query or name), PREFLIGHT_TIMEOUT)
        except Exception as e:  # noqa: BLE001
            error = f"could not validate the query: {type(e).__name__}: {e}"
        if error:
            issues.append(loaded.issue(("metrics", name, "query"), error))
    return issues
