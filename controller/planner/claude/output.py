"""The strict contract the model must fill through the ``submit_plan`` tool, and its parser.

No best-effort parsing (SAFETY.md R2, R12, CH-03/CH-04): the reply must carry exactly one
``submit_plan`` call whose input validates, in pydantic's strict JSON mode, against
``Submission`` (the controller's own ``Action`` union, so ``delete``/``recreate``/``exec`` do
not exist); anything else is a ``Rejection`` with a reason that goes to the ledger and, once,
back to the model. A schema-valid plan is then checked against the incident's scope: the
incident's own workload only, revisions from its history only, bounded scale steps, never 0.
The policy engine checks again later; this is the first of two independent gates.

Everything here is pure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import Field, ValidationError

from controller.models.actions import (
    Action,
    AdjustHpaAction,
    Evidence,
    PauseRolloutAction,
    Plan,
    PlannerKind,
    RestartAction,
    Risk,
    RollbackAction,
    ScaleAction,
    VerificationSpec,
)
from controller.models.base import FrozenModel
from controller.models.incident import Incident
from controller.models.proposals import FallbackReason, TokenUsage
from controller.models.workloads import ScalingOwner, WorkloadInventory

SUBMIT_TOOL = "submit_plan"
MAX_RATIONALE_CHARS = 2000
MAX_EVIDENCE = 10
MAX_SCALE_FACTOR = 2.0
"""A model may at most double (or halve) replicas or HPA bounds in one step (R4)."""
DEFAULT_MAX_BYTES = 64 * 1024
_DURATION_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": r"^(\d+(\.\d+)?h)?(\d+(\.\d+)?m)?(\d+(\.\d+)?s)?$"},
    ],
    "description": "Seconds, or a string such as '30s', '5m', '1h'.",
}


class Submission(FrozenModel):
    """What the model submits: one action, its risk, why, the evidence, how to verify."""

    action: Action
    risk: Risk
    rationale: str = Field(min_length=1, max_length=MAX_RATIONALE_CHARS)
    evidence: tuple[Evidence, ...] = Field(default=(), max_length=MAX_EVIDENCE)
    verification: VerificationSpec | None = None


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a reply is not a usable plan: INVALID_OUTPUT (malformed) or OUT_OF_SCOPE."""

    reason: FallbackReason
    detail: str
    at: datetime


def submission_schema() -> dict[str, Any]:
    """The ``input_schema`` of ``submit_plan``, derived from ``Submission``.

    Durations are rewritten to what the parser accepts (seconds or ``"5m"``) because
    pydantic would advertise ISO 8601, which the controller's Duration type rejects.
    """
    schema: dict[str, Any] = _rewrite_durations(Submission.model_json_schema(mode="validation"))
    return schema


