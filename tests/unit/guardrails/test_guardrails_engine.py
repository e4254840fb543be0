"""Table-driven tests of the policy engine: one row per rule, exact reason codes in order."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controller.guardrails.engine import (
    APPROVAL_CODES,
    CLAMP_CODES,
    DENIAL_CODES,
    denial_is_temporary,
    evaluate,
)
from controller.guardrails.loader import LoadedPolicy, load_policy
from controller.guardrails.policy import Policy
from controller.models.actions import (
    Action,
    ActionKind,
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
from controller.models.workloads import NamespaceInfo, ScalingOwner, WorkloadRef
from tests.unit.guardrails.guardrails_helpers import (
    API,
    OPT_IN,
    POLICIES,
    T0,
    WEB,
    default_data,
    default_policy,
    facts,
    inventory,
    past,
    plan,
    policy_with,
)

SYSTEM = WorkloadRef(namespace="kube-system", name="coredns")
OWN = WorkloadRef(namespace="aiops-system", name="aiops-controller")
OTHER = WorkloadRef(namespace="shop", name="cart")
ELSEWHERE = WorkloadRef(namespace="blog", name="web")
HPA_FACTS = facts(API, inv=inventory(API, hpa=("api", 2, 10)))


def scale(to: int, frm: int = 4, ref: WorkloadRef = WEB) -> ScaleAction:
    return ScaleAction(target=ref, from_replicas=frm, to_replicas=to)


def hpa(to_min: int, to_max: int, *, name: str = "api", frm: tuple[int, int] = (2, 10)) -> Action:
    return AdjustHpaAction(
        target=API, hpa_name=name, from_min=frm[0], from_max=frm[1], to_min=to_min, to_max=to_max
    )


def rollback(to: int, frm: int = 6) -> RollbackAction:
    return RollbackAction(target=WEB, from_revision=frm, to_revision=to)


@dataclass
class Case:
    """One row: a plan under a situation, and the exact decision expected."""

    id: str
    action: Action
    verdict: Verdict
    codes: tuple[C, ...]
    facts: TargetFacts = field(default_factory=facts)
    policy: dict[str, Any] = field(default_factory=dict)
    history: tuple[PastAction, ...] = ()
    risk: Risk = Risk.LOW
    now: datetime = T0
    result: Action | None = None  # the (clamped) action expected in the decision

    def run(self) -> None:
        loaded = policy_with(**self.policy) if self.policy else default_policy()
        decision = evaluate(
            plan(self.action, self.risk), loaded, self.facts, self.history, self.now
        )
        assert (decision.verdict, decision.codes) == (self.verdict, self.codes)
        assert decision.action == (self.result or self.action)
        assert decision.clamped == (decision.action != self.action)


A, D, N = Verdict.ALLOW, Verdict.DENY, Verdict.NEEDS_APPROVAL

SCOPE = [
    Case("no-action", NoAction(reason="within bounds"), A, (C.NOT_MUTATING,)),
    Case("escalate", EscalateAction(target=SYSTEM, reason="human"), A, (C.NOT_MUTATING,)),
    Case("scale-allowed", scale(6), A, (C.ALLOWED,)),
    Case("kube-system-opted-in", scale(6, ref=SYSTEM), D, (C.NAMESPACE_PROTECTED,), facts(SYSTEM)),
    Case(
        "kube-system-not-opted-in",
        scale(6, ref=SYSTEM),
        D,
        (C.NAMESPACE_PROTECTED, C.NAMESPACE_NOT_ALLOWED),
        facts(SYSTEM, labels={}),
    ),
    Case(
        "kube-system-in-allow",
        scale(6, ref=SYSTEM),
        D,
        (C.NAMESPACE_PROTECTED,),
        facts(SYSTEM, labels={}),
        {"spec__namespaces__allow": ["kube-system"]},
    ),
    Case("controller-namespace", scale(6, ref=OWN), D, (C.NAMESPACE_PROTECTED,), facts(OWN)),
    Case(
        "kube-public",
        scale(6, ref=WorkloadRef(namespace="kube-public", name="x")),
        D,
        (C.NAMESPACE_PROTECTED,),
        facts(WorkloadRef(namespace="kube-public", name="x")),
    ),
    Case(
        "custom-controller-namespace",
        scale(6),
        D,
        (C.NAMESPACE_PROTECTED,),
        policy={"spec__controllerNamespace": "shop"},
    ),
    Case(
        "deny-wins-over-labels",
        scale(6),
        D,
        (C.NAMESPACE_DENIED,),
        policy={"spec__namespaces__deny": ["shop"]},
    ),
    Case(
        "deny-wins-over-allow",
        scale(6),
        D,
        (C.NAMESPACE_DENIED,),
        policy={"spec__namespaces__deny": ["shop"], "spec__namespaces__allow": ["shop"]},
    ),
    Case("no-labels", scale(6), D, (C.NAMESPACE_NOT_ALLOWED,), facts(labels={})),
    Case(
        "wrong-label-value",
        scale(6),
        D,
        (C.NAMESPACE_NOT_ALLOWED,),
        facts(labels={"aiops.dev/remediate": "disabled"}),
    ),
    Case("no-namespace-facts", scale(6), D, (C.NAMESPACE_NOT_ALLOWED,), facts(namespace=False)),
    Case(
        "namespace-facts-of-another-namespace",
        scale(6),
        D,
        (C.NAMESPACE_NOT_ALLOWED,),
        facts(namespace=NamespaceInfo(name="blog", labels={"aiops.dev/remediate": "enabled"})),
    ),
    Case(
        "labels-must-all-match",
        scale(6),
        D,
        (C.NAMESPACE_NOT_ALLOWED,),
        policy={"spec__namespaces__allowLabels": {"aiops.dev/remediate": "enabled", "tier": "1"}},
    ),
    Case(
        "allowed-by-name",
        scale(6),
        A,
        (C.ALLOWED,),
        facts(labels={}),
        {"spec__namespaces__allow": ["shop"]},
    ),
    Case(
        "empty-allow-lists-deny-all",
        scale(6),
        D,
        (C.NAMESPACE_NOT_ALLOWED,),
        policy={"spec__namespaces__allowLabels": {}},
    ),
    Case(
        "kind-not-allowed",
        RestartAction(target=WEB),
        D,
        (C.KIND_NOT_ALLOWED,),
        policy={"spec__actions__allowed": ["scale"]},
    ),
    Case(
        "empty-allowed-denies-all",
        scale(6),
        D,
        (C.KIND_NOT_ALLOWED,),
        policy={"spec__actions__allowed": []},
    ),
]

TARGET = [
    Case("target-missing", scale(6), D, (C.TARGET_UNKNOWN,), facts(missing=True)),
    Case("facts-about-other-target", scale(6), D, (C.TARGET_UNKNOWN,), facts(OTHER)),
    Case(
        "facts-without-target",
        RestartAction(target=WEB),
        D,
        (C.TARGET_UNKNOWN,),
        facts(None, namespace=NamespaceInfo(name="shop", labels=OPT_IN)),
    ),
    Case(
        "inventory-of-other-target",
        scale(6),
        D,
        (C.TARGET_UNKNOWN,),
        facts(inv=inventory(OTHER)),
    ),
    Case(
        "scale-hpa-owned",
        scale(6, frm=2, ref=API),
        D,
        (C.SCALING_OWNED_ELSEWHERE,),
        HPA_FACTS,
    ),
    Case(
        "scale-gitops-owned",
        scale(6),
        D,
        (C.SCALING_OWNED_ELSEWHERE,),
        facts(inv=inventory(owner=ScalingOwner.GITOPS)),
    ),
    Case("scale-from-stale", scale(8, frm=3), D, (C.PLAN_STALE,)),
]

MAGNITUDE = [
    Case("up-x2-exact", scale(8), A, (C.ALLOWED,)),
    Case("up-over-x2", scale(9), A, (C.STEP_UP_CLAMPED, C.ALLOWED), result=scale(8)),
    Case(
        "up-x10",
        scale(40),
        A,
        (C.STEP_UP_CLAMPED, C.ALLOWED),
        result=scale(8),
    ),
    Case(
        "above-ceiling",
        scale(100),
        A,
        (C.REPLICAS_CLAMPED_CEILING, C.STEP_UP_CLAMPED, C.ALLOWED),
        result=scale(8),
    ),
    Case(
        "ceiling-binds-before-step",
        scale(7),
        A,
        (C.REPLICAS_CLAMPED_CEILING, C.ALLOWED),
        policy={"spec__replicas__ceiling": 5},
        result=scale(5),
    ),
    Case("down-half-exact", scale(2), A, (C.ALLOWED,)),
    Case("down-over-half", scale(1), A, (C.STEP_DOWN_CLAMPED, C.ALLOWED), result=scale(2)),
    Case(
        "to-zero",
        scale(0),
        A,
        (C.SCALE_TO_ZERO, C.STEP_DOWN_CLAMPED, C.ALLOWED),
        result=scale(2),
    ),
    Case(
        "to-zero-from-one",
        scale(0, frm=1),
        D,
        (C.SCALE_TO_ZERO, C.NO_CHANGE),
        facts(inv=inventory(replicas=1)),
        result=scale(1, frm=1),
    ),
    Case(
        "below-floor",
        scale(2),
        A,
        (C.REPLICAS_CLAMPED_FLOOR, C.ALLOWED),
        policy={"spec__replicas__floor": 3},
        result=scale(3),
    ),
    Case("no-change", scale(4), D, (C.NO_CHANGE,)),
    Case(
        "one-replica-cannot-step-down",
        scale(0, frm=1),
        D,
        (C.SCALE_TO_ZERO, C.NO_CHANGE),
        facts(inv=inventory(replicas=1)),
        result=scale(1, frm=1),
    ),
]

HPA = [
    Case("hpa-raise-max", hpa(2, 15), A, (C.ALLOWED,), HPA_FACTS),
    Case(
        "hpa-max-step-up",
        hpa(2, 30),
        A,
        (C.STEP_UP_CLAMPED, C.ALLOWED),
        HPA_FACTS,
        result=hpa(2, 20),
    ),
    Case(
        "hpa-max-above-ceiling",
        hpa(2, 100),
        A,
        (C.REPLICAS_CLAMPED_CEILING, C.STEP_UP_CLAMPED, C.ALLOWED),
        HPA_FACTS,
        result=hpa(2, 20),
    ),
    Case(
        "hpa-min-step-up",
        hpa(8, 20),
        A,
        (C.STEP_UP_CLAMPED, C.ALLOWED),
        HPA_FACTS,
        result=hpa(4, 20),
    ),
    Case(
        "hpa-lower-max-half",
        hpa(1, 3),
        A,
        (C.STEP_DOWN_CLAMPED, C.ALLOWED),
        HPA_FACTS,
        result=hpa(1, 5),
    ),
    Case("hpa-no-change", hpa(2, 10), D, (C.NO_CHANGE,), HPA_FACTS),
    Case(
        "hpa-clamped-to-no-change",
        hpa(1, 10),
        D,
        (C.REPLICAS_CLAMPED_FLOOR, C.NO_CHANGE),
        HPA_FACTS,
        {"spec__replicas__floor": 2},
        result=hpa(2, 10),
    ),
    Case("hpa-missing", hpa(2, 15), D, (C.HPA_MISMATCH,), facts(API)),
    Case("hpa-other-name", hpa(2, 15, name="api-v2"), D, (C.HPA_MISMATCH,), HPA_FACTS),
    Case("hpa-from-min-stale", hpa(2, 15, frm=(3, 10)), D, (C.HPA_MISMATCH,), HPA_FACTS),
    Case("hpa-from-max-stale", hpa(2, 15, frm=(2, 12)), D, (C.HPA_MISMATCH,), HPA_FACTS),
]

ROLLBACK = [
    Case("rollback-one", rollback(5), N, (C.APPROVAL_REQUIRED_KIND,)),
    Case("rollback-depth-limit", rollback(3), N, (C.APPROVAL_REQUIRED_KIND,)),
    Case("rollback-too-deep", rollback(2), D, (C.ROLLBACK_TOO_DEEP,)),
    Case(
        "rollback-unknown",
        rollback(1),
        D,
        (C.ROLLBACK_TARGET_UNKNOWN,),
        facts(inv=inventory(revisions=(3, 4, 5, 6))),
    ),
    Case(
        "rollback-depth-counts-history-entries",
        rollback(10, frm=40),
        N,
        (C.APPROVAL_REQUIRED_KIND,),
        facts(inv=inventory(revisions=(10, 20, 30, 40))),
    ),
    Case("rollback-from-stale", rollback(4, frm=5), D, (C.PLAN_STALE,)),
    Case(
        "rollback-without-history",
        rollback(4, frm=5),
        D,
        (C.ROLLBACK_TARGET_UNKNOWN,),
        facts(inv=inventory(revisions=())),
    ),
]

INPUTS = [
    Case("blind", scale(6), D, (C.INPUTS_BLIND,), facts(blind=True)),
    Case("no-data", scale(6), D, (C.INPUTS_STALE,), facts(ages={"error_ratio": None})),
    Case("age-over-max", scale(6), D, (C.INPUTS_STALE,), facts(ages={"error_ratio": 60.5})),
    Case("age-at-max", scale(6), A, (C.ALLOWED,), facts(ages={"error_ratio": 60.0})),
    Case("age-nan", scale(6), D, (C.INPUTS_STALE,), facts(ages={"error_ratio": float("nan")})),
    Case("age-negative", scale(6), D, (C.INPUTS_STALE,), facts(ages={"error_ratio": -5.0})),
    Case(
        "blind-and-stale",
        scale(6),
        D,
        (C.INPUTS_BLIND, C.INPUTS_STALE),
        facts(blind=True, ages={"a": None, "b": 900.0}),
    ),
]

MIN = timedelta(minutes=1)
VELOCITY = [
    Case(
        "cooldown",
        scale(6),
        D,
        (C.COOLDOWN_ACTIVE,),
        history=(past(9 * MIN + timedelta(seconds=59)),),
    ),
    Case("cooldown-ended", scale(6), A, (C.ALLOWED,), history=(past(10 * MIN),)),
    Case("cooldown-future-entry", scale(6), D, (C.COOLDOWN_ACTIVE,), history=(past(-MIN),)),
    Case("cooldown-other-target", scale(6), A, (C.ALLOWED,), history=(past(MIN, OTHER),)),
    Case(
        "cooldown-ignores-non-mutating",
        scale(6),
        A,
        (C.ALLOWED,),
        history=(past(MIN, kind=ActionKind.ESCALATE),),
    ),
    Case(
        "global-cap",
        scale(6),
        D,
        (C.GLOBAL_RATE_CAP,),
        history=tuple(
            past(n * MIN, ELSEWHERE.model_copy(update={"name": f"w{n}"})) for n in (1, 2, 3)
        ),
    ),
    Case(
        "global-cap-window-edge",
        scale(6),
        A,
        (C.ALLOWED,),
        history=tuple(
            past(n * MIN, ELSEWHERE.model_copy(update={"name": f"w{n}"})) for n in (1, 2, 10)
        ),
    ),
    Case(
        "namespace-cap",
        scale(6),
        D,
        (C.NAMESPACE_RATE_CAP,),
        history=(past(MIN, OTHER), past(2 * MIN, API)),
    ),
    Case(
        "namespace-cap-other-namespace",
        scale(6),
        A,
        (C.ALLOWED,),
        history=(past(MIN, OTHER), past(2 * MIN, ELSEWHERE)),
    ),
]

APPROVAL = [
    Case("restart-needs-approval", RestartAction(target=WEB), N, (C.APPROVAL_REQUIRED_KIND,)),
    Case(
        "pause-needs-approval",
        PauseRolloutAction(target=WEB, revision=6),
        N,
        (C.APPROVAL_REQUIRED_KIND,),
    ),
    Case("high-risk", scale(6), N, (C.APPROVAL_REQUIRED_RISK,), risk=Risk.HIGH),
    Case("rollout-denies-scale", scale(6), D, (C.ROLLOUT_IN_PROGRESS,), facts(rollout=True)),
    Case(
        "rollout-denies-restart",
        RestartAction(target=WEB),
        D,
        (C.ROLLOUT_IN_PROGRESS,),
        facts(rollout=True),
    ),
    Case(
        "rollout-abort-by-rollback-needs-a-human",
        rollback(5),
        N,
        (C.APPROVAL_REQUIRED_KIND, C.APPROVAL_REQUIRED_ROLLOUT),
        facts(rollout=True),
    ),
    Case(
        "rollout-abort-by-pause-needs-a-human",
        PauseRolloutAction(target=WEB, revision=6),
        N,
        (C.APPROVAL_REQUIRED_ROLLOUT,),
        facts(rollout=True),
        policy={"spec__approval__kinds": []},
    ),
    Case("medium-risk", scale(6), A, (C.ALLOWED,), risk=Risk.MEDIUM),
    Case(
        "kind-and-risk",
        rollback(5),
        N,
        (C.APPROVAL_REQUIRED_KIND, C.APPROVAL_REQUIRED_RISK),
        risk=Risk.HIGH,
    ),
    Case(
        "risk-gate-off",
        scale(6),
        A,
        (C.ALLOWED,),
        policy={"spec__approval__minRisk": None},
        risk=Risk.HIGH,
    ),
    Case(
        "namespace-approval",
        scale(6),
        N,
        (C.APPROVAL_REQUIRED_NAMESPACE,),
        policy={"spec__approval__namespaces": ["shop"]},
    ),
    Case(
        "clamped-then-approval",
        scale(20),
        N,
        (C.STEP_UP_CLAMPED, C.APPROVAL_REQUIRED_RISK),
        risk=Risk.HIGH,
        result=scale(8),
    ),
    Case(
        "denial-hides-approval",
        RestartAction(target=WEB),
        D,
        (C.INPUTS_BLIND,),
        facts(blind=True),
        risk=Risk.HIGH,
    ),
    Case(
        "every-reason-collected",
        scale(0, ref=SYSTEM),
        D,
        (
            C.NAMESPACE_PROTECTED,
            C.NAMESPACE_NOT_ALLOWED,
            C.SCALE_TO_ZERO,
            C.STEP_DOWN_CLAMPED,
            C.INPUTS_BLIND,
            C.COOLDOWN_ACTIVE,
            C.NAMESPACE_RATE_CAP,
            C.CHANGE_FREEZE,
        ),
        facts(SYSTEM, labels={}, blind=True),
        {
            "spec__freezeWindows": [
                {"name": "now", "from": "2026-03-04T00:00:00Z", "to": "2026-03-05T00:00:00Z"}
            ]
        },
        history=(past(MIN, SYSTEM), past(MIN, SYSTEM.model_copy(update={"name": "dns"}))),
        result=scale(2, ref=SYSTEM),
    ),
]

ALL = SCOPE + TARGET + MAGNITUDE + HPA + ROLLBACK + INPUTS + VELOCITY + APPROVAL


@pytest.mark.parametrize("case", ALL, ids=[c.id for c in ALL])
def test_rules(case: Case) -> None:
    case.run()


def test_decision_carries_plan_and_policy_identity() -> None:
    the_plan = plan(scale(9))
    decision = evaluate(the_plan, default_policy(), facts(), (), T0)
    assert decision.plan_hash == the_plan.plan_hash()
    assert (decision.policy_name, decision.policy_hash) == ("default", default_policy().hash)
    assert decision.evaluated_at == T0
    assert (decision.clamped, decision.dry_run) == (True, False)
    assert "4 -> 9" in decision.reasons[0].detail


@pytest.mark.parametrize(
    ("action", "the_facts", "verdict", "codes"),
    [
        (scale(6), facts(), A, (C.ALLOWED, C.DRY_RUN)),
        (scale(6, ref=SYSTEM), facts(SYSTEM), D, (C.NAMESPACE_PROTECTED, C.DRY_RUN)),
        (RestartAction(target=WEB), facts(), N, (C.APPROVAL_REQUIRED_KIND, C.DRY_RUN)),
        (NoAction(reason="fine"), facts(), A, (C.NOT_MUTATING, C.DRY_RUN)),
    ],
)
def test_dry_run_keeps_the_verdict_and_marks_it(
    action: Action, the_facts: TargetFacts, verdict: Verdict, codes: tuple[C, ...]
) -> None:
    shadow = load_policy(POLICIES / "examples" / "shadow.yaml")
    decision = evaluate(plan(action), shadow, the_facts, (), T0)
    assert (decision.verdict, decision.codes, decision.dry_run) == (verdict, codes, True)
    assert decision.policy_name == "shadow"


@pytest.mark.parametrize(
    "action", [scale(6), hpa(2, 12), rollback(5), RestartAction(target=WEB)], ids=str
)
def test_strict_example_needs_approval_for_every_kind(action: Action) -> None:
    strict = load_policy(POLICIES / "examples" / "strict.yaml")
    the_facts = HPA_FACTS if isinstance(action, AdjustHpaAction) else facts()
    decision = evaluate(plan(action), strict, the_facts, (), T0)
    assert decision.verdict is N
    assert C.APPROVAL_REQUIRED_KIND in decision.codes


def test_stale_detail_names_signal_and_age() -> None:
    ages = {"error_ratio": 95.0, "latency_p99": None, "cpu": 3.0}
    decision = evaluate(plan(scale(6)), default_policy(), facts(ages=ages), (), T0)
    detail = decision.reasons[0].detail
    assert "error_ratio: newest sample is 95s old" in detail
    assert "latency_p99: no data" in detail
    assert "cpu" not in detail


def test_cooldown_detail_says_when_it_ends() -> None:
    decision = evaluate(plan(scale(6)), default_policy(), facts(), (past(MIN),), T0)
    assert "ends at 2026-03-04T12:09:00+00:00" in decision.reasons[0].detail


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate(plan(scale(6)), default_policy(), facts(), (), datetime(2026, 3, 4, 12))


def test_unresolvable_timezone_fails_closed() -> None:
    """A policy built without the loader may hold an unknown zone: treated as frozen."""
    data = default_data()
    data["spec"]["freezeWindows"] = [
        {
            "name": "w",
            "weekly": {
                "days": ["wed"],
                "start": "00:00",
                "end": "00:01",
                "timezone": "Mars/Olympus",
            },
        }
    ]
    loaded = LoadedPolicy(policy=Policy.model_validate(data), hash="x", source="built")
    decision = evaluate(plan(scale(6)), loaded, facts(), (), T0)
    assert decision.codes == (C.CHANGE_FREEZE,)
    assert "unknown timezone" in decision.reasons[0].detail


def test_reason_code_groups_cover_every_code_once() -> None:
    groups = [DENIAL_CODES, CLAMP_CODES, APPROVAL_CODES, {C.ALLOWED, C.NOT_MUTATING, C.DRY_RUN}]
    assert sum(len(g) for g in groups) == len(C)
    assert set().union(*groups) == set(C)


def test_cooldown_far_in_the_future_does_not_overflow() -> None:
    late = PastAction(
        at=datetime(9999, 12, 31, 23, 59, tzinfo=UTC), target=WEB, kind=ActionKind.SCALE
    )
    decision = evaluate(plan(scale(6)), default_policy(), facts(), (late,), T0)
    assert decision.codes == (C.COOLDOWN_ACTIVE,)
    assert "the end of time" in decision.reasons[0].detail


@pytest.mark.parametrize(
    ("action", "age_s", "verdict"),
    [
        (scale(6), 60, Verdict.ALLOW),  # exactly freshnessMax old: still fresh
        (scale(6), 61, Verdict.DENY),
        (RestartAction(target=WEB), 0, Verdict.NEEDS_APPROVAL),
        (RestartAction(target=WEB), 300, Verdict.DENY),  # no human is asked about it
    ],
)
def test_plan_age_at_first_judgement(action: Action, age_s: int, verdict: Verdict) -> None:
    policy = default_policy()
    now = T0 + timedelta(seconds=age_s)
    first = evaluate(plan(action), policy, facts(), [], now)
    judged = evaluate(plan(action), policy, facts(), [], now, first_judgement=True)
    assert C.PLAN_STALE not in first.codes  # a re-check before the write never ages out
    assert judged.verdict is verdict
    if verdict is Verdict.DENY:
        assert judged.codes[-1] is C.PLAN_STALE
        assert not set(judged.codes) & (APPROVAL_CODES | {C.ALLOWED})
        assert denial_is_temporary(judged)
    else:
        assert judged == first
