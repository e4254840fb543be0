"""Ledger entries: one JSON line per detection, proposal, decision, approval, action, check.

``LedgerEntry`` is the hash-chained envelope as written. Its ``payload`` stays exactly what
the call site built (the hash covers those bytes), and ``PAYLOAD_MODELS`` says, per entry
type, which model it must fit (``controller.models.ledger_payloads``): checked on write by
``validate_payload`` and read back typed with ``LedgerEntry.payload_as``. ``LedgerLine`` is
a whole line as a discriminated union on ``type``: what a reader validates, and the JSON
Schema that ``aiops schema ledger`` prints.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from controller.models.actions import Plan
from controller.models.base import FrozenModel, UtcDatetime, canonical_json, sha256_hex
from controller.models.decisions import (
    ActionResult,
    Approval,
    ApprovalRequest,
    VerificationResult,
)
from controller.models.ledger_payloads import (
    HEX64,
    BlindPayload,
    DecisionPayload,
    DetectionPayload,
    EscalationPayload,
    PlannerPayload,
    ResolvedPayload,
    SealPayload,
)
from controller.models.modes import ModeState

LEDGER_SCHEMA_VERSION = 1
GENESIS_HASH = "0" * 64


class EntryType(StrEnum):
    """What a ledger line records."""

    DETECTION = "detection"
    BLIND = "blind"
    RESOLVED = "resolved"
    PROPOSAL = "proposal"
    PLANNER = "planner"
    DECISION = "decision"
    APPROVAL_REQUESTED = "approval_requested"
    APPROVAL = "approval"
    ACTION = "action"
    VERIFICATION = "verification"
    ESCALATION = "escalation"
    MODE = "mode"
    SEAL = "seal"


PAYLOAD_MODELS: dict[EntryType, type[BaseModel]] = {
    EntryType.DETECTION: DetectionPayload,
    EntryType.BLIND: BlindPayload,
    EntryType.RESOLVED: ResolvedPayload,
    EntryType.PROPOSAL: Plan,
    EntryType.PLANNER: PlannerPayload,
    EntryType.DECISION: DecisionPayload,
    EntryType.APPROVAL_REQUESTED: ApprovalRequest,
    EntryType.APPROVAL: Approval,
    EntryType.ACTION: ActionResult,
    EntryType.VERIFICATION: VerificationResult,
    EntryType.ESCALATION: EscalationPayload,
    EntryType.MODE: ModeState,
    EntryType.SEAL: SealPayload,
}
"""The model each entry type's payload must fit."""

M = TypeVar("M", bound=BaseModel)
_TAG_ERRORS = frozenset({"union_tag_invalid", "union_tag_not_found"})


class LedgerPayloadError(ValueError):
    """A call site built a payload that does not fit its entry type: a bug, never data."""

    def __init__(self, entry_type: EntryType, problem: str) -> None:
        self.entry_type = entry_type
        self.problem = problem
        model = PAYLOAD_MODELS[entry_type].__name__
        super().__init__(f"{entry_type.value} payload does not fit {model}: {problem}")


def _field_path(loc: tuple[int | str, ...], data: Any) -> list[str]:
    """The fields along ``loc`` in ``data``, without the tags pydantic puts in for a
    discriminated union (a name that is no key of the object there, short of the end)."""
    parts: list[str] = []
    node = data
    for index, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif isinstance(part, str) and index < len(loc) - 1:
            continue
        else:
            node = None
        parts.append(str(part))
    return parts


def describe_validation(exc: ValidationError, data: Any, *, prefix: str = "") -> str:
    """``field.path: message`` of the first error ``exc`` found in ``data``."""
    errors = exc.errors()
    first = errors[0]
    parts = _field_path(first["loc"], data)
    if first["type"] in _TAG_ERRORS:
        parts.append(str(first.get("ctx", {}).get("discriminator", "type")).strip("'"))
    where = ".".join([prefix, *parts] if prefix else parts) or "(entry)"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first['msg']}{more}"


def validate_payload(entry_type: EntryType, payload: dict[str, Any]) -> BaseModel:
    """``payload`` as its type's model; raise LedgerPayloadError when it does not fit."""
    try:
        return PAYLOAD_MODELS[entry_type].model_validate(payload)
    except ValidationError as exc:
        raise LedgerPayloadError(
            entry_type, describe_validation(exc, payload, prefix="payload")
        ) from exc


