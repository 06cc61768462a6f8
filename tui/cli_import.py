"""`shipdeck import` and `shipdeck review`: a runbook becomes a draft plan, and a person decides what the importer
was not sure of; `run` asks for that review first (docs/runbook-import.md)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tui.cli import EXIT_INVALID, _load_or_exit, main, say_issues
from tui.engine.plandata import RUNBOOK_SUFFIXES

if TYPE_CHECKING:
    from tui.engine.plan import LoadedPlan


@main.command()
@click.argument("plan", type=click.Path(exists=True, dir_okay=False))
def review(plan: str) -> None:
    """Accept, edit or drop what an import was not sure of; each decision is written into the plan with who
    and when. A Markdown RUNBOOK is imported first, to RUNBOOK.plan.yaml beside it."""
    path = Path(plan)
    if plan.lower().endswith(RUNBOOK_SUFFIXES):
        path = plan_beside(plan)
        if path.exists():
            click.echo(f"reviewing {path} (imported from {plan} before)", err=True)
        else:
            write_import(plan, path)
            click.echo(f"plan written to {path}", err=True)
    loaded = _load_or_exit(str(path))
    if not loaded.plan.review:
        click.echo(f"{path}: nothing to review")
        return
    pending = review_screen(path)
    after = _load_or_exit(str(path)).plan
    decided = {s: sum(r.status == s for r in after.review) for s in ("accepted", "dropped", "pending")}
    click.echo(f"{path}: {decided['accepted']} accepted, {decided['dropped']} dropped, {decided['pending']} pending")
    sys.exit(0 if not pending else EXIT_INVALID)


def review_first(plan: str, loaded: LoadedPlan, screen: Callable[[Path], int]) -> tuple[str, LoadedPlan]:
    """The first run of an imported plan opens its review (nothing decided yet): the decisions go into the plan
    file (RUNBOOK.plan.yaml beside a runbook, written now) and the run uses them."""
    if not needs_review(loaded):
        return plan, loaded
    items = loaded.plan.review
    path = Path(plan)
    if plan.lower().endswith(RUNBOOK_SUFFIXES):
        path = plan_beside(plan)
        if path.exists():
            click.echo(f"{path} holds the review of {plan}: run it to use those decisions", err=True)
            return plan, loaded
        write_import(plan, path)
        click.echo(f"{len(items)} imported item(s) to review; the plan and your decisions go to {path}", err=True)
    screen(path)
    return str(path), _load_or_exit(str(path))


def needs_review(loaded: LoadedPlan) -> bool:
    """An imported plan nobody has decided anything of yet."""
    items = loaded.plan.review
    return bool(items) and all(r.status == "pending" for r in items)


def review_screen(path: Path) -> int:
    """The review screen on a plan file; the number of items left pending when it closes."""
    from tui.engine.identity import identity
    from tui.review_app import ReviewApp

    return ReviewApp(path, identity()).run() or 0


def plan_beside(runbook: str) -> Path:
    """RUNBOOK.plan.yaml: where a runbook's import and the decisions on it are kept."""
    return Path(runbook).with_suffix(".plan.yaml")


def write_import(runbook: str, path: Path) -> None:
    path.write_text(import_or_exit(Path(runbook)).yaml_text, encoding="utf-8")


def import_or_exit(runbook: Path) -> Any:
    from tui.engine.plan import PlanError
    from tui.engine.runbook import import_runbook

    try:
        return import_runbook(runbook)
    except PlanError as e:
        say_issues(e)
        sys.exit(EXIT_INVALID)


def refuse_unreviewed(loaded: LoadedPlan, accept_import: bool) -> None:
    """Guards the importer was not sure of never act unseen: with metrics connected, a plan with pending review
    items runs only when the operator says so on the command line (journalled with the run's start)."""
    pending = loaded.plan.pending_review()
    connected = [m for m in loaded.plan.backends.metrics if m.type != "unconnected"]
    if not pending or not connected:
        return
    if accept_import:
        from tui.engine.identity import identity
        from tui.engine.plan import ACCEPTED_IMPORT_ENV

        os.environ[ACCEPTED_IMPORT_ENV] = identity()
        return
    lines = ", ".join(str(r.line) for r in pending[:8]) + (" …" if len(pending) > 8 else "")
    click.echo(f"{loaded.path}: {len(pending)} imported item(s) not reviewed (runbook lines {lines}) and its "
               f"metrics are connected: decide them with `shipdeck review {loaded.path}`, or pass --accept-import "
               "to run with them inactive as they stand (the journal records who did)", err=True)
    sys.exit(EXIT_INVALID)


@main.command("import")
@click.argument("runbook", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the plan here.")
def import_(runbook: Path, output: Path | None) -> None:
    """Turn a Markdown RUNBOOK into a plan (YAML); the summary goes to stderr."""
    result = import_or_exit(runbook)
    if output:
        output.write_text(result.yaml_text, encoding="utf-8")
        click.echo(f"plan written to {output}", err=True)
    else:
        click.echo(result.yaml_text, nl=False)
    click.echo("import summary:", err=True)
    for line in result.summary:
        click.echo(f"  {line}", err=True)
