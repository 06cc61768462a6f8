"""Who acts. The OS account (`user@host`) is the identity shipdeck can verify: a detached engine reads it from
its socket's peer credentials (SO_PEERCRED), never from what a screen says. Where several people share one
deploy account, SHIPDECK_OPERATOR adds the name a person gives (`alice (deploy@host)`): said, not verified,
so four eyes still needs a second account."""

from __future__ import annotations

import getpass
import os
import pwd
import re
import socket

MAX_NAME = 64  # a name given with SHIPDECK_OPERATOR, or said by a screen
MAX_TEXT = 500  # a reason, or any other text an operator sends
_NAMED = re.compile(r"(?P<name>.*) \((?P<account>[^()]+)\)")


def default_operator() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        return os.environ.get("USER", "operator")


def account(uid: int | None = None) -> str:
    """`user@host` of this process, or of another process's uid (a screen on the engine's socket)."""
    if uid is None:
        user = default_operator()
    else:
        try:
            user = pwd.getpwuid(uid).pw_name
        except KeyError:
            user = f"uid{uid}"
    return f"{user}@{socket.gethostname()}"


def named(name: str, acct: str) -> str:
    """The identity journalled for a person `name` acting through the OS account `acct`."""
    name = " ".join(name.split())[:MAX_NAME]
    return acct if name in ("", acct, acct.split("@")[0]) else f"{name} ({acct})"


def identity() -> str:
    """Who this process acts as: its OS account, with the SHIPDECK_OPERATOR name in front where one is set."""
    return named(os.environ.get("SHIPDECK_OPERATOR", ""), account())


def verified(said: str, uid: int) -> str:
    """What a screen said it is, pinned to the account its peer credentials prove."""
    m = _NAMED.fullmatch(said)
    return named(m.group("name") if m else said, account(uid))


def account_of(who: str) -> str:
    """The verified part of an identity: `deploy@host` for `alice (deploy@host)`."""
    m = _NAMED.fullmatch(who)
    return m.group("account") if m else who


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process at the other end of a unix socket."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
    return int.from_bytes(creds[4:8], "little", signed=True)
