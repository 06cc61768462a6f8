"""The engine never loads textual, even lazily; a screen loads plotext only for its charts. The static layer
rules are import-linter contracts (pyproject.toml, run by `make test`)."""

import subprocess
import sys

from tests.backends.conftest import require_binary
from tests.conftest import ROOT


def test_importing_the_engine_loads_no_textual():
    code = (
        "import sys, tui.engine.driver, tui.engine.journal, tui.engine.guards, tui.engine.autopilot, "
        "backends.simulated; print('textual' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"


def test_the_screen_loads_plotext_with_its_charts_not_before():
    """A run's first frame has no charts yet: the screen's modules and the app leave plotext out."""
    code = (
        "import sys, tui.app, tui.screens.command_center, tui.viewmodel, widgets.splitbar\n"
        "before = [m for m in ('plotext', 'textual_plotext', 'widgets.chart') if m in sys.modules]\n"
        "import widgets.chart\n"
        "print(before, 'plotext' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[] True"


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


def test_once_backends_are_built_asyncio_speaks_tls_on_the_loop(tmp_path):
    """A backend that speaks TLS through the event loop (aiohttp's https) gets it once backends are built: a
    real handshake with a local server, which fails without that step."""
    openssl = require_binary("openssl")  # it makes this test's certificate
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost", "-days", "1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)

    def run(step: str) -> str:
        out = subprocess.run([sys.executable, str(ROOT / "tests" / "unit" / "tls_probe.py"), str(cert), str(key),
                              step], capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    assert run("build") == "over tls"
    assert run("none") == "stdlib ssl module not available"  # what the step is for
