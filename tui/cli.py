"""shipdeck command line: check, run, demo, backends; the other commands live in cli_* modules (on a running
engine, on a journal, import and review, rehearse)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from backends.clock import Clock, RealClock, ScaledClock
from backends.scenarios import SCENARIO_OVERRIDE, SCENARIOS
from widgets.sanitize import sanitize_line

if TYPE_CHECKING:  # the plan's models are pydantic: `run` keeps them out of the screen's process
    from tui.engine.plan import LoadedPlan, PlanError

EXIT_OK, EXIT_ERROR, EXIT_INVALID, EXIT_ROLLED_BACK = 0, 1, 2, 3
DEMO_PLAN = Path(__file__).resolve().parent.parent / "examples" / "demo.yaml"
DEMO_SPEED = 15.0




def _load_or_exit(path: str) -> LoadedPlan:
    """A plan, or a Markdown/text runbook imported on the fly; problems as FILE:LINE:COL, exit 2."""
    from tui.engine.plan import PlanError, load_source

    try:
        return load_source(path)
    except PlanError as e:
        say_issues(e)
        click.echo(f"{len(e.issues)} problem(s) in {path}", err=True)
        sys.exit(EXIT_INVALID)


def say_issues(e: PlanError) -> None:
    """Each problem as FILE:LINE:COL: field: words, on stderr, with nothing a terminal would act on."""
    for issue in e.issues:
        click.echo(sanitize_line(str(issue)), err=True)


def _refuse_a_past_window(loaded: LoadedPlan) -> None:
    """A plan whose dated window is over can never move forward: said at once, like any error in the file."""
    import time

    from tui.engine.plan import window_in_the_past

    why = window_in_the_past(loaded.plan.window, time.time())
    if why:
        click.echo(sanitize_line(str(loaded.issue(("window", "end"), why))), err=True)
        click.echo(f"1 problem(s) in {loaded.path}", err=True)
        sys.exit(EXIT_INVALID)


def default_journal(plan_name: str) -> Path:
    slug = re.sub(r"[^a-z0-9]+", "-", plan_name.lower()).strip("-")[:40] or "run"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path("journals") / f"{slug}-{stamp}.jsonl"


def _os_group(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if value:
        import grp

        try:
            grp.getgrnam(value)
        except KeyError:
            raise click.BadParameter(f"no OS group named {value!r}") from None
    return value


SCREEN_FPS = "120"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="shipdeck")
def main() -> None:
    """A terminal command center for deploy night."""
    # Textual draws at most one frame per 1/FPS s, and an operator's answer waits for the next slot. The screen
    # batches its own updates (RENDER_INTERVAL), so a finer slot costs few frames: pause key to status line p95
    # went from 18-35 to 8-16 ms at 80x24 under a burst, idle CPU from 1.3-1.7 to 1.9-2.0 %.
    os.environ.setdefault("TEXTUAL_FPS", SCREEN_FPS)


@main.command()
@click.argument("plan", type=click.Path(dir_okay=False))
@click.option("--offline", is_flag=True, help="Validate the file only; contact no backend.")
@click.option("--rehearse", "rehearse_last", metavar="DURATION",
              help="Also judge the guards on this much of their metrics' history (e.g. 1h) and warn where they trip.")
def check(plan: str, offline: bool, rehearse_last: str | None) -> None:
    """Validate PLAN and report every problem as FILE:LINE:COL."""
    if offline and rehearse_last:
        raise click.UsageError("--rehearse reads the metrics sources: it cannot be --offline")
    if not Path(plan).exists():
        click.echo(f"{plan}:1:1: file not found", err=True)
        sys.exit(EXIT_INVALID)
    loaded = _load_or_exit(plan)
    _refuse_a_past_window(loaded)
    from tui.engine.plan import backend_name

    unconnected = {backend_name(m) for m in loaded.plan.backends.metrics if m.type == "unconnected"}
    for i, guard in enumerate(loaded.plan.guards):
        if loaded.plan.metric_source(guard.metric) in unconnected:  # imported: its source is still to be named
            click.echo(str(loaded.issue(("guards", i), f"warning: {guard.metric} is not connected to a metrics "
                                        "source: this guard never sees data until backends.metrics names one")),
                       err=True)
        elif guard.no_data == "ignore":
            click.echo(str(loaded.issue(("guards", i, "no_data"), "warning: no_data: ignore lets the run go on "
                                        f"blind when {guard.metric} has no data")), err=True)
    for i, item in enumerate(loaded.plan.review):
        if item.status == "pending":
            click.echo(sanitize_line(str(loaded.issue(("review", i), f"warning: not reviewed ({item.kind}): {item.why}"
                                                      f" — {item.text!r}; accept, edit or drop it with "
                                                      "`shipdeck review`"))), err=True)
    if os.environ.get("SHIPDECK_OPERATOR", "").strip():
        for i, ph in enumerate(loaded.plan.phases):
            for j, step in enumerate(ph.steps):
                if getattr(step, "four_eyes", False):
                    from tui.engine.identity import account

                    click.echo(str(loaded.issue(("phases", i, "steps", j, "four_eyes"), (
                        "warning: four eyes cannot be verified on a shared account: SHIPDECK_OPERATOR names a "
                        f"person, the OS account ({account()}) is what proves one; the gate needs someone logged "
                        "in as another OS user"))), err=True)
    if not offline:
        from tui.engine.preflight import preflight

        issues = asyncio.run(preflight(loaded))
        for issue in issues:
            click.echo(sanitize_line(str(issue)), err=True)
        errors = [i for i in issues if not i.message.startswith("warning: ")]
        if errors:
            click.echo(f"{len(errors)} problem(s) found by preflight", err=True)
            sys.exit(EXIT_INVALID)
    if rehearse_last:
        from tui.cli_rehearse import check_rehearsal

        check_rehearsal(loaded, rehearse_last)
    p = loaded.plan
    pending = len(p.pending_review())
    click.echo(f"{plan}: ok — {p.name!r}: {len(p.phases)} phases, {len(p.guards)} guards, "
               f"traffic via {p.backends.traffic.type}" + (" (offline)" if offline else "")
               + (f"; {pending} imported item(s) not reviewed" if pending else ""))


def _execute(
    loaded: LoadedPlan,
    journal: Path | None,
    headless: bool,
    yes: bool,
    clock: Clock,
    scenario: str | None = None,
    demo: bool = False,
    manual: bool = False,
    resume: bool = False,
    high_contrast: bool = False,
) -> int:
    from tui.engine.journal import JournalError

    journal_path = journal or default_journal(loaded.plan.name)
    shared: dict[str, Any] = {SCENARIO_OVERRIDE: scenario} if scenario else {}
    try:
        if headless:
            from tui.headless import run_headless

            return asyncio.run(run_headless(loaded, journal_path, clock, yes=yes, shared=shared, resume=resume))
        from tui.app import make_app

        app = make_app(loaded, journal_path, clock=clock, shared=shared, demo=demo, manual=manual, resume=resume,
                       theme_name="shipdeck-contrast" if high_contrast else None)
    except JournalError as e:
        click.echo(f"shipdeck: {e}", err=True)
        return EXIT_ERROR
    result = app.run()
    from tui.engine.state import traffic_words

    s = app.engine.state  # the last word, where the screen's dialog said it: how the run stands, how to go on
    if s.terminal:
        click.echo(f"run {s.status}: {traffic_words(s)}; journal: {app.engine.journal_path}")
    else:
        click.echo(f"run {s.status}, not finished, {traffic_words(s)}; nothing guards it now; continue with: "
                   f"{app.resume_command()}", err=True)
    return result if isinstance(result, int) else EXIT_ERROR


@main.command()
@click.argument("plan", type=click.Path(exists=True, dir_okay=False))
@click.option("--headless", is_flag=True, help="No screen: print one line per event.")
@click.option("--yes", is_flag=True, help="Headless: approve gates, tick checklists, confirm manual steps.")
@click.option("--journal", type=click.Path(dir_okay=False, path_type=Path), help="Journal file (JSONL).")
@click.option("--resume", is_flag=True, help="Continue the run recorded in --journal after a crash.")
@click.option("--foreground", is_flag=True, help="Keep the engine in this process: it stops with the screen.")
@click.option("--high-contrast", is_flag=True, help="High-contrast theme for projectors.")
@click.option("--group", default=lambda: os.environ.get("SHIPDECK_GROUP", ""), metavar="GROUP", callback=_os_group,
              help="An OS group whose members may attach to the engine (socket mode 0660; env SHIPDECK_GROUP).")
@click.option("--accept-import", is_flag=True,
              help="Run an imported plan whose review items are not all decided (they stay inactive; journalled).")
def run(plan: str, headless: bool, yes: bool, journal: Path | None, resume: bool, foreground: bool,
        high_contrast: bool, group: str, accept_import: bool) -> None:
    """Run PLAN: the engine starts in the background and this terminal attaches to it.

    Closing the terminal (or q) detaches; the engine goes on guarding. `shipdeck attach` comes back."""
    _check_resume(resume, journal)
    if headless or foreground:
        plan, loaded = _ready(plan, resume, headless or accept_import, accept_import)
        sys.exit(_execute(loaded, journal, headless, yes, RealClock(), resume=resume, high_contrast=high_contrast))
    from tui.engine.plandata import ACCEPTED_IMPORT_ENV, RUNBOOK_SUFFIXES

    shown: dict[str, Any] | None = None
    if not plan.lower().endswith(RUNBOOK_SUFFIXES):
        # The plan is read in a child while this process imports the screen: pydantic never enters it.
        from tui.aside import Aside

        reading = Aside(lambda: _shown_after_checks(plan, resume, accept_import))
        from tui.app import before_the_plan

        before_the_plan()  # while the child reads
        code, shown = reading.result()
        if code:
            sys.exit(code)  # the child said why (FILE:LINE:COL, a refusal)
    if shown is None or shown.get("review"):  # a runbook, or a plan to review first: in this process
        plan, loaded = _ready(plan, resume, False, accept_import)
        shown = _shown(plan, loaded)
    if shown.get("accepted"):
        os.environ[ACCEPTED_IMPORT_ENV] = shown["accepted"]  # the engine journals who ran it unreviewed
    plan = shown["path"]
    from tui.engine.connecting import ConnectingEngine
    from tui.engine.identity import identity
    from tui.engine.plandata import PlanData
    from tui.engine.spawn import already_running
    from tui.engine.state import RunState

    journal_path = (journal or default_journal(shown["plan"]["name"])).resolve()
    if running := already_running(journal_path):  # said before the screen opens: nothing to paint
        raise click.ClickException(running)
    if not resume and journal_path.exists() and journal_path.stat().st_size:
        raise click.ClickException(f"{journal_path} already holds a run: continue it with --resume, or give a new "
                                   "--journal")

    def connect() -> Any:
        from tui.engine.spawn import spawn_engine

        sock = spawn_engine(plan, journal_path, resume=resume, group=group)
        # Imported once the engine answers, long after the screen painted: this thread competes with the paint.
        from tui.engine.handle import RemoteEngine

        return RemoteEngine(sock, identity(), "drive")

    # The screen paints the plan as read at once; the engine starts behind it and takes over when it answers.
    handle = ConnectingEngine(PlanData(shown["plan"]), plan, RunState.from_dict(shown["state"]), journal_path,
                              identity(), connect)
    sys.exit(_screen(handle, journal_path, high_contrast))


def _ready(plan: str, resume: bool, skip_review: bool, accept_import: bool) -> tuple[str, LoadedPlan]:
    """The plan `run` will run: read (a runbook imported), reviewed first if nothing of its import is decided
    yet, and checked (`_refusals`). Problems are said and exit 2."""
    from tui.cli_import import review_first, review_screen

    loaded = _load_or_exit(plan)
    if not resume and not skip_review:
        plan, loaded = review_first(plan, loaded, review_screen)
    _refusals(loaded, resume, accept_import)
    return plan, loaded


def _refusals(loaded: LoadedPlan, resume: bool, accept_import: bool) -> None:
    from tui.cli_import import refuse_unreviewed

    if not resume:  # a run already under way is resumed whatever its window says: rollback must stay possible
        _refuse_a_past_window(loaded)
        refuse_unreviewed(loaded, accept_import)


def _shown_after_checks(plan: str, resume: bool, accept_import: bool) -> dict[str, Any]:
    """`_ready` in the child that reads the plan: a plan to review first says so (the screen's process opens the
    review)."""
    from tui.cli_import import needs_review

    # The screen waits on this child: pydantic's scan of every installed package for plugins (~4 ms) is for the
    # engine, which reads the plan again with them.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    loaded = _load_or_exit(plan)
    if not resume and not accept_import and needs_review(loaded):
        return {"review": True}
    _refusals(loaded, resume, accept_import)
    return _shown(plan, loaded)


def _shown(plan: str, loaded: LoadedPlan) -> dict[str, Any]:
    """What the screen paints before its engine answers, as plain data."""
    from tui.engine.initial import initial_state
    from tui.engine.plandata import ACCEPTED_IMPORT_ENV

    return {"path": plan, "plan": loaded.plan.screen_data(), "state": initial_state(loaded.plan).to_dict(),
            "accepted": os.environ.get(ACCEPTED_IMPORT_ENV, "")}


def _screen(handle: Any, journal_path: Path, high_contrast: bool) -> int:
    """The command center on a detached engine (or one still starting), then what the terminal is left with."""
    from tui.app import make_app
    from tui.engine.connecting import ConnectingEngine
    from tui.engine.state import traffic_words

    app = make_app(None, journal_path, engine=handle, theme_name="shipdeck-contrast" if high_contrast else None)
    if isinstance(handle, ConnectingEngine):
        handle.on_fail = lambda why: app.call_from_thread(app.exit, EXIT_ERROR) if app.is_running else None
    app.run()
    remote: Any = handle.engine if isinstance(handle, ConnectingEngine) else handle
    if remote is None:
        if handle.start_failed:
            raise click.ClickException(sanitize_line(handle.start_failed))
        click.echo(f"the engine was still starting when this screen closed: `shipdeck ps` says whether it runs "
                   f"(its log: {journal_path}.engine.log); back to it: shipdeck attach {journal_path}", err=True)
        return EXIT_OK
    s = remote.state
    if s.terminal:
        click.echo(f"run {s.status}; journal: {remote.journal_path}")
        return remote.exit_status
    if remote.stopped or remote.lost:
        why = f"the engine stopped: {remote.stopped}" if remote.stopped else f"lost the engine (pid {remote.pid})"
        click.echo(f"shipdeck: {why}: nothing guards the run ({s.status}, {traffic_words(s)}); `shipdeck ps` "
                   f"says whether it still runs; if not: {remote.resume}", err=True)
        return EXIT_ERROR
    if remote.dropped:
        click.echo(f"shipdeck: the engine (pid {remote.pid}) dropped this screen (it fell behind) and goes on "
                   f"guarding the run.\nback to it: shipdeck attach {remote.journal_path}", err=True)
        return EXIT_ERROR
    if remote.failed:
        click.echo(f"shipdeck: ENGINE FAILED: {remote.failed} (forward actions stopped; rollback works)", err=True)
    click.echo(f"detached: the engine (pid {remote.pid}) goes on guarding the run ({s.status}, "
               f"{traffic_words(s)}).\nback to it: shipdeck attach {remote.journal_path}", err=True)
    return EXIT_OK


@main.command()
@click.option("--scenario", type=click.Choice(SCENARIOS), default=None,
              help="Simulator scenario (default: the demo plan's, bad-canary).")
@click.option("--headless", is_flag=True, help="No screen: print one line per event.")
@click.option("--yes", is_flag=True, help="Headless: approve gates and tick checklists.")
@click.option("--manual", is_flag=True, help="Start with the helm in your hands (no autopilot).")
@click.option("--speed", type=click.FloatRange(0.1, 1000), default=DEMO_SPEED, show_default=True,
              help="How much faster than real time the simulated night runs.")
@click.option("--journal", type=click.Path(dir_okay=False, path_type=Path), help="Journal file (JSONL).")
@click.option("--resume", is_flag=True, help="Continue the run recorded in --journal.")
@click.option("--high-contrast", is_flag=True, help="High-contrast theme for projectors.")
def demo(scenario: str | None, headless: bool, yes: bool, manual: bool, speed: float, journal: Path | None,
         resume: bool, high_contrast: bool) -> None:
    """Play a whole canary night on the built-in simulator."""
    _check_resume(resume, journal)
    loaded = _load_or_exit(str(DEMO_PLAN))
    start = None
    if resume and journal is not None:  # simulated time goes on from where the journal stopped
        from tui.engine import journal as journal_mod

        with contextlib.suppress(journal_mod.JournalError, IndexError):
            start = journal_mod.parse_iso(journal_mod.load(journal).records[-1]["ts"])
    sys.exit(_execute(loaded, journal, headless, yes, ScaledClock(speed, start=start), scenario=scenario,
                      demo=True, manual=manual, resume=resume, high_contrast=high_contrast))


def _check_resume(resume: bool, journal: Path | None) -> None:
    if resume and (journal is None or not journal.exists()):
        raise click.UsageError("--resume needs --journal pointing at an existing journal")


@main.command()
def backends() -> None:
    """List the registered backends (from entry points, without importing them)."""
    from backends import registry

    for kind in registry.KINDS:
        found = registry.available(kind)
        click.echo(f"{kind}:")
        for name, target in sorted(found.items()):
            click.echo(f"  {name:<12} {target}")
        if not found:
            click.echo("  (none)")


# Commands kept in modules of their own register on `main` as they are imported.
from tui import cli_engines, cli_import, cli_journal, cli_rehearse  # noqa: E402, F401

if __name__ == "__main__":  # `python -m tui.cli`: the module `tui.cli` holds the `main` they registered on
    from tui.cli import main as registered

    registered()
