"""Which plan the graph runs: the LLM's when valid, the runbook's otherwise (pure).

The runbook plan is always computed (shadow, R13). A valid LLM plan that disagrees with it
(another action kind, target or magnitude) is still the one chosen, but ``evaluate`` then
requires a human (APPROVAL_REQUIRED_DISAGREEMENT, CH-06): the LLM proposes, deterministic
code and people decide (R2).
"""

from __future__ import annotations

from typing import Any

from controller.models.actions import Action, Plan, describe
from controller.models.proposals import FallbackReason, ProposalOutcome
from controller.planner.graph.state import Why

PROSE_FIELDS = frozenset({"reason"})
"""Action fields that are explanation, not effect: ignored when comparing two plans."""


def effect_of(action: Action) -> dict[str, Any]:
    """What an action would do (kind, target, magnitude), without its prose."""
    return action.model_dump(mode="json", exclude=set(PROSE_FIELDS))


def disagrees(llm: Plan, runbook: Plan) -> bool:
    """Whether the two plans would do different things."""
    return effect_of(llm.action) != effect_of(runbook.action)


def checked_outcome(outcome: ProposalOutcome, incident_id: str) -> ProposalOutcome:
    """Drop an LLM plan written for another incident (it is out of scope, not usable)."""
    if outcome.plan is None or outcome.plan.incident_id == incident_id:
        return outcome
    detail = f"plan is for incident {outcome.plan.incident_id!r}, not {incident_id!r}"
    return outcome.model_copy(
        update={"plan": None, "fallback": FallbackReason.OUT_OF_SCOPE, "detail": detail}
    )


def choose_plan(runbook: Plan, outcome: ProposalOutcome | None) -> tuple[Plan, Why, str]:
    """The plan to guard, why it was chosen, and a sentence for the ledger."""
    if outcome is None:
        return runbook, "runbook_only", "no LLM planner configured: runbook plan"
    if outcome.plan is None:
        reason = outcome.fallback.value if outcome.fallback else "no plan"
        return runbook, "fallback", f"LLM fallback ({reason}): runbook plan"
    if disagrees(outcome.plan, runbook):
        detail = (
            f"LLM plan ({describe(outcome.plan.action)}) disagrees with the runbook plan "
            f"({describe(runbook.action)}): a human must approve"
        )
        return outcome.plan, "disagreement", detail
    return outcome.plan, "llm", "LLM plan agrees with the runbook plan"
