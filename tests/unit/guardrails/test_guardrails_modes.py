"""The controller's mode in the policy engine: FROZEN and BLIND deny every mutating action,
DEGRADED asks a human for every one, NORMAL changes nothing (R6, R7, CH-07, CH-08, CH-09)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.guardrails.engine import APPROVAL_CODES, DENIAL_CODES, evaluate
from controller.models.actions import (
    Action,
    AdjustHpaAction,
    EscalateAction,
    NoAction,
    PauseRolloutAction,
    RestartAction,
    Risk,
    RollbackAction,
    ScaleAction,
)
from controller.models.decisions import ReasonCode as C
from controller.models.decisions import Verdict
from controller.models.facts import PastAction, TargetFacts
from controller.models.modes import Mode
from tests.unit.guardrails.guardrails_helpers import (
    API,
    POLICIES,
    T0,
    WEB,
    default_policy,
    facts,
    inventory,
    past,
    plan,
    policy_with,
)

A, D, N = Verdict.ALLOW, Verdict.DENY, Verdict.NEEDS_APPROVAL
SCALE = ScaleAction(target=WEB, from_replicas=4, to_replicas=6)
HPA = AdjustHpaAction(target=API, hpa_name="api", from_min=2, from_max=10, to_min=2, to_max=12)
HPA_FACTS = facts(API, inv=inventory(API, hpa=("api", 2, 10)))
RESTART = RestartAction(target=WEB)


def in_mode(base: TargetFacts, mode: Mode) -> TargetFacts:
    """The same facts seen while the controller is in ``mode``."""
    return base.model_copy(update={"mode": mode})


@dataclass
class Case:
    """One row: an action in a mode (and situation), and the exact decision expected."""

    id: str
    action: Action
    mode: Mode
    verdict: Verdict
    codes: tuple[C, ...]
    facts: TargetFacts = field(default_factory=facts)
    policy: dict[str, Any] = field(default_factory=dict)
    history: tuple[PastAction, ...] = ()
    risk: Risk = Risk.LOW

    def decide(self) -> Any:
        loaded = policy_with(**self.policy) if self.policy else default_policy()
        situation = in_mode(self.facts, self.mode)
        return evaluate(plan(self.action, self.risk), loaded, situation, self.history, T0)


CASES = [
    # NORMAL changes nothing.
    Case("normal-scale", SCALE, Mode.NORMAL, A, (C.ALLOWED,)),
    Case("normal-hpa", HPA, Mode.NORMAL, A, (C.ALLOWED,), HPA_FACTS),
    # FROZEN and BLIND deny every mutating kind.
    Case("frozen-scale", SCALE, Mode.FROZEN, D, (C.MODE_FROZEN,)),
    Case("frozen-hpa", HPA, Mode.FROZEN, D, (C.MODE_FROZEN,), HPA_FACTS),
    Case("frozen-restart", RESTART, Mode.FROZEN, D, (C.MODE_FROZEN,)),
    Case(
        "frozen-rollback",
        RollbackAction(target=WEB, from_revision=6, to_revision=5),
        Mode.FROZEN,
        D,
        (C.MODE_FROZEN,),
    ),
    Case("frozen-pause", PauseRolloutAction(target=WEB), Mode.FROZEN, D, (C.MODE_FROZEN,)),
    Case("blind-scale", SCALE, Mode.BLIND, D, (C.MODE_BLIND,)),
    Case("blind-hpa", HPA, Mode.BLIND, D, (C.MODE_BLIND,), HPA_FACTS),
    Case("blind-restart", RESTART, Mode.BLIND, D, (C.MODE_BLIND,)),
    # ... listed with every other denial, in the engine's order.
    Case(
        "blind-mode-and-blind-inputs",
        SCALE,
        Mode.BLIND,
        D,
        (C.INPUTS_BLIND, C.MODE_BLIND),
        facts(blind=True),
    ),
    Case(
        "frozen-and-cooldown",
        SCALE,
        Mode.FROZEN,
        D,
        (C.MODE_FROZEN, C.COOLDOWN_ACTIVE),
        history=(past(timedelta(minutes=1)),),
    ),
    Case(
        "frozen-and-stale",
        SCALE,
        Mode.FROZEN,
        D,
        (C.INPUTS_STALE, C.MODE_FROZEN),
        facts(ages={"latency_p99": None}),
    ),
    # DEGRADED: every mutating action needs a human, on top of the other rules.
    Case("degraded-scale", SCALE, Mode.DEGRADED, N, (C.APPROVAL_REQUIRED_DEGRADED,)),
    Case("degraded-hpa", HPA, Mode.DEGRADED, N, (C.APPROVAL_REQUIRED_DEGRADED,), HPA_FACTS),
    Case(
        "degraded-restart",
        RESTART,
        Mode.DEGRADED,
        N,
        (C.APPROVAL_REQUIRED_DEGRADED,),
        policy={"spec__approval__kinds": []},
    ),
    Case(
        "degraded-and-kind",
        RESTART,
        Mode.DEGRADED,
        N,
        (C.APPROVAL_REQUIRED_KIND, C.APPROVAL_REQUIRED_DEGRADED),
    ),
    Case(
        "degraded-and-risk",
        SCALE,
        Mode.DEGRADED,
        N,
        (C.APPROVAL_REQUIRED_RISK, C.APPROVAL_REQUIRED_DEGRADED),
        risk=Risk.HIGH,
    ),
    Case(
        "degraded-and-rollout",
        PauseRolloutAction(target=WEB),
        Mode.DEGRADED,
        N,
        (C.APPROVAL_REQUIRED_ROLLOUT, C.APPROVAL_REQUIRED_DEGRADED),
        facts(rollout=True),
        {"spec__approval__kinds": []},
    ),
    Case(
        "degraded-denial-wins",
        SCALE,
        Mode.DEGRADED,
        D,
        (C.COOLDOWN_ACTIVE,),
        history=(past(timedelta(minutes=1)),),
    ),
    Case(
        "degraded-clamped",
        ScaleAction(target=WEB, from_replicas=4, to_replicas=40),
        Mode.DEGRADED,
        N,
        (C.STEP_UP_CLAMPED, C.APPROVAL_REQUIRED_DEGRADED),
    ),
    # Informing a human never needs guarding, whatever the mode.
    *(
        Case(f"{mode.value}-{action.kind}", action, mode, A, (C.NOT_MUTATING,))
        for mode in Mode
        for action in (NoAction(reason="fine"), EscalateAction(target=WEB, reason="look"))
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_mode_rules(case: Case) -> None:
    decision = case.decide()
    assert (decision.verdict, decision.codes) == (case.verdict, case.codes)


@pytest.mark.parametrize("mode", [Mode.FROZEN, Mode.BLIND])
def test_holding_modes_say_why_and_that_it_is_temporary(mode: Mode) -> None:
    decision = evaluate(plan(SCALE), default_policy(), in_mode(facts(), mode), (), T0)
    (reason,) = decision.reasons
    assert reason.detail.startswith(mode.value)
    assert "temporary" in reason.detail


def test_dry_run_keeps_the_mode_verdict() -> None:
    shadow = policy_with(spec__mode="dry_run")
    decision = evaluate(plan(SCALE), shadow, in_mode(facts(), Mode.DEGRADED), (), T0)
    assert decision.verdict is N
    assert decision.codes == (C.APPROVAL_REQUIRED_DEGRADED, C.DRY_RUN)
    assert decision.dry_run


def test_mode_codes_are_grouped_and_documented() -> None:
    assert {C.MODE_FROZEN, C.MODE_BLIND} <= DENIAL_CODES
    assert C.APPROVAL_REQUIRED_DEGRADED in APPROVAL_CODES
    readme = (POLICIES / "README.md").read_text(encoding="utf-8")
    for code in (C.MODE_FROZEN, C.MODE_BLIND, C.APPROVAL_REQUIRED_DEGRADED):
        assert f"`{code.value}`" in readme


FAST = settings(database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MUTATING = [
    SCALE,
    ScaleAction(target=WEB, from_replicas=4, to_replicas=0),
    HPA,
    RESTART,
    RollbackAction(target=WEB, from_revision=6, to_revision=5),
    PauseRolloutAction(target=WEB),
]


@FAST
@given(
    st.sampled_from(MUTATING),
    st.sampled_from(list(Mode)),
    st.sampled_from(list(Risk)),
    st.booleans(),
    st.booleans(),
    st.lists(st.integers(0, 30).map(lambda m: past(timedelta(minutes=m))), max_size=3),
)
def test_mode_bounds_every_verdict(
    action: Action,
    mode: Mode,
    risk: Risk,
    blind: bool,
    rollout: bool,
    history: list[PastAction],
) -> None:
    """Whatever else holds: FROZEN/BLIND never let a mutating action through, DEGRADED never
    allows one without a human, NORMAL never adds a mode reason."""
    base = HPA_FACTS if action is HPA else facts(blind=blind, rollout=rollout)
    decision = evaluate(plan(action, risk), default_policy(), in_mode(base, mode), history, T0)
    mode_codes = {C.MODE_FROZEN, C.MODE_BLIND, C.APPROVAL_REQUIRED_DEGRADED}
    if mode in (Mode.FROZEN, Mode.BLIND):
        assert decision.verdict is D
        assert (C.MODE_FROZEN if mode is Mode.FROZEN else C.MODE_BLIND) in decision.codes
    elif mode is Mode.DEGRADED:
        assert decision.verdict is not A
        denied = decision.verdict is D
        assert (C.APPROVAL_REQUIRED_DEGRADED in decision.codes) is not denied
    else:
        assert not mode_codes & set(decision.codes)
