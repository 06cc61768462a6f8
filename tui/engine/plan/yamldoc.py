"""A plan's YAML read as plain data with the position of every key and value, and the problems found in it
(PlanIssue, PlanError), each named by FILE:LINE:COL."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml as pyyaml
from yaml.error import MarkedYAMLError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class PlanIssue:
    file: str
    line: int  # 1-based
    col: int  # 1-based
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.file}:{self.line}:{self.col}: {where}{self.message}"


class PlanError(Exception):
    def __init__(self, issues: list[PlanIssue]) -> None:
        seen: set[tuple[str, int, int, str]] = set()  # an accepted review item is read twice: once in review,
        unique = []  # once where it acts; its problem is said once, where it is written
        for i in sorted(issues, key=lambda i: (i.line, i.col, not i.path.startswith("review"), i.path)):
            if (i.file, i.line, i.col, i.message) not in seen:
                seen.add((i.file, i.line, i.col, i.message))
                unique.append(i)
        self.issues = unique
        super().__init__("\n".join(str(i) for i in self.issues))


_YAML11_BOOL = re.compile(r"^(y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$")


MAX_NUMBER_DIGITS = 30
MAX_PLAN_BYTES = 1_000_000


class Doc:
    """Plain data built from the YAML node tree, with the position of every key and value."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.values: dict[Path_, tuple[int, int]] = {}
        self.keys: dict[Path_, tuple[int, int]] = {}
        self.issues: list[PlanIssue] = []
        self._open: set[int] = set()
        self._count = 0

    def issue(self, pos: tuple[int, int], path: Path_, message: str) -> None:
        self.issues.append(PlanIssue(self.file, pos[0] + 1, pos[1] + 1, dotted(path), message))

    MAX_NODES = 20_000  # a plan of 1,000 phases fits; aliases can expand a small file exponentially

    def build(self, node: Node, path: Path_ = ()) -> Any:
        pos = (node.start_mark.line, node.start_mark.column)
        self.values[path] = pos
        self._count += 1
        if id(node) in self._open or self._count > self.MAX_NODES:
            why = "an alias refers to itself" if id(node) in self._open else "aliases expand too far"
            self.issue(pos, path, f"cannot read this YAML: {why}")
            return None
        if isinstance(node, MappingNode | SequenceNode):
            self._open.add(id(node))
            try:
                return self._collection(node, path)
            finally:
                self._open.discard(id(node))
        assert isinstance(node, ScalarNode)
        return self._scalar(node, path, pos)

    def _collection(self, node: MappingNode | SequenceNode, path: Path_) -> Any:
        if isinstance(node, MappingNode):
            out: dict[Any, Any] = {}
            for knode, vnode in node.value:
                if not isinstance(knode, ScalarNode):
                    self.issue((knode.start_mark.line, knode.start_mark.column), path, "keys must be plain text")
                    continue
                key = knode.value
                kpos = (knode.start_mark.line, knode.start_mark.column)
                if key == "<<":
                    self.issue(kpos, path, "merge keys (<<) are not supported; write the keys out")
                    continue
                if key in out:
                    first = self.keys[(*path, key)]
                    self.issue(kpos, (*path, key), f"duplicate key {key!r} (first defined at line {first[0] + 1})")
                    continue
                self.keys[(*path, key)] = kpos
                out[key] = self.build(vnode, (*path, key))
            return out
        return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]

    def _scalar(self, node: ScalarNode, path: Path_, pos: tuple[int, int]) -> Any:
        tag = str(getattr(node.tag, "value", node.tag))
        text = node.value
        if not node.style and _YAML11_BOOL.match(text):  # plain (libyaml says "", PyYAML None)
            self.issue(
                pos, path, f"{text!r} is a boolean in YAML 1.1 but text in YAML 1.2; quote it or write true/false"
            )
            return text
        if tag.endswith(":null"):
            return None
        if tag.endswith(":bool"):
            return text.lower() == "true"
        if tag.endswith(":int"):
            digits = text.replace("_", "")
            if len(digits) > MAX_NUMBER_DIGITS:
                self.issue(pos, path, f"number with {len(digits)} digits is too large")
                return None
            try:
                return int(digits, 0)
            except ValueError:
                if re.fullmatch(r"0[0-7]+", text):
                    self.issue(pos, path, f"{text!r} looks octal; quote it if it is text")
                    return text
                return int(digits)
        if tag.endswith(":float"):
            value = float(text.replace("_", "").replace(".inf", "inf").replace(".Inf", "inf").replace(".INF", "inf")
                          .replace(".nan", "nan").replace(".NaN", "nan").replace(".NAN", "nan"))
            if not math.isfinite(value):
                self.issue(pos, path, f"{text!r} is not a finite number")
                return None
            return value
        return text


