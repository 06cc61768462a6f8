"""Make external text inert before it reaches the terminal.

Policy: nothing is silently removed. Control characters become their visible Unicode
"control pictures" (ESC shows as ␛, CR as ␍), so an escape sequence from a log line is shown
as harmless text (`␛[2J`) and an operator can see something odd was there. C1 controls and
bidi overrides become �. Rich markup needs no escaping here: widgets never render data as
markup, they build `rich.text.Text` from it.
"""

from __future__ import annotations

_TABLE: dict[int, str] = {c: chr(0x2400 + c) for c in range(0x20) if c not in (0x09, 0x0A)}
_TABLE[0x7F] = "␡"
_TABLE.update({c: "\ufffd" for c in range(0x80, 0xA0)})
_TABLE.update({c: "\ufffd" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F)})
_TABLE[0x09] = "    "

_LINE_TABLE = dict(_TABLE)
_LINE_TABLE[0x0A] = " ⏎ "


def sanitize(text: str) -> str:
    """Inert text; newlines are kept."""
    return text.translate(_TABLE)


def sanitize_line(text: str) -> str:
    """Inert text on one line: newlines shown as ⏎."""
    if text.isascii() and text.isprintable():
        return text  # most log lines: nothing in the table can occur, and translate costs a lookup per character
    return text.translate(_LINE_TABLE)