class LedgerEntry(FrozenModel):
    """One hash-chained line. ``hash`` covers every other field, including ``prev_hash``."""

    schema_version: int = LEDGER_SCHEMA_VERSION
    seq: int = Field(ge=0)
    time: UtcDatetime
    type: EntryType
    incident_id: str | None = None
    plan_hash: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    prev_hash: str = Field(pattern=HEX64)
    hash: str = Field(pattern=HEX64)

    @staticmethod
    def compute_hash(body: dict[str, Any], key: bytes | None = None) -> str:
        """Hash of an entry body (all fields but ``hash``) in canonical JSON: SHA-256, or
        HMAC-SHA256 under ``key`` (then only a holder of the key can chain an entry)."""
        text = canonical_json(body)
        if key is None:
            return sha256_hex(text)
        return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()

    def body(self) -> dict[str, Any]:
        """Every field but ``hash``, as JSON data."""
        return self.model_dump(mode="json", exclude={"hash"})

    def payload_as(self, model: builtins.type[M]) -> M:
        """The payload as ``model``, which must be this entry type's payload model."""
        expected = PAYLOAD_MODELS[self.type]
        if model is not expected:
            raise TypeError(
                f"a {self.type.value} payload is a {expected.__name__}, not a {model.__name__}"
            )
        return model.model_validate(self.payload)


# -- whole lines, typed: what readers validate and what the JSON Schema describes ----------


class _Line(FrozenModel):
    """The envelope every line carries (the same fields as ``LedgerEntry``)."""

    schema_version: Literal[1]
    seq: int = Field(ge=0)
    time: UtcDatetime
    incident_id: str | None
    plan_hash: str | None
    prev_hash: str = Field(pattern=HEX64)
    hash: str = Field(pattern=HEX64, description="SHA-256 (or HMAC-SHA256) of the rest.")


class DetectionLine(_Line):
    """An incident opened or was re-diagnosed."""

    type: Literal[EntryType.DETECTION]
    payload: DetectionPayload


class BlindLine(_Line):
    """A workload became blind, or saw again."""

    type: Literal[EntryType.BLIND]
    payload: BlindPayload


class ResolvedLine(_Line):
    """An incident's conditions cleared."""

    type: Literal[EntryType.RESOLVED]
    payload: ResolvedPayload


class ProposalLine(_Line):
    """The plan chosen for guarding."""

    type: Literal[EntryType.PROPOSAL]
    payload: Plan


class PlannerLine(_Line):
    """What the runbook and LLM planners said."""

    type: Literal[EntryType.PLANNER]
    payload: PlannerPayload


class DecisionLine(_Line):
    """A guardrail verdict."""

    type: Literal[EntryType.DECISION]
    payload: DecisionPayload


class ApprovalRequestedLine(_Line):
    """A request for a human's approval."""

    type: Literal[EntryType.APPROVAL_REQUESTED]
    payload: ApprovalRequest


class ApprovalLine(_Line):
    """A human's (or an expiry's) answer."""

    type: Literal[EntryType.APPROVAL]
    payload: Approval


class ActionLine(_Line):
    """An actuator result (a revert too)."""

    type: Literal[EntryType.ACTION]
    payload: ActionResult


class VerificationLine(_Line):
    """A verification verdict after the bake."""

    type: Literal[EntryType.VERIFICATION]
    payload: VerificationResult


class EscalationLine(_Line):
    """An incident handed to a human."""

    type: Literal[EntryType.ESCALATION]
    payload: EscalationPayload


class ModeLine(_Line):
    """The controller entered another mode."""

    type: Literal[EntryType.MODE]
    payload: ModeState


class SealLine(_Line):
    """The end of a segment."""

    type: Literal[EntryType.SEAL]
    payload: SealPayload


LedgerLine = Annotated[
    DetectionLine
    | BlindLine
    | ResolvedLine
    | ProposalLine
    | PlannerLine
    | DecisionLine
    | ApprovalRequestedLine
    | ApprovalLine
    | ActionLine
    | VerificationLine
    | EscalationLine
    | ModeLine
    | SealLine,
    Field(discriminator="type"),
]
"""One ledger line, typed by its ``type``."""

LEDGER_LINE: TypeAdapter[LedgerLine] = TypeAdapter(LedgerLine)


def ledger_line_schema() -> dict[str, Any]:
    """The JSON Schema of one ledger line (a JSON Lines ledger is one such object a line)."""
    schema = LEDGER_LINE.json_schema()
    schema["title"] = "aiops ledger line"
    schema["description"] = (
        f"One line of an aiops decision ledger (schema_version {LEDGER_SCHEMA_VERSION}): a "
        "JSON object per line, hash-chained through prev_hash; the type selects the payload."
    )
    return schema
