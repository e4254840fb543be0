"""The one YAML reader: policies, runbook front-matter, settings files and capture ground truth.

Why ruamel.yaml (safe type, pure Python): it is the maintained Python parser for YAML 1.2, the
version in which YAML is a JSON superset and ``on``/``yes``/``no`` are plain words. PyYAML
implements YAML 1.1 only: ``on: yes`` is ``{True: True}``, ``010`` is 8 and ``23:59`` is 1439,
which turned typos into silently different policies. The pure parser is used because the C
extension is libyaml, a YAML 1.1 parser.

ruamel.yaml only parses and composes the node graph here; the values are built by this module,
so every document follows the same rules and every problem is the caller's ``InputError``
subclass (``PolicyError``, ``RunbookError``, ``ConfigError``...) naming the file, the place
(``line 3, column 7`` for syntax, ``spec.replicas.ceiling (line 31)`` for structure) and the
reason, on one line:

- plain scalars resolve by the YAML 1.2 core schema exactly: ``null``/``~``/empty, ``true`` and
  ``false``, integers (decimal, ``0o`` octal, ``0x`` hex), floats (``.inf``, ``.nan``); anything
  else (``yes``, ``on``, ``23:59``, ``2026-03-01T00:00:00Z``) is a string, which the schema then
  checks (pydantic parses timestamps where a datetime is expected). Quoted and block scalars
  are strings. Mapping keys are always strings: every document here is keyed by field names;
- refused: more than ``max_bytes`` bytes (before decoding), bytes that are not UTF-8, more than
  one document, a ``%YAML`` directive other than 1.2, any explicit tag (``!!python/object``,
  ``!foo``, even ``!!str``: documents hold plain data), aliases (``*name``: a billion-laughs
  document fails at its first alias, before anything is expanded; an anchor alone is
  harmless), duplicate keys, merge keys (``<<``), non-scalar keys and nesting deeper than
  ``MAX_DEPTH`` levels.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError

from controller.errors import InputError

KeyPath = tuple[str | int, ...]
MAX_DEPTH = 20
"""Deepest nesting accepted; our documents need five or six levels."""
MAX_BYTES = 1024 * 1024
"""Default size limit of one document (1 MiB)."""
_BOM = b"\xef\xbb\xbf"

_NULL = re.compile(r"~|null|Null|NULL|")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INTEGERS = (
    (re.compile(r"[-+]?[0-9]+"), 10, 0),
    (re.compile(r"0o[0-7]+"), 8, 2),
    (re.compile(r"0x[0-9a-fA-F]+"), 16, 2),
)
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_INF = re.compile(r"[-+]?\.(?:inf|Inf|INF)")
_NAN = re.compile(r"\.(?:nan|NaN|NAN)")


@dataclass(frozen=True)
class YamlSpec:
    """One kind of document: its name in messages, the error it raises and its size limit."""

    what: str
    error: type[InputError] = InputError
    max_bytes: int = MAX_BYTES


@dataclass(frozen=True)
class YamlDocument:
    """Parsed data plus the 1-based file line of every mapping key and sequence item."""

    data: object
    lines: Mapping[KeyPath, int] = field(default_factory=dict)

    def where(self, path: Sequence[str | int]) -> str:
        """``spec.replicas.ceiling (line 12)``: the path and the line of its nearest known part."""
        parts = tuple(path)
        for end in range(len(parts), -1, -1):
            line = self.lines.get(parts[:end])
            if line is not None:
                return f"{format_path(parts)} (line {line})"
        return format_path(parts)


def format_path(path: Sequence[str | int]) -> str:
    """Render ``("spec", "freezeWindows", 0, "name")`` as ``spec.freezeWindows[0].name``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(root)"


def load_yaml_file(path: Path, spec: YamlSpec) -> YamlDocument:
    """Read (bounded), decode and parse the YAML file at ``path``."""
    return parse_yaml(read_text(path, spec), str(path), spec)


