"""Runbooks: Markdown files with a YAML front-matter that the runbook planner executes.

A runbook is written twice over: the front-matter is a small, strictly validated contract
(which lead hypothesis it matches, which action template it renders, how to verify it) and the
Markdown body is prose for the on-call human and, later, for the LLM planner. A runbook that
fails validation never loads: the loader raises ``RunbookError(source, location, reason)`` so a
typo cannot silently widen or change what the controller does (SAFETY.md R12).

The loader reads files; everything after reading (``parse_runbook``) is pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import ErrorDetails

from controller.errors import RunbookError
from controller.models.actions import Risk, VerificationSpec
from controller.models.base import FrozenModel
from controller.models.incident import FaultKind, FindingKind
from controller.models.signals import Signal
from controller.yamlfile import YamlSpec, parse_yaml, read_text, require_mapping

MAX_RUNBOOK_BYTES = 256 * 1024
"""Runbooks are prose for humans; anything larger is a mistake (or an attack on the prompt)."""

MAX_SCALE_OUT_FACTOR = 10.0
"""Sanity bound on a scale-out template; the policy engine applies the real step caps."""

RUNBOOK_ID_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
FENCE = "---"
README_NAME = "readme.md"
RUNBOOK_YAML = YamlSpec(what="runbook", error=RunbookError, max_bytes=MAX_RUNBOOK_BYTES)
FRONT_MATTER_YAML = YamlSpec(what="front-matter", error=RunbookError, max_bytes=MAX_RUNBOOK_BYTES)


class RollbackTemplate(FrozenModel):
    """Roll back to ``previous``: the revision right before the suspected change."""

    kind: Literal["rollback"] = "rollback"
    to: Literal["previous"] = "previous"


class ScaleTemplate(FrozenModel):
    """Scale by a factor; ``hpa_aware`` turns it into an HPA bounds change when an HPA owns it."""

    kind: Literal["scale"] = "scale"
    direction: Literal["out", "in"]
    factor: float = Field(gt=0, allow_inf_nan=False)
    hpa_aware: bool = True

    @field_validator("factor")
    @classmethod
    def _factor_fits_direction(cls, value: float, info: ValidationInfo) -> float:
        """Reject a factor that would move replicas the wrong way (or not at all)."""
        direction = info.data.get("direction")
        if direction == "out" and not 1 < value <= MAX_SCALE_OUT_FACTOR:
            raise ValueError(f"scale out needs 1 < factor <= {MAX_SCALE_OUT_FACTOR:g}")
        if direction == "in" and not 0 < value < 1:
            raise ValueError("scale in needs a factor between 0 and 1 (exclusive)")
        return value


class RestartTemplate(FrozenModel):
    """Rolling restart of the incident's workload."""

    kind: Literal["restart"] = "restart"


class PauseRolloutTemplate(FrozenModel):
    """Pause the workload's in-flight rollout."""

    kind: Literal["pause_rollout"] = "pause_rollout"


class EscalateTemplate(FrozenModel):
    """Hand the incident to a human; ``reason`` says why automation should not act."""

    kind: Literal["escalate"] = "escalate"
    reason: str = Field(min_length=1, max_length=1000)


ActionTemplate = Annotated[
    RollbackTemplate | ScaleTemplate | RestartTemplate | PauseRolloutTemplate | EscalateTemplate,
    Field(discriminator="kind"),
]
TEMPLATE_KINDS = ("rollback", "scale", "restart", "pause_rollout", "escalate")
UNVERIFIED_KINDS = frozenset({"escalate", "pause_rollout"})
"""Templates that promise no signal change, so they may omit ``verification``."""


class RunbookMatch(FrozenModel):
    """When a runbook applies: all of these must hold for the incident's lead hypothesis."""

    faults: tuple[FaultKind, ...] = Field(min_length=1)
    findings: tuple[FindingKind, ...] = Field(
        default=(), description="Finding kinds that must ALL be present in the incident."
    )
    requires_change: bool = Field(
        default=False, description="The lead hypothesis must carry a change event."
    )


class RunbookFrontMatter(FrozenModel):
    """The YAML front-matter of a runbook file: exactly what authors write."""

    id: str = Field(pattern=RUNBOOK_ID_PATTERN, max_length=100)
    title: str = Field(min_length=1, max_length=200)
    version: int = Field(ge=1, strict=True)
    matches: RunbookMatch
    priority: int = Field(default=0, strict=True, description="Higher wins among matches.")
    action: ActionTemplate
    risk: Risk
    verification: VerificationSpec | None = None
    signals: tuple[Signal, ...] = Field(min_length=1, description="Signals this runbook reads.")

    @field_validator("verification")
    @classmethod
    def _verified_when_acting(
        cls, value: VerificationSpec | None, info: ValidationInfo
    ) -> VerificationSpec | None:
        """Every action that promises an improvement must say how to check it (R11)."""
        action = info.data.get("action")
        if value is None and action is not None and action.kind not in UNVERIFIED_KINDS:
            raise ValueError(f"a {action.kind} runbook needs a verification section")
        return value


