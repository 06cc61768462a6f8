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
