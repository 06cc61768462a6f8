"""The detached engine of one run, in a process of its own (started by `shipdeck run`): journal, guards, backends
and a socket. `python -m tui.engine.process PLAN --journal J`: no CLI framework, no screen, so what the process
holds is the engine."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

EXIT_ERROR, EXIT_INVALID = 1, 2


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="shipdeck engine", description=__doc__)
    ap.add_argument("plan")
    ap.add_argument("--journal", type=Path, required=True)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--idle-exit", type=float, default=None, help="seconds with no screen before an idle engine leaves")
    ap.add_argument("--group", default="", help="an OS group whose members may attach (socket mode 0660)")
    args = ap.parse_args(argv)
    if args.group:
        import grp

        try:
            grp.getgrnam(args.group)
        except KeyError:
            print(f"shipdeck engine: no OS group named {args.group!r}", file=sys.stderr)
            return EXIT_INVALID

    from tui.engine.driver import Driver
    from tui.engine.journal import JournalError
    from tui.engine.plan import PlanError, load_source
    from tui.engine.server import IDLE_EXIT_S, EngineServer
    from tui.engine.sockets import socket_path

    try:
        loaded = load_source(args.plan)
    except PlanError as e:
        for issue in e.issues:
            print(issue, file=sys.stderr)
        return EXIT_INVALID
    try:
        driver = Driver(loaded, args.journal, resume=args.resume)
    except JournalError as e:
        print(f"shipdeck engine: {e}", file=sys.stderr)
        return EXIT_ERROR
    server = EngineServer(driver, socket_path(args.journal), group=args.group,
                          idle_exit=IDLE_EXIT_S if args.idle_exit is None else args.idle_exit)
    return asyncio.run(server.run())


if __name__ == "__main__":
    sys.exit(main())
