"""What a planner is asked and what it answers: the contract between the graph and the LLM.

The LLM planner never raises for a planner failure: it answers with ``plan=None`` and a
``fallback`` reason, and the graph falls back to the runbook plan (computed in shadow on
every incident, R13) and records why.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from controller.models.actions import Plan
from controller.models.base import FrozenModel, UtcDatetime
from controller.models.incident import Incident
from controller.models.incident_file import LlmExchange
from controller.models.workloads import WorkloadInventory


class FallbackReason(StrEnum):
    """Why the LLM's plan was not used. Metrics and the ledger key on these."""

    NO_KEY = "no_key"
    TIMEOUT = "timeout"
    DEADLINE = "deadline"
    RATE_LIMITED = "rate_limited"
    OVERLOADED = "overloaded"
    SERVER_ERROR = "server_error"
    REQUEST_REJECTED = "request_rejected"
    CONNECTION = "connection"
    SPEND_CAP = "spend_cap"
    INVALID_OUTPUT = "invalid_output"
    OUT_OF_SCOPE = "out_of_scope"
    BUDGET_EXHAUSTED = "budget_exhausted"
    BREAKER_OPEN = "breaker_open"
    NO_RECORDING = "no_recording"
    DISABLED = "disabled"


class TokenUsage(FrozenModel):
    """Tokens spent on one incident (cache reads count as input)."""

    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cache_read_input_tokens: int = Field(default=0, ge=0)
    cache_creation_input_tokens: int = Field(default=0, ge=0)

    @property
    def total(self) -> int:
        """Every token billed."""
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_input_tokens
            + self.cache_creation_input_tokens
        )

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_input_tokens=self.cache_read_input_tokens + other.cache_read_input_tokens,
            cache_creation_input_tokens=self.cache_creation_input_tokens
            + other.cache_creation_input_tokens,
        )


class ProposalRequest(FrozenModel):
    """Everything the planner may know about one incident (all of it untrusted telemetry)."""

    incident: Incident
    inventory: WorkloadInventory
    runbook_plan: Plan = Field(description="The deterministic plan, computed in shadow.")
    now: UtcDatetime


class ProposalOutcome(FrozenModel):
    """The LLM's plan, or why there is none; always with what it cost and what was said."""

    plan: Plan | None = None
    fallback: FallbackReason | None = None
    detail: str = ""
    usage: TokenUsage = TokenUsage()
    attempts: int = Field(default=0, ge=0, description="HTTP attempts made (retries included).")
    tool_calls: int = Field(default=0, ge=0)
    reasks: int = Field(default=0, ge=0)
    exchanges: tuple[LlmExchange, ...] = Field(
        default=(), description="Request/response pairs, for recording into the incident file."
    )
