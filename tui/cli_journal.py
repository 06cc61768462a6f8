"""Commands on a run's journal: a post-deploy `report`, and `watch` to follow it read-only."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tui.cli import EXIT_ERROR, main
from widgets.sanitize import sanitize, sanitize_line


@main.command()
@click.argument("journal", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here, not to stdout.")
def report(journal: Path, output: Path | None) -> None:
    """A post-deploy report (Markdown) from a run's JOURNAL."""
    from tui.engine import journal as journal_mod
    from tui.engine.report import build_report

    try:
        result = journal_mod.load(journal, readings=False)  # a report tells the guards' verdicts, not every reading
        text = sanitize(build_report(result.records, result.warnings))  # journalled data is untrusted text
    except journal_mod.JournalError as e:
        click.echo(f"shipdeck: {e}", err=True)
        sys.exit(EXIT_ERROR)
    if output:
        output.write_text(text, encoding="utf-8")
        click.echo(f"report written to {output}")
    else:
        click.echo(text, nl=False)
    damaged = [w for w in result.warnings if "corrupt record" in w]
    for w in damaged:  # the report is what the good records say; the damage is said again where scripts look
        click.echo(f"shipdeck: {sanitize_line(w)}", err=True)
    if damaged:
        sys.exit(EXIT_ERROR)


@main.command()
@click.argument("journal", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--once", is_flag=True, help="Print what is there and stop, instead of following.")
@click.option("--screen", is_flag=True, help="The command center, read-only, instead of one line per event.")
def watch(journal: Path, once: bool, screen: bool) -> None:
    """Follow a running (or finished) run read-only from its JOURNAL."""
    if screen:
        from tui.app import make_app
        from tui.engine.handle import EngineHandle
        from tui.engine.journal import JournalError
        from tui.watch import JournalFollower

        try:
            follower = JournalFollower(journal)
        except JournalError as e:
            raise click.ClickException(sanitize_line(str(e))) from e
        handle: EngineHandle = follower
        make_app(None, journal, engine=handle).run()
        return
    from tui.watch import follow

    try:
        follow(journal, lambda line: click.echo(sanitize_line(line)), once=once)
    except KeyboardInterrupt:
        pass
