"""Ledger entries: one JSON line per detection, proposal, decision, approval, action, check."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field

from controller.models.base import FrozenModel, UtcDatetime, canonical_json, sha256_hex

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


class LedgerEntry(FrozenModel):
    """One hash-chained line. ``hash`` covers every other field, including ``prev_hash``."""

    schema_version: int = LEDGER_SCHEMA_VERSION
    seq: int = Field(ge=0)
    time: UtcDatetime
    type: EntryType
    incident_id: str | None = None
    plan_hash: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    prev_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")

    @staticmethod
    def compute_hash(body: dict[str, Any]) -> str:
        """Hash of an entry body (all fields but ``hash``) in canonical JSON."""
        return sha256_hex(canonical_json(body))

    def body(self) -> dict[str, Any]:
        """Every field but ``hash``, as JSON data."""
        return self.model_dump(mode="json", exclude={"hash"})
