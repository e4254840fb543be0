"""Reading and writing incident files, with errors that name the file, the JSON path and why.

A user mistake (missing file, bad JSON, schema violation, unknown apiVersion) raises
IncidentFileError; the CLI prints it on one line and exits with status 2.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from controller.errors import IncidentFileError
from controller.incident_stream import decode_streaming
from controller.models.incident_file import (
    KIND,
    SUPPORTED_API_VERSIONS,
    IncidentFile,
)

MAX_INCIDENT_BYTES = 256 * 1024 * 1024


def json_path(loc: Sequence[int | str]) -> str:
    """Render a pydantic error location as a JSON path: ``$.series[3].values[5]``."""
    path = "$"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def first_error(exc: ValidationError) -> tuple[str, str]:
    errors = exc.errors(include_url=False)
    first = errors[0]
    # Union errors carry the branch name as an extra location part; drop tagged-union noise.
    loc = [p for p in first["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
    reason = str(first["msg"]).removeprefix("Value error, ")
    if len(errors) > 1:
        reason += f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
    return json_path(loc), reason


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, after the checks that need no parsing (exists, not a folder, size)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError as exc:
        raise IncidentFileError(path, "", "no such file") from exc
    except OSError as exc:
        raise IncidentFileError(path, "", f"cannot read: {exc.strerror}") from exc
    if path.is_dir():
        raise IncidentFileError(path, "", "is a directory, not an incident file")
    if size > MAX_INCIDENT_BYTES:
        limit = MAX_INCIDENT_BYTES
        raise IncidentFileError(path, "", f"file is {size} bytes; the limit is {limit}")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise IncidentFileError(path, "", f"cannot read: {exc.strerror}") from exc


def _decode_text(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IncidentFileError(path, f"byte {exc.start}", "not UTF-8 text") from exc


def _decode_json(path: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise IncidentFileError(path, where, f"invalid JSON: {exc.msg}") from exc


def _read_json(path: Path) -> Any:
    return _decode_json(path, _decode_text(path, _read_bytes(path)))


def parse_incident(data: Any, source: str | Path) -> IncidentFile:
    """Validate already-parsed JSON as an incident file."""
    if not isinstance(data, dict):
        raise IncidentFileError(source, "$", "an incident file must be a JSON object")
    version = data.get("apiVersion")
    if version not in SUPPORTED_API_VERSIONS:
        supported = ", ".join(SUPPORTED_API_VERSIONS)
        raise IncidentFileError(
            source, "$.apiVersion", f"unknown apiVersion {version!r}; supported: {supported}"
        )
    if data.get("kind") != KIND:
        found = data.get("kind")
        raise IncidentFileError(source, "$.kind", f"kind must be {KIND!r}, not {found!r}")
    try:
        return IncidentFile.model_validate(data)
    except ValidationError as exc:
        location, reason = first_error(exc)
        raise IncidentFileError(source, location, reason) from exc


def load_incident(path: Path) -> IncidentFile:
    """Read, parse and validate an incident file.

    A valid file takes the lean path (``decode_streaming``: each series validated into
    packed arrays as soon as it is decoded, so the millions of Python numbers of a long
    recording never exist at once). Any failure goes the plain way, ``json.loads`` then
    ``parse_incident``, so every error names the same line and column or JSON path and
    reason whichever path found it.
    """
    text = _decode_text(path, _read_bytes(path))
    try:
        return parse_incident(decode_streaming(text), path)
    except (IncidentFileError, ValueError):  # ValidationError and StreamingDecodeError too
        pass  # the plain path below names the error
    return parse_incident(_decode_json(path, text), path)


def dump_incident(incident: IncidentFile) -> str:
    """Serialise an incident file as indented JSON (what ``aiops capture`` writes)."""
    return incident.model_dump_json(indent=2, exclude_none=False) + "\n"


def incident_json_schema() -> dict[str, Any]:
    """The published JSON Schema of the incident file format."""
    schema = IncidentFile.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://aiops.dev/schemas/incident-v1alpha1.json"
    return schema
