"""Strict YAML reading for policy documents, with the line of every key for error messages.

PyYAML's defaults are wrong for a safety document: it silently keeps the last of two duplicate
keys, reads ``23:59`` as the integer 1439 and ``on``/``no`` as booleans (YAML 1.1), and expands
aliases (billion laughs). This reader rejects duplicate keys, aliases, merge keys and deep
nesting, and resolves plain scalars as YAML 1.2 does: only ``true``/``false`` are booleans and
only plain decimal numbers are numbers; everything else stays a string, which the schema then
checks. Any problem is a PolicyError with a location, never a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import yaml
from yaml.composer import ComposerError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from controller.errors import PolicyError

Path = tuple[str | int, ...]
MAX_DEPTH = 20

_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_CORE_SCALARS = (
    (_BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), "tTfF"),
    (_INT_TAG, re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), "-+0123456789"),
    (
        _FLOAT_TAG,
        re.compile(
            r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
        ),
        "-+0123456789.",
    ),
)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core booleans and numbers, and a nesting limit."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: object) -> Node | None:
        """Refuse deep nesting while composing (the composer recurses: no RecursionError)."""
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise ComposerError(None, None, f"nesting deeper than {MAX_DEPTH} levels", mark)
            return super().compose_node(parent, index)  # type: ignore[arg-type]
        finally:
            self._depth -= 1


_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL_TAG, _INT_TAG, _FLOAT_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _tag, _regexp, _first in _CORE_SCALARS:
    _StrictLoader.add_implicit_resolver(_tag, _regexp, list(_first))


def format_path(path: Sequence[str | int]) -> str:
    """Render ``("spec", "freezeWindows", 0, "name")`` as ``spec.freezeWindows[0].name``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(root)"


@dataclass(frozen=True)
class YamlDocument:
    """Parsed data plus the 1-based line of every mapping key and sequence item."""

    data: object
    lines: Mapping[Path, int] = field(default_factory=dict)

    def where(self, path: Sequence[str | int]) -> str:
        """``spec.replicas.ceiling (line 12)``: the path and the line of its nearest known part."""
        parts = tuple(path)
        for end in range(len(parts), -1, -1):
            line = self.lines.get(parts[:end])
            if line is not None:
                return f"{format_path(parts)} (line {line})"
        return format_path(parts)


def parse_yaml(text: str, source: str) -> YamlDocument:
    """Parse one YAML document strictly; raise PolicyError(source, location, reason)."""
    try:
        return _parse(text, source)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "malformed document"
        raise PolicyError(source, where, f"invalid YAML: {problem}") from exc
    except yaml.YAMLError as exc:
        raise PolicyError(source, "", f"invalid YAML: {exc}") from exc
    except (ValueError, OverflowError) as exc:
        raise PolicyError(source, "", f"invalid YAML value: {exc}") from exc


def _parse(text: str, source: str) -> YamlDocument:
    """Compose, check and construct one document; errors propagate to parse_yaml."""
    loader = _StrictLoader(text)  # the reader already rejects control characters here
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDocument(None)
        lines = _index(node, source)
        return YamlDocument(loader.construct_document(node), lines)
    finally:
        loader.dispose()


def _index(root: Node, source: str) -> dict[Path, int]:
    """Walk the node graph: reject what a policy must not contain, and record key lines."""
    lines: dict[Path, int] = {}
    seen: set[int] = set()
    stack: list[tuple[Node, Path]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        where = f"{format_path(path)} (line {lines.get(path, node.start_mark.line + 1)})"
        if id(node) in seen:
            raise PolicyError(source, where, "aliases (*name) are not supported: write it out")
        seen.add(id(node))
        children: list[tuple[Node, Path]] = []
        if isinstance(node, MappingNode):
            children = _mapping_children(node, path, lines, source)
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                lines[(*path, index)] = item.start_mark.line + 1
                children.append((item, (*path, index)))
        stack.extend(reversed(children))  # document order, so an alias is found at its use
    return lines


def _mapping_children(
    node: MappingNode, path: Path, lines: dict[Path, int], source: str
) -> list[tuple[Node, Path]]:
    """Children of one mapping; duplicate, merge and non-scalar keys are errors."""
    children: list[tuple[Node, Path]] = []
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE_TAG:
            where = f"{format_path(path)} (line {line})"
            raise PolicyError(source, where, "keys must be plain names (no merge keys, no lists)")
        key_path = (*path, str(key_node.value))
        if key_path in lines:
            where = f"{format_path(key_path)} (line {line})"
            first = lines[key_path]
            raise PolicyError(
                source, where, f"duplicate key {key_node.value!r} (first on line {first})"
            )
        lines[key_path] = line
        children.append((value_node, key_path))
    return children
