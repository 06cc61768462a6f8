"""`shipdeck rehearse`: guards judged before the night, on a plan's metrics history or on a past night's journal;
and `check --rehearse`."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tui.cli import EXIT_INVALID, _load_or_exit, main
from widgets.sanitize import sanitize, sanitize_line

if TYPE_CHECKING:
    from tui.engine.plan import LoadedPlan


@main.command()
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--guard", "guards", multiple=True, metavar="TEXT",
              help="A guard to judge instead of the plan's: 'error_rate above 0.02 for 2m [rollback]'.")
@click.option("--last", "last", default="24h", show_default=True, help="A plan: how much history to judge.")
@click.option("--from", "from_", metavar="TIME", help="A plan: start of the history (ISO time); with --to.")
@click.option("--to", "to", metavar="TIME", help="A plan: end of the history (ISO time, default now).")
@click.option("--margin", default="20%", show_default=True, help="How far past the history a suggested threshold sits.")
@click.option("--markdown", "markdown_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the rehearsal as Markdown for a review.")
@click.option("--no-charts", is_flag=True, help="The table only.")
def rehearse(source: Path, guards: tuple[str, ...], last: str, from_: str | None, to: str | None, margin: str,
             markdown_out: Path | None, no_charts: bool) -> None:
    """Judge guards before the night. SOURCE a plan: its guards on its metrics' history (--last 24h), with
    the trips they would have made and a threshold that would not have tripped. SOURCE a journal (.jsonl):
    that night replayed offline under other guards (--guard)."""
    from tui.engine.rehearse import RehearseError, parse_guard

    try:
        chosen = [parse_guard(g) for g in guards]
        if source.suffix == ".jsonl":
            _rehearse_journal(source, chosen)
        else:
            _rehearse_plan(source, chosen, last, from_, to, margin, markdown_out, not no_charts)
    except RehearseError as e:
        click.echo(f"shipdeck: {sanitize_line(str(e))}", err=True)
        sys.exit(EXIT_INVALID)


def _rehearse_journal(journal: Path, chosen: list[Any]) -> None:
    from tui.engine import journal as journal_mod
    from tui.engine.rehearse import RehearseError, replay, verdict

    try:
        records = journal_mod.load(journal).records
        plan = journal_mod.plan_of(records)
    except journal_mod.JournalError as e:
        raise RehearseError(str(e)) from None
    chosen = chosen or list(plan.guards)
    for line in verdict(replay(records, chosen), chosen, plan):
        click.echo(sanitize_line(line))


def check_rehearsal(loaded: LoadedPlan, last: str) -> None:
    import time

    from tui.engine import history
    from tui.engine.plan import format_duration
    from tui.engine.rehearse import RehearseError

    try:
        start, end = history_window(last, None, None, time.time())
        results = asyncio.run(history.rehearsal(loaded, start, end, lambda _s: None))
    except RehearseError as e:
        click.echo(sanitize_line(str(loaded.issue(("guards",), f"warning: cannot rehearse: {e}"))), err=True)
        return
    verbs = {"rollback": "roll back", "pause": "pause", "alert": "alert"}
    for i, h in enumerate(results):
        if h.trips:
            when = ", ".join(f"{format_duration(end - t)} ago" for t in h.trips[:3])
            click.echo(sanitize_line(str(loaded.issue(("guards", i), (
                f"warning: would have tripped {len(h.trips)} time(s) in the last {last} ({when}): the night would "
                f"{verbs[h.guard.action]} on what happened here lately; see `shipdeck rehearse {loaded.path} "
                f"--last {last}`")))),
                err=True)


def history_window(last: str, from_: str | None, to: str | None, now: float) -> tuple[float, float]:
    from tui.engine.journal import parse_iso
    from tui.engine.plan import parse_duration
    from tui.engine.rehearse import RehearseError

    try:
        end = parse_iso(to) if to else now
        start = parse_iso(from_) if from_ else end - parse_duration(last)
    except ValueError as e:
        raise RehearseError(f"history window: {e}") from None
    if start >= end:
        raise RehearseError("history window: --from must be before --to")
    return float(int(start)), float(int(end))  # whole seconds: the sources' timestamps land on the same grid


def _rehearse_plan(path: Path, chosen: list[Any], last: str, from_: str | None, to: str | None, margin: str,
                   markdown_out: Path | None, charts: bool) -> None:
    import dataclasses
    import time

    from tui.engine import history

    loaded = _load_or_exit(str(path))
    if chosen:
        loaded = dataclasses.replace(loaded, plan=loaded.plan.model_copy(update={"guards": chosen}))
    fraction = history.parse_margin(margin)
    start, end = history_window(last, from_, to, time.time())
    results = asyncio.run(history.rehearsal(loaded, start, end, lambda s: click.echo(f"  {s}", err=True)))
    click.echo(sanitize(history.rehearse_text(loaded, results, start, end, fraction, charts)), nl=False)
    if markdown_out:
        markdown_out.write_text(history.markdown(results, start, end, fraction, loaded.plan.name), encoding="utf-8")
        click.echo(f"rehearsal written to {markdown_out}", err=True)
