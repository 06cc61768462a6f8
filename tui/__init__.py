"""shipdeck: the command center (screens) and its engine."""

from tui import openssl

openssl.load_without_openssl()  # before anything of ours imports asyncio: see tui/openssl.py
