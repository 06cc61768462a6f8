import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNBOOKS = ROOT.parent / "shared" / "runbooks"


def shipdeck_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "tui.cli", *args]


@pytest.fixture
def clean_env(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.fixture(autouse=True)
def engine_registry(tmp_path, monkeypatch):
    """Each test's detached engines register in its own directory (so `ps` sees only them), and none
    outlives the test."""
    import json
    import signal

    runtime = tmp_path / "runtime"
    monkeypatch.setenv("SHIPDECK_RUNTIME_DIR", str(runtime))
    yield runtime
    for f in runtime.glob("shipdeck-*/*.json"):
        try:
            os.kill(int(json.loads(f.read_text())["pid"]), signal.SIGKILL)
        except (OSError, ValueError, KeyError):
            pass
