"""The engine and the backends never import textual: a screen may live in another process."""

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module.split(".")[0])
    return out


def test_engine_and_backends_do_not_import_textual_or_widgets():
    files = [*(ROOT / "tui" / "engine").rglob("*.py"), *(ROOT / "backends").rglob("*.py")]
    assert len(files) > 8
    for f in files:
        bad = imported_modules(f) & {"textual", "widgets", "rich", "textual_plotext"}
        assert not bad, f"{f.relative_to(ROOT)} imports {bad}"


def test_backends_import_only_base_of_ours():
    for f in (ROOT / "backends").rglob("*.py"):
        ours = {line.split()[1] for line in f.read_text().splitlines()
                if line.startswith(("from backends", "import backends", "from tui", "import tui", "from widgets"))}
        assert ours <= {"backends", "backends.base"}, f"{f.name} imports {ours}"


def test_widgets_know_nothing_of_the_engine():
    for f in (ROOT / "widgets").rglob("*.py"):
        assert not imported_modules(f) & {"tui", "backends"}, f


def test_importing_the_engine_loads_no_textual():
    code = (
        "import sys, tui.engine.driver, tui.engine.journal, tui.engine.guards, tui.engine.autopilot, "
        "backends.simulated; print('textual' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"
