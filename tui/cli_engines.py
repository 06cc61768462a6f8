"""Commands on a running engine: `attach` a screen to it, `serve` it to browsers, `stop` its run, list them (`ps`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from tui.cli import _screen, main
from widgets.sanitize import sanitize_line


def _attach(sock: Path, read_only: bool, high_contrast: bool = False) -> int:
    from tui.engine.handle import RemoteEngine
    from tui.engine.identity import identity
    from tui.engine.protocol import ProtocolError

    try:
        remote = RemoteEngine(sock, identity(), "watch" if read_only else "drive")
    except (OSError, ProtocolError) as e:
        raise click.ClickException(f"cannot attach to {sock}: {sanitize_line(str(e))}") from e
    return _screen(remote, remote.journal_path, high_contrast)


@main.command()
@click.argument("target", required=False, type=click.Path(path_type=Path))
@click.option("--read-only", is_flag=True, help="Watch: never drive, never take the helm.")
@click.option("--high-contrast", is_flag=True, help="High-contrast theme for projectors.")
def attach(target: Path | None, read_only: bool, high_contrast: bool) -> None:
    """Bring back the command center of a running engine: TARGET is its journal or socket
    (none: the only running engine)."""
    sys.exit(_attach(_engine_socket(target), read_only, high_contrast))


@main.command()
@click.argument("target", required=False, type=click.Path(path_type=Path))
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every one).")
@click.option("--public-url", help="The address browsers use, when it differs (a proxy).")
@click.option("--drive", is_flag=True, help="Browsers attach as screens that may drive (default: read-only).")
def serve(target: Path | None, port: int, host: str, public_url: str | None, drive: bool) -> None:
    """Serve a running engine's command center to browsers (textual-serve), read-only, behind a token."""
    from tui.serve import make_server

    sock = _engine_socket(target)
    make_server(sock, host, port, drive, public_url, f"shipdeck — {sock.name.removesuffix('.jsonl.sock')}").serve()


def _engine_socket(target: Path | None) -> Path:
    """TARGET (a journal or a socket), or the only running engine's socket."""
    from tui.engine.sockets import registered, socket_path

    if target is not None:
        return target if target.name.endswith(".sock") else socket_path(target.resolve())
    engines = registered()
    if len(engines) != 1:
        listing = "".join(f"\n  {e['journal']}" for e in engines)
        raise click.ClickException(("no engine is running" if not engines else "several engines run; name one:")
                                   + listing)
    return Path(engines[0]["socket"])


@main.command()
@click.argument("target", required=False, type=click.Path(path_type=Path))
@click.option("--reason", required=True, help="Why the run ends here (journalled and sent to every notifier).")
@click.option("--rollback", is_flag=True, help="Roll all traffic back to blue first, then end the run.")
@click.option("--timeout", type=float, default=60.0, show_default=True, help="Seconds to wait for the engine.")
def stop(target: Path | None, reason: str, rollback: bool, timeout: float) -> None:
    """End a run: traffic stays where it is (or --rollback first), journalled and notified, and the engine
    leaves. TARGET is its journal or socket (none: the only running engine)."""
    import time

    from tui.engine.handle import RemoteEngine
    from tui.engine.identity import identity
    from tui.engine.protocol import ProtocolError
    from tui.engine.state import traffic_words

    try:
        remote = RemoteEngine(_engine_socket(target), identity(), "drive")  # takes the helm if nobody holds it
    except (OSError, ProtocolError) as e:
        raise click.ClickException(f"cannot reach the engine: {sanitize_line(str(e))}") from e
    said: list[str] = []
    remote.subscribe(lambda ev: said.append(str(ev.get("text"))) if ev.get("type") == "notice" else None)
    remote.start()

    def until(cond: Any, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline or (remote.ended and not remote.run_ended):
                remote.detach("stop gave up")
                raise click.ClickException(f"{what}: no answer in {timeout:g}s" + (f" ({said[-1]})" if said else ""))
            time.sleep(0.05)

    time.sleep(0.3)  # the helm, if nobody held it, is taken as this screen attaches
    if not remote.state.terminal:
        command = "rollback" if rollback else "abort"
        why = remote.refuses(command)
        if why:
            remote.detach("refused")
            raise click.ClickException(f"{command} refused: {sanitize_line(why)}")
        remote.submit(command, reason=reason)
        until(lambda: remote.state.terminal, "the run to end")
    remote.stop_engine(reason)  # an ended run needs no engine
    until(lambda: remote.ended, "the engine to leave")
    s = remote.state
    click.echo(f"run {s.status}: {traffic_words(s)}; the engine has left; journal: {remote.journal_path}")


@main.command()
def ps() -> None:
    """List the running engines: plan, state, phase, pid, who drives, socket."""
    from tui.engine.handle import welcome
    from tui.engine.protocol import Hello, ProtocolError
    from tui.engine.sockets import registered

    engines = registered()
    if not engines:
        click.echo("no engine is running")
        return
    click.echo(f"{'PID':>7}  {'PLAN':<24} {'STATE':<12} {'PHASE':<22} {'DRIVER':<22} SCREENS  SOCKET")
    for e in engines:
        try:
            sock, reader, w = welcome(Path(e["socket"]), Hello("ps", "status"), timeout=3.0)
            sock.close()
        except (OSError, ProtocolError) as err:
            click.echo(f"{e['pid']:>7}  {sanitize_line(e['plan'])[:24]:<24} {'NO ANSWER':<12} {sanitize_line(str(err))}")
            continue
        st = w.state
        phase = st["phases"][st["phase"]]["name"] if st["phase"] >= 0 else "—"
        click.echo(f"{w.pid:>7}  {sanitize_line(e['plan'])[:24]:<24} {st['status']:<12} "
                   f"{sanitize_line(phase)[:22]:<22} {sanitize_line(st['helm'] or '—')[:22]:<22} {len(w.clients):>7}  "
                   f"{e['socket']}")