class Runbook(RunbookFrontMatter):
    """A loaded runbook: the front-matter plus its Markdown body and where it came from."""

    body: str = Field(min_length=1)
    source: str = Field(min_length=1)


def runbook_json_schema() -> dict[str, Any]:
    """JSON Schema of the front-matter, for editors and CI; durations accept seconds or '5m'."""
    schema = RunbookFrontMatter.model_json_schema()
    bake = schema["$defs"]["VerificationSpec"]["properties"]["bake"]
    schema["$defs"]["VerificationSpec"]["properties"]["bake"] = {
        "description": bake.get("description", ""),
        "anyOf": [
            {"type": "number", "minimum": 0},
            {
                "type": "string",
                "pattern": r"^\s*(\d+(\.\d+)?h)?\s*(\d+(\.\d+)?m)?\s*(\d+(\.\d+)?s)?\s*$",
            },
        ],
    }
    return schema


def load_runbook(path: Path) -> Runbook:
    """Read and validate one runbook file; raise RunbookError on any problem."""
    return parse_runbook(read_text(path, RUNBOOK_YAML), str(path))


def load_runbooks(directory: Path) -> tuple[Runbook, ...]:
    """Load every ``*.md`` runbook (README.md excepted) of ``directory``, sorted by id.

    Ids must be unique across files: two runbooks with one id would make the choice depend on
    file order, which the planner's determinism cannot allow.
    """
    if not directory.is_dir():
        raise RunbookError(directory, "", "not a directory")
    paths = sorted(
        p for p in directory.glob("*.md") if p.is_file() and p.name.lower() != README_NAME
    )
    runbooks = [load_runbook(p) for p in paths]
    check_unique_ids(runbooks)
    return tuple(sorted(runbooks, key=lambda r: r.id))


def check_unique_ids(runbooks: Iterable[Runbook]) -> None:
    """Raise RunbookError on the second runbook that reuses an id."""
    seen: dict[str, str] = {}
    for runbook in runbooks:
        if runbook.id in seen:
            raise RunbookError(
                runbook.source, "id", f"id {runbook.id!r} is already used by {seen[runbook.id]}"
            )
        seen[runbook.id] = runbook.source


def parse_runbook(text: str, source: str) -> Runbook:
    """Validate a runbook's text (pure); ``source`` only labels errors and the result."""
    front, body = split_front_matter(text, source)
    data = _load_yaml(front, source)
    if not body.strip():
        raise RunbookError(
            source, "body", "the Markdown body is empty: explain the signal, action and undo"
        )
    try:
        return Runbook.model_validate({**data, "body": body, "source": source})
    except ValidationError as exc:
        raise _schema_error(exc, source) from exc


def split_front_matter(text: str, source: str) -> tuple[str, str]:
    """Split ``---``-fenced front-matter from the body; the file must start with the fence."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != FENCE:
        raise RunbookError(source, "line 1", "missing front-matter: the file must start with '---'")
    for index, line in enumerate(lines[1:], start=1):
        if line.strip() == FENCE:
            return "".join(lines[1:index]), "".join(lines[index + 1 :]).lstrip("\r\n")
    raise RunbookError(source, "line 1", "unterminated front-matter: no closing '---' line")


def _load_yaml(front: str, source: str) -> dict[str, Any]:
    """Parse the front-matter strictly (controller.yamlfile); it starts on line 2 of the file."""
    document = parse_yaml(front, source, FRONT_MATTER_YAML, first_line=2)
    return require_mapping(document, source, FRONT_MATTER_YAML)


def _schema_error(exc: ValidationError, source: str) -> RunbookError:
    """Turn pydantic's first error into (dotted field path, readable reason)."""
    errors = exc.errors()
    first = errors[0]
    reason = _reason(first)
    if len(errors) > 1:
        reason += f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
    return RunbookError(source, _error_location(first), reason)


def _error_location(error: ErrorDetails) -> str:
    """Dotted path without the discriminator tag pydantic inserts (action.scale.factor)."""
    loc: list[str | int] = list(error["loc"])
    if len(loc) > 1 and loc[0] == "action" and loc[1] in TEMPLATE_KINDS:
        del loc[1]
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        loc.append("kind")
    return _dotted(tuple(loc))


def _reason(error: ErrorDetails) -> str:
    """Pydantic's message, without its 'Value error, ' prefix, plus the offending input."""
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] in ("enum", "literal_error", "union_tag_invalid"):
        value = error.get("input")
        shown = value.get("kind") if isinstance(value, dict) else value
        message = f"unknown value {shown!r}: {message}"
    return message


def _dotted(path: Sequence[str | int]) -> str:
    """``('matches', 'faults', 0)`` -> ``matches.faults[0]``; the empty path is ``(root)``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(root)"
