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


def test_openssl_waits_for_a_backend_that_needs_it_and_then_works():
    """shipdeck hides OpenSSL while asyncio, hashlib and hmac load; digests still work (CPython's own), and a
    backend that speaks HTTPS still gets ssl when it imports httpx."""
    code = (
        "import sys, tui.cli, asyncio, hashlib, hmac\n"
        "print(sorted(m for m in ('ssl', '_ssl', '_hashlib') if m in sys.modules))\n"
        "print(hashlib.sha256(b'x').hexdigest()[:8], hmac.new(b'k', b'm', 'sha256').hexdigest()[:8])\n"
        "import httpx, ssl\n"
        "print(type(ssl.create_default_context()).__name__, httpx.Client(verify=True).__class__.__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.splitlines() == ["[]", "2d711642 b60090e3", "SSLContext Client"], out.stdout