def _rewrite_durations(node: Any) -> Any:
    """Replace every ``format: duration`` string schema by ``_DURATION_SCHEMA``."""
    if isinstance(node, dict):
        if node.get("format") == "duration":
            return dict(_DURATION_SCHEMA)
        return {key: _rewrite_durations(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_rewrite_durations(item) for item in node]
    return node


def parse_submission(
    raw: Mapping[str, Any],
    incident: Incident,
    runbook_plan: Plan,
    now: datetime,
    *,
    inventory: WorkloadInventory,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Plan | Rejection:
    """The Plan in one Messages API reply body (``raw``), or why there is none.

    ``runbook_plan`` is the shadow plan: a model plan whose action equals it is always in
    scope. ``now`` stamps the rejection.
    """
    found = _single_submission(raw, now)
    if isinstance(found, Rejection):
        return found
    encoded = json.dumps(found, ensure_ascii=False).encode("utf-8")
    if len(encoded) > max_bytes:
        return _invalid(f"submit_plan input is {len(encoded)} bytes (limit {max_bytes})", now)
    try:
        submission = Submission.model_validate_json(encoded, strict=True)
    except ValidationError as exc:
        return _invalid(f"submit_plan input does not match the schema: {_errors(exc)}", now)
    except (OverflowError, ValueError) as exc:
        # Defensive: an out-of-range number must be a rejection, never an exception.
        return _invalid(f"submit_plan input has an out-of-range value: {exc}", now)
    plan = Plan(
        incident_id=incident.id,
        planner=PlannerKind.LLM,
        runbook_id=None,
        action=submission.action,
        risk=submission.risk,
        rationale=submission.rationale,
        evidence=submission.evidence,
        verification=submission.verification,
        snapshot_at=incident.snapshot_at,
    )
    if plan.action == runbook_plan.action:
        return plan
    problem = scope_problem(plan.action, incident, inventory)
    if problem is not None:
        return Rejection(FallbackReason.OUT_OF_SCOPE, problem, now)
    return plan


def _single_submission(raw: Mapping[str, Any], now: datetime) -> dict[str, Any] | Rejection:
    """The one ``submit_plan`` input of a reply, or why the reply has none usable."""
    content = raw.get("content")
    if not isinstance(content, list):
        return _invalid("reply has no content list", now)
    if raw.get("stop_reason") == "max_tokens":
        return _invalid("reply was truncated at max_tokens; the tool input is incomplete", now)
    calls = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_use"]
    submits = [b for b in calls if b.get("name") == SUBMIT_TOOL]
    if not submits:
        if not content:
            return _invalid("empty reply: call submit_plan", now)
        return _invalid("no submit_plan call: prose or other tools are not a plan", now)
    if len(submits) > 1:
        return _invalid(f"{len(submits)} submit_plan calls in one reply: submit exactly one", now)
    if len(calls) > 1:
        return _invalid("submit_plan must be the only tool call of its reply", now)
    payload = submits[0].get("input")
    if not isinstance(payload, dict):
        return _invalid("submit_plan input is not a JSON object", now)
    return payload


def scope_problem(action: Action, incident: Incident, inventory: WorkloadInventory) -> str | None:
    """Why ``action`` is outside what this incident allows, or None when it fits."""
    target = action.target
    if target is None:
        return None  # no_action / escalate without a target only inform humans
    if target != incident.workload or inventory.ref != incident.workload:
        return f"target {target} is not the incident's workload {incident.workload}"
    if isinstance(action, ScaleAction):
        return _scale_problem(action, inventory)
    if isinstance(action, RollbackAction):
        return _rollback_problem(action, inventory)
    if isinstance(action, AdjustHpaAction):
        return _hpa_problem(action, inventory)
    if isinstance(action, PauseRolloutAction | RestartAction):
        return None
    return None


def _scale_problem(action: ScaleAction, inventory: WorkloadInventory) -> str | None:
    if inventory.scaling_owner is not ScalingOwner.NONE:
        return f"replicas are owned by {inventory.scaling_owner.value}: do not write them"
    if action.to_replicas == 0:
        return "scaling to 0 replicas is never allowed"
    current = inventory.replicas.desired
    if action.from_replicas != current:
        return f"from_replicas {action.from_replicas} is not the current {current}"
    if not _within_step(current, action.to_replicas):
        return f"scale {current} -> {action.to_replicas} exceeds the x{MAX_SCALE_FACTOR:g} step"
    return None


def _rollback_problem(action: RollbackAction, inventory: WorkloadInventory) -> str | None:
    current = inventory.current
    if current is None or action.from_revision != current.revision:
        return f"from_revision {action.from_revision} is not the current revision"
    target = inventory.revision(action.to_revision)
    if target is None:
        return f"revision {action.to_revision} is not in the rollout history"
    if action.to_image is not None and action.to_image != target.image:
        return f"to_image {action.to_image!r} is not the image of revision {target.revision}"
    return None


def _hpa_problem(action: AdjustHpaAction, inventory: WorkloadInventory) -> str | None:
    hpa = inventory.hpa
    if hpa is None or hpa.name != action.hpa_name:
        return f"the workload has no HPA named {action.hpa_name!r}"
    if (action.from_min, action.from_max) != (hpa.min_replicas, hpa.max_replicas):
        return "from_min/from_max do not match the HPA's current bounds"
    if not _within_step(hpa.max_replicas, action.to_max) or not _within_step(
        hpa.min_replicas, action.to_min
    ):
        return f"HPA bounds change exceeds the x{MAX_SCALE_FACTOR:g} step"
    return None


def _within_step(current: int, wanted: int) -> bool:
    """Whether ``wanted`` is at most one bounded step away from ``current`` (never 0)."""
    if wanted <= 0:
        return False
    return current / MAX_SCALE_FACTOR <= wanted <= current * MAX_SCALE_FACTOR


def _invalid(detail: str, now: datetime) -> Rejection:
    return Rejection(FallbackReason.INVALID_OUTPUT, detail, now)


def _errors(exc: ValidationError, limit: int = 3) -> str:
    """The first few validation errors as ``path: message``, short enough to quote back."""
    parts = []
    for error in exc.errors()[:limit]:
        where = ".".join(str(part) for part in error["loc"]) or "(root)"
        parts.append(f"{where}: {error['msg']}")
    more = exc.error_count() - limit
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def tool_inputs(raw: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    """Every ``tool_use`` block of a reply body (for the adapter's tool loop)."""
    content = raw.get("content")
    if not isinstance(content, list):
        return ()
    return [b for b in content if isinstance(b, dict) and b.get("type") == "tool_use"]


# --- conversation bookkeeping (pure; used by the adapter's tool loop) ---------------------


def is_submission_turn(body: dict[str, Any], calls: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the reply must be judged as a submission (anything but pure read-only calls)."""
    if body.get("stop_reason") == "max_tokens" or not calls:
        return True
    return any(call.get("name") == SUBMIT_TOOL for call in calls)


def echo(content: list[Any], max_bytes: int) -> list[Any]:
    """The assistant turn as sent back: oversize tool inputs emptied, long texts clipped.

    A 1 MB reply must not be paid for twice by quoting it back in the re-ask.
    """
    echoed: list[Any] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "tool_use":
            size = len(json.dumps(block.get("input"), ensure_ascii=False).encode("utf-8"))
            if size > max_bytes or not isinstance(block.get("input"), dict):
                block = {**block, "input": {}}
        elif block.get("type") == "text" and len(str(block.get("text", ""))) > max_bytes:
            block = {**block, "text": str(block["text"])[:max_bytes] + " …[clipped]"}
        echoed.append(block)
    return echoed


def tool_result(call_id: str, text: str, is_error: bool) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id, "content": text}
    if is_error:
        block["is_error"] = True
    return block


def extend(messages: list[dict[str, Any]], content: list[Any], user: list[dict[str, Any]]) -> None:
    """Append the assistant turn (when it said anything) and the next user turn."""
    if content:
        messages.append({"role": "assistant", "content": content})
        messages.append({"role": "user", "content": user})
        return
    last = messages[-1]
    previous = last["content"]
    blocks = [{"type": "text", "text": previous}] if isinstance(previous, str) else list(previous)
    texts = [b for b in user if b.get("type") == "text"]  # no tool calls to answer
    messages[-1] = {"role": "user", "content": blocks + texts}


def usage(body: Any) -> TokenUsage:
    """The usage the API reported (missing or odd fields count as 0)."""
    raw = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(raw, dict):
        return TokenUsage()
    names = TokenUsage.model_fields
    values = {k: v for k, v in raw.items() if k in names and isinstance(v, int) and v >= 0}
    return TokenUsage(**values)
