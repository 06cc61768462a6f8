"""Backends are found through entry points (groups `shipdeck.<kind>`), listed without importing.

An entry point names a class with a pydantic `Config` model (subclass of BackendConfig)
and a constructor `Cls(config, ctx: BackendContext)`.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from backends.base import BackendConfig, BackendContext

KINDS = ("traffic", "metrics", "logs", "notify", "probes")


class UnknownBackend(LookupError):
    def __init__(self, kind: str, type_name: str, known: list[str]) -> None:
        self.kind, self.type_name, self.known = kind, type_name, known
        super().__init__(f"unknown {kind} backend type {type_name!r}; known: {', '.join(known) or 'none'}")


@cache
def _every_entry_point() -> Any:  # SelectableGroups in 3.11, EntryPoints from 3.12: both `select`
    # Each lookup reads every installed package's metadata (~4 ms): once per process, not once per kind or backend.
    return entry_points()


@cache
def _entry_points(kind: str) -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in _every_entry_point().select(group=f"shipdeck.{kind}")}


def available(kind: str) -> dict[str, str]:
    """type name -> 'module:Class', without importing anything."""
    return {name: ep.value for name, ep in _entry_points(kind).items()}


def load(kind: str, type_name: str) -> Any:
    eps = _entry_points(kind)
    if type_name not in eps:
        raise UnknownBackend(kind, type_name, sorted(eps))
    return eps[type_name].load()


def config_model(kind: str, type_name: str) -> type[BackendConfig]:
    model: type[BackendConfig] = load(kind, type_name).Config
    return model


def create(kind: str, config: BackendConfig, ctx: BackendContext) -> Any:
    return load(kind, config.type)(config, ctx)
