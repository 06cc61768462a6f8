"""The engine never loads textual, even lazily. The static layer rules are import-linter contracts
(pyproject.toml, run by `make test`)."""

import subprocess
import sys

from tests.conftest import ROOT


def test_importing_the_engine_loads_no_textual():
    code = (
        "import sys, tui.engine.driver, tui.engine.journal, tui.engine.guards, tui.engine.autopilot, "
        "backends.simulated; print('textual' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"
