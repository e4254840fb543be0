"""The payload of each ledger entry type, as written by the call sites today.

Where a stage ledgers one domain object (a plan, an approval, an action result...), the
payload *is* that object's JSON and its model is the domain model itself; the entry types
that wrap or combine objects get a small model here. Every model forbids unknown fields
(``FrozenModel``), so a payload that drifts from its model fails on write, loudly.

The payload models never change what is written: a ledger line keeps the payload exactly as
the call site built it (and the hash covers those bytes); the models validate it on write and
on read, give readers typed fields, and make up the ledger's JSON Schema.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Discriminator, Field, RootModel, Tag

from controller.models.actions import Plan
from controller.models.base import FrozenModel
from controller.models.decisions import PolicyDecision
from controller.models.incident import BlindSpot, Incident
from controller.models.proposals import FallbackReason, ProposalOutcome, TokenUsage
from controller.models.workloads import WorkloadRef

HEX64 = r"^[0-9a-f]{64}$"


class DetectionPayload(FrozenModel):
    """``detection``: an incident opened, or its diagnosis changed (``updated``)."""

    updated: bool
    incident: Incident


class ResolvedPayload(FrozenModel):
    """``resolved``: an incident's conditions cleared."""

    workload: WorkloadRef


class SightRestored(FrozenModel):
    """``blind`` with ``restored``: a blind workload has fresh data again."""

    workload: WorkloadRef
    restored: Literal[True]


def _blind_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "sight_restored" if "restored" in value else "blind_spot"
    return "sight_restored" if isinstance(value, SightRestored) else "blind_spot"


class BlindPayload(
    RootModel[
        Annotated[
            Annotated[BlindSpot, Tag("blind_spot")]
            | Annotated[SightRestored, Tag("sight_restored")],
            Discriminator(_blind_kind),
        ]
    ]
):
    """``blind``: a workload became blind (a ``BlindSpot``), or saw again (``restored``)."""

    model_config = ConfigDict(frozen=True)


class PlannerPayload(FrozenModel):
    """``planner``: what each planner said and what the LLM cost (``ProposalOutcome`` without
    its plan and exchanges, plus both plans and their hashes)."""

    fallback: FallbackReason | None
    detail: str
    usage: TokenUsage
    attempts: int = Field(ge=0)
    tool_calls: int = Field(ge=0)
    reasks: int = Field(ge=0)
    runbook_plan: Plan
    runbook_plan_hash: str = Field(pattern=HEX64)
    llm_plan: Plan | None
    llm_plan_hash: str | None = Field(pattern=HEX64)

    def outcome(self) -> ProposalOutcome:
        """The LLM planner's outcome as the graph saw it (exchanges are recorded elsewhere)."""
        kept = self.model_dump(include=set(ProposalOutcome.model_fields) - {"plan", "exchanges"})
        return ProposalOutcome.model_validate({**kept, "plan": self.llm_plan})


class DecisionPayload(FrozenModel):
    """``decision``: a guardrail verdict; ``revalidation`` marks the re-check before a write."""

    revalidation: bool
    decision: PolicyDecision


class EscalationPayload(FrozenModel):
    """``escalation``: an incident handed to a human, and why.

    ``disagreement`` (the planners disagreed), ``freeze`` (the ``namespace/name`` frozen after
    a failed remediation) and ``status`` (the graph's or planning queue's state) appear only
    where the call site has them.
    """

    reason: str
    disagreement: bool = False
    freeze: str | None = None
    status: str | None = None


class Recovery(FrozenModel):
    """What a resuming writer found at the end of a ledger that was not closed (a crash).

    The segment had no seal; when its last line was cut off mid-write (``torn_bytes`` > 0),
    those bytes were removed from the file and are kept here, so nothing is lost.
    """

    torn_bytes: int = Field(default=0, ge=0, description="Length of the removed cut-off line.")
    torn_sha256: str | None = Field(default=None, pattern=HEX64)
    torn_base64: str | None = Field(default=None, description="The removed bytes, as evidence.")


class SealPayload(FrozenModel):
    """``seal``: closes a segment; ``entries`` counts every entry before it in the file."""

    entries: int = Field(ge=0)
    recovery: Recovery | None = Field(
        default=None, description="Present when a resuming writer sealed a crashed segment."
    )
