"""`make bench`: performance figures, printed with the machine they were measured on.

`terminal`: what a user feels, through a real pty, with a plain Textual baseline in the same run.
`crowd`: an engine with full history: attach time, its memory, 50 watchers during a burst.
`night`: an 8-hour journal and the real CLI coming back to it (report, resume).
`rehearse`: a week of Prometheus history and an 8-hour journal judged by `shipdeck rehearse`.
`logpane`, `engine`: in-process micro-benchmarks, labelled as such.
"""

import compileall
import os
import platform
import re
import sys
from pathlib import Path

import psutil

from bench import crowd, engine, logpane, night, rehearse, terminal

if __name__ == "__main__":
    only = sys.argv[1:]
    # Bytecode caches, as an installed shipdeck has them (pip compiles at install; PYTHONDONTWRITEBYTECODE, set
    # in some CI images, would otherwise make every start compile shipdeck's modules again).
    compileall.compile_dir(Path(__file__).resolve().parent.parent, quiet=1, rx=re.compile(r"/(\.|tests|journals)"))
    freq = psutil.cpu_freq()
    print(f"machine: {platform.machine()} {os.cpu_count()} cpus"
          f"{f' @ {freq.max or freq.current:.0f} MHz' if freq else ''}, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB, {platform.python_implementation()} "
          f"{platform.python_version()}, {platform.system()}", file=sys.__stdout__, flush=True)
    for mod, label in ((terminal, "pty"), (night, "cli"), (rehearse, "cli"), (crowd, "engine"), (logpane, "in-process"), (engine, "in-process")):
        name = mod.__name__.split(".")[-1]
        if only and name not in only:
            continue
        figures = mod.run()
        for key, value in figures.items() if isinstance(figures, dict) else figures:
            # A headless Textual run leaves sys.stdout captured: write to the real one.
            print(f"{label:>10} {name:>8}  {key:<46} {value}", file=sys.__stdout__, flush=True)
