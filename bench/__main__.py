"""`make bench`: performance figures, printed with the machine they were measured on."""

import os
import platform
import sys

from bench import engine, logpane

if __name__ == "__main__":
    print(f"machine: {platform.machine()} {os.cpu_count()} cpus, {platform.python_implementation()} "
          f"{platform.python_version()}, {platform.system()}")
    for mod in (logpane, engine):
        for key, value in mod.run().items():
            # A headless Textual run leaves sys.stdout captured: write to the real one.
            print(f"{mod.__name__.split('.')[-1]:>8}  {key:<40} {value}", file=sys.__stdout__, flush=True)