def read_text(path: Path, spec: YamlSpec) -> str:
    """The file's UTF-8 text (a leading BOM dropped); never reads more than the size limit."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(spec.max_bytes + 1)
    except OSError as exc:
        raise spec.error(path, "", f"cannot read: {exc.strerror or exc}") from exc
    if len(raw) > spec.max_bytes:
        raise _too_large(path, spec)
    body = raw.removeprefix(_BOM)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        start = exc.start + len(raw) - len(body)
        line = raw.count(b"\n", 0, start) + 1
        raise spec.error(path, f"line {line} (byte {start})", "not UTF-8 text") from exc


def parse_yaml(text: str, source: str, spec: YamlSpec, *, first_line: int = 1) -> YamlDocument:
    """Parse one document strictly; ``first_line`` is the file line where ``text`` starts."""
    if len(text) > spec.max_bytes or len(text.encode("utf-8", "surrogatepass")) > spec.max_bytes:
        raise _too_large(source, spec)
    try:
        root = _compose(text)
    except _Refused as exc:
        raise spec.error(source, _at(exc.mark, first_line), exc.reason) from exc
    except ReaderError as exc:
        raise spec.error(source, _offset(text, exc.position, first_line), _unreadable(exc)) from exc
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = _at(mark, first_line) if mark is not None else ""
        raise spec.error(source, where, _syntax_reason(exc, first_line)) from exc
    except (YAMLError, AssertionError) as exc:  # ruamel asserts on a %YAML 1.3 directive
        raise spec.error(source, "", f"invalid YAML: {exc}") from exc
    if root is None:
        return YamlDocument(None)
    builder = _Builder(source, spec, first_line)
    return YamlDocument(builder.build(root, ()), builder.lines)


def require_mapping(
    document: YamlDocument, source: str, spec: YamlSpec, *, allow_empty: bool = False
) -> dict[str, Any]:
    """The document's top level as a dict; empty is ``{}`` only when ``allow_empty``."""
    data = document.data
    if data is None and allow_empty:
        return {}
    if data is None:
        reason = f"the document is empty: expected a mapping of fields (the {spec.what})"
        raise spec.error(source, "(root)", reason)
    if not isinstance(data, dict):
        kind = type(data).__name__
        reason = f"must be a mapping of fields (the {spec.what}), not a {kind}"
        raise spec.error(source, "(root)", reason)
    return data


def _too_large(source: str | Path, spec: YamlSpec) -> InputError:
    limit = spec.max_bytes
    unit = ""
    if limit and limit % 1024 == 0:
        unit = f" ({limit // 1024**2} MiB)" if limit % 1024**2 == 0 else f" ({limit // 1024} KiB)"
    return spec.error(source, "", f"larger than {limit} bytes{unit}: not a {spec.what}")


def _at(mark: Any, first_line: int) -> str:
    return f"line {mark.line + first_line}, column {mark.column + 1}"


def _offset(text: str, position: int, first_line: int) -> str:
    line_start = text.rfind("\n", 0, position) + 1
    line = text.count("\n", 0, position) + first_line
    return f"line {line}, column {position - line_start + 1}"


def _unreadable(exc: ReaderError) -> str:
    character = exc.character
    shown = f"#x{character:04x}" if isinstance(character, int) else repr(character)
    return f"invalid YAML: unacceptable character {shown}: {exc.reason}"


def _syntax_reason(exc: MarkedYAMLError, first_line: int) -> str:
    """``while scanning a simple key (line 2, column 1), could not find expected ':'``."""
    parts: list[str] = []
    if exc.context:
        context = str(exc.context)
        mark, problem_mark = exc.context_mark, exc.problem_mark
        if mark is not None and problem_mark is not None and _at(mark, 1) != _at(problem_mark, 1):
            context += f" ({_at(mark, first_line)})"
        parts.append(context)
    if exc.problem:
        parts.append(str(exc.problem))
    return "invalid YAML: " + (", ".join(parts) or "malformed document")


class _Refused(Exception):
    """Raised while composing; parse_yaml turns it into the caller's error at ``mark``."""

    def __init__(self, mark: Any, reason: str) -> None:
        super().__init__(reason)
        self.mark = mark
        self.reason = reason


class _Alias:
    """Stands where ``*name`` was written, so the builder reports it at its key path."""

    def __init__(self, mark: Any) -> None:
        self.start_mark = mark


class _StrictComposer(Composer):
    """ruamel's composer without tags, alias expansion or deep nesting."""

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self.warn_double_anchors = False  # an anchor that no alias uses is harmless
        self.nesting = 0

    def compose_document(self) -> Any:
        """Refuse a ``%YAML`` directive other than 1.2 (a 1.1 document means other values)."""
        event = self.parser.peek_event()
        version = getattr(event, "version", None)
        if version is not None and tuple(version) != (1, 2):
            shown = ".".join(str(part) for part in version)
            reason = f"invalid YAML: %YAML {shown} is not supported: documents are YAML 1.2"
            raise _Refused(event.start_mark, reason)
        return super().compose_document()

    def compose_node(self, parent: Any, index: Any) -> Any:
        """One node: an alias becomes a marker, a tag or a level too deep is refused."""
        event = self.parser.peek_event()
        if isinstance(event, AliasEvent):
            self.parser.get_event()
            return _Alias(event.start_mark)
        if getattr(event, "tag", None) is not None:
            reason = f"invalid YAML: tag {_tag_text(event)} is not allowed (plain data only)"
            raise _Refused(event.start_mark, reason)
        if self.nesting >= MAX_DEPTH:
            raise _Refused(
                event.start_mark, f"invalid YAML: nesting deeper than {MAX_DEPTH} levels"
            )
        self.nesting += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.nesting -= 1


