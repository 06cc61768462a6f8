"""One table of every operator action: id, default keys, what it does, whether it is dangerous.

Bindings are built from it (each with its id, so users can remap them from a config file),
the help screen and the footer show it, and nothing else defines keys.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from textual.binding import Binding


class Action(NamedTuple):
    id: str
    keys: str
    description: str
    action: str
    dangerous: bool = False
    show: bool = True


ACTIONS: tuple[Action, ...] = (
    # Footer order: rollback first, so it is on screen even at 80 columns.
    Action("rollback", "R", "ROLLBACK", "rollback", dangerous=True),
    Action("advance", "n", "Next", "advance"),
    Action("approve", "a", "Approve", "approve"),
    Action("tick", "t,space", "Tick", "tick"),
    Action("select_up", "up,k", "Item up", "select(-1)", show=False),
    Action("select_down", "down,j", "Item down", "select(1)", show=False),
    Action("shift_next", "s", "Shift", "shift_next"),
    Action("shift_to", "w", "Shift to %", "shift_to"),
    Action("pause", "p", "Pause", "pause"),
    Action("filter_logs", "slash", "Filter logs", "filter_logs", show=False),
    Action("cycle_chart", "c", "Next chart", "cycle_chart", show=False),
    Action("notes", "o", "Notes", "notes"),
    Action("override", "O", "Override window", "override_window", show=False),
    Action("end", "E", "End run", "end_run", dangerous=True, show=False),
    Action("take", "T", "Take the helm", "take_helm", show=False),
    Action("palette", "ctrl+p", "Commands", "command_palette", show=False),
    Action("help", "question_mark", "Help", "help"),
    Action("close_help", "escape", "Close help", "close_help", show=False),
    Action("quit", "q", "Quit", "quit_app"),
)

BY_ID = {a.id: a for a in ACTIONS}


def bindings() -> list[Binding]:
    return [
        Binding(a.keys, a.action, a.description, show=a.show, id=a.id, priority=a.id == "rollback")
        for a in ACTIONS
    ]


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(os.environ.get("SHIPDECK_CONFIG", Path(base) / "shipdeck" / "config.toml"))


class KeymapError(ValueError):
    pass


def load_keymap(path: Path | None = None) -> dict[str, str]:
    """`[keys]` table of the config file: action id = "key[,key]". Unknown ids are errors."""
    path = path or config_path()
    if not path.exists():
        return {}
    import tomllib  # only with a config file: not on every screen's first frame

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise KeymapError(f"{path}: {e}") from e
    keys = data.get("keys", {})
    if not isinstance(keys, dict):
        raise KeymapError(f"{path}: [keys] must be a table of action id = \"keys\"")
    out: dict[str, str] = {}
    for action_id, value in keys.items():
        if action_id not in BY_ID:
            raise KeymapError(f"{path}: keys.{action_id}: unknown action; known: {', '.join(BY_ID)}")
        if not isinstance(value, str) or not value.strip():
            raise KeymapError(f"{path}: keys.{action_id}: expected a key string like \"ctrl+r\"")
        out[action_id] = value
    return out