def dotted(path: Iterable[str | int]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def read_text(path: Path) -> tuple[str | None, list[PlanIssue]]:
    """Read a plan or runbook as UTF-8, refusing binary files with a position."""
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        return None, [PlanIssue(name, 1, 1, "", f"cannot read: {e.strerror or e}")]
    if len(raw) > MAX_PLAN_BYTES:
        return None, [PlanIssue(name, 1, 1, "", f"file is {len(raw):,} bytes; a plan or runbook may be at most "
                                                f"{MAX_PLAN_BYTES:,}")]
    if b"\x00" in raw[:8192]:
        return None, [PlanIssue(name, 1, 1, "", "this is a binary file, not a YAML plan")]
    try:
        return raw.decode("utf-8").removeprefix("\ufeff"), []
    except UnicodeDecodeError as e:
        before = raw[: e.start]
        line = before.count(b"\n") + 1
        col = e.start - (before.rfind(b"\n") + 1) + 1
        return None, [PlanIssue(name, line, col, "", f"not valid UTF-8 (byte 0x{raw[e.start]:02x}); save the file as UTF-8")]


class _Core12(getattr(pyyaml, "CSafeLoader", pyyaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's parser (C, fast) with the YAML 1.2 core schema's implicit types.

    PyYAML resolves YAML 1.1 by default, where 22:30 is the integer 1350 and `on` is true; a plan is
    YAML 1.2, so only these plain scalars are typed: true/false, null, integers, floats.
    """

    yaml_implicit_resolvers: dict[Any, Any] = {}


for _tag, _pattern, _first in (
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("int", r"^(?:[-+]?[0-9][0-9_]*|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    ("float", r"^(?:[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?"
              r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", "-+0123456789."),
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
):
    _Core12.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(_pattern), list(_first))


def _too_many_nodes(text: str) -> tuple[int, int] | None:
    """Where a document passes MAX_NODES, found with libyaml's event parser before any node is built:
    a huge plan is refused in well under a second."""
    loader = getattr(pyyaml, "CSafeLoader", pyyaml.SafeLoader)
    count = 0
    try:
        for ev in pyyaml.parse(text, Loader=loader):
            if isinstance(ev, pyyaml.ScalarEvent | pyyaml.CollectionStartEvent | pyyaml.AliasEvent):
                count += 1
                if count > Doc.MAX_NODES:
                    mark = ev.start_mark
                    return (mark.line, mark.column) if mark is not None else (0, 0)
    except pyyaml.YAMLError:
        return None  # the composer below reports the syntax error with its position
    return None


def parse_yaml(text: str, file: str) -> tuple[Any, Doc]:
    doc = Doc(file)
    where = _too_many_nodes(text)
    if where is not None:
        doc.issue(where, (), f"plan too large: more than {Doc.MAX_NODES:,} YAML nodes")
        return None, doc
    try:
        node = pyyaml.compose(text, Loader=_Core12)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line, mark.column) if mark else (0, 0)
        doc.issue((line, col), (), f"YAML syntax: {e.problem or e.context}")
        return None, doc
    except Exception as e:  # noqa: BLE001 - any parser failure is the user's input, not our crash
        doc.issue((0, 0), (), f"YAML syntax: {e}")
        return None, doc
    if node is None:
        return None, doc
    return doc.build(node), doc