def _tag_text(event: Any) -> str:
    """The tag as written (``!!python/object:os.system``), not as resolved."""
    tag = getattr(event, "ctag", None)
    handle, suffix = getattr(tag, "handle", None), getattr(tag, "suffix", None)
    return repr(f"{handle or ''}{suffix}" if suffix is not None else str(event.tag))


def _compose(text: str) -> Any:
    yaml = YAML(typ="safe", pure=True)
    yaml.Composer = _StrictComposer
    return yaml.compose(text)


class _Builder:
    """Builds plain Python data from the node tree and records the line of every key."""

    def __init__(self, source: str, spec: YamlSpec, first_line: int) -> None:
        self.source = source
        self.spec = spec
        self.first_line = first_line
        self.lines: dict[KeyPath, int] = {}

    def build(self, node: Any, path: KeyPath) -> object:
        """Data of ``node`` found at ``path``."""
        if isinstance(node, _Alias):
            raise self._fail(path, node, "aliases (*name) are not supported: write it out")
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            return self._sequence(node, path)
        return self._scalar(node, path)

    def _mapping(self, node: MappingNode, path: KeyPath) -> dict[str, object]:
        result: dict[str, object] = {}
        for key_node, value_node in node.value:
            key_path = (*path, self._key(key_node, path))
            line = self._line(key_node)
            first = self.lines.get(key_path)
            if first is not None:
                where = f"{format_path(key_path)} (line {line})"
                reason = f"duplicate key {key_path[-1]!r} (first on line {first})"
                raise self.spec.error(self.source, where, reason)
            self.lines[key_path] = line
            result[str(key_path[-1])] = self.build(value_node, key_path)
        return result

    def _key(self, node: Any, path: KeyPath) -> str:
        if isinstance(node, _Alias):
            raise self._fail(path, node, "aliases (*name) are not supported: write it out")
        if not isinstance(node, ScalarNode) or (node.style is None and node.value == "<<"):
            where = f"{format_path(path)} (line {self._line(node)})"
            raise self.spec.error(
                self.source, where, "keys must be plain names (no merge keys, no lists)"
            )
        return str(node.value)

    def _sequence(self, node: SequenceNode, path: KeyPath) -> list[object]:
        items: list[object] = []
        for index, item in enumerate(node.value):
            self.lines[(*path, index)] = self._line(item)
            items.append(self.build(item, (*path, index)))
        return items

    def _scalar(self, node: ScalarNode, path: KeyPath) -> object:
        if node.style is not None:  # quoted, literal or folded: always a string
            return str(node.value)
        try:
            return resolve_plain(str(node.value))
        except ValueError as exc:
            raise self._fail(path, node, f"invalid YAML value: {exc}") from exc

    def _line(self, node: Any) -> int:
        return int(node.start_mark.line) + self.first_line

    def _fail(self, path: KeyPath, node: Any, reason: str) -> InputError:
        where = f"{format_path(path)} (line {self.lines.get(path, self._line(node))})"
        return self.spec.error(self.source, where, reason)


def resolve_plain(text: str) -> None | bool | int | float | str:
    """A plain (unquoted) scalar by the YAML 1.2 core schema; anything else is a string."""
    if _NULL.fullmatch(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    for pattern, base, prefix in _INTEGERS:
        if pattern.fullmatch(text):
            return _integer(text[prefix:], base)
    if _FLOAT.fullmatch(text):
        return float(text)
    if _INF.fullmatch(text):
        return float("-inf") if text.startswith("-") else float("inf")
    if _NAN.fullmatch(text):
        return float("nan")
    return text


def _integer(digits: str, base: int) -> int:
    try:
        return int(digits, base)
    except ValueError as exc:  # Python refuses to convert more than 4300 decimal digits
        raise ValueError(f"integer of {len(digits)} digits is too large") from exc
