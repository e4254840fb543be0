"""Pure typed routers: which node runs next, read from the state alone.

Each returns a ``Literal`` of node names and raises ``RuntimeError`` on a state the graph
cannot produce (a wiring bug must stop the run, never fall through to acting).
"""

from __future__ import annotations

from typing import Literal

from controller.models.decisions import VerificationPhase
from controller.planner.graph.state import PlannerState, status_of

AfterGather = Literal["propose", "escalate"]
AfterGuard = Literal["request_approval", "act", "escalate", "finish"]
AfterApproval = Literal["act", "escalate"]
AfterAct = Literal["wait_bake", "escalate", "finish"]
AfterVerify = Literal["finish", "revert_and_escalate"]


def _impossible(router: str, state: PlannerState) -> RuntimeError:
    return RuntimeError(f"{router}: impossible planner status {state.get('status')!r}")


def route_after_gather(state: PlannerState) -> AfterGather:
    """Plan when the workload was read; escalate when it vanished."""
    status = status_of(state)
    if status == "new":
        return "propose"
    if status == "escalated":
        return "escalate"
    raise _impossible("route_after_gather", state)


def route_after_guard(state: PlannerState) -> AfterGuard:
    """Allowed -> act; needs a human -> approval; denied or escalating -> escalate."""
    status = status_of(state)
    if status == "planned":
        return "act"
    if status == "awaiting_approval":
        return "request_approval"
    if status in ("denied", "escalated"):
        return "escalate"
    if status == "done":
        return "finish"
    raise _impossible("route_after_guard", state)


def route_after_approval(state: PlannerState) -> AfterApproval:
    """Only a judged approval reaches act; rejected and expired replies escalate."""
    status = status_of(state)
    if status == "approved":
        return "act"
    if status == "escalated":
        return "escalate"
    raise _impossible("route_after_approval", state)


def route_after_act(state: PlannerState) -> AfterAct:
    """Applied with a promise to verify -> bake; failed or refused -> escalate."""
    status = status_of(state)
    if status == "awaiting_bake":
        if state.get("bake_due") is None:
            raise RuntimeError("route_after_act: awaiting_bake without a bake_due")
        return "wait_bake"
    if status == "escalated":
        return "escalate"
    if status in ("acted", "done"):
        return "finish"
    raise _impossible("route_after_act", state)


def route_after_verify(state: PlannerState) -> AfterVerify:
    """Improved -> done; anything else (worse, not improved, inconclusive) -> a human.

    ``done`` straight from verify is the open loop (replay): judged, never reverted."""
    status = status_of(state)
    verification = state.get("verification")
    if status not in ("verified", "done") or verification is None:
        raise _impossible("route_after_verify", state)
    if status == "done":
        return "finish"
    if VerificationPhase(verification["phase"]) is VerificationPhase.IMPROVED:
        return "finish"
    return "revert_and_escalate"
