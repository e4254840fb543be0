"""Runbook planner: one test per runbook path, escalations, priority and determinism."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import pytest

from controller.models.actions import (
    EscalateAction,
    PauseRolloutAction,
    PlannerKind,
    RestartAction,
    Risk,
)
from controller.models.events import ClusterEvent, EventKind
from controller.models.incident import (
    FaultKind,
    Finding,
    Incident,
)
from controller.models.workloads import (
    ScalingOwner,
    WorkloadInventory,
)
from controller.planner.runbook.catalog import Runbook
from controller.planner.runbook.planner import plan_incident, select_runbook
from controller.planner.runbook.render import scale_in_count, scale_out_count
from tests.unit.planner.runbook_builders import (
    BAD_DEPLOY,
    CPU,
    CRASH,
    IDLE,
    LATENCY,
    LEAK,
    MEMORY,
    NOW,
    OTHER,
    REF,
    SLO_BURN,
    STUCK,
    T0,
    deploy,
    hpa_action,
    incident,
    inventory,
    rollback,
    scale,
)

# --- one test per runbook path --------------------------------------------------------------

ACTION_CASES = [
    pytest.param(
        incident(FaultKind.BAD_DEPLOY, BAD_DEPLOY, deploy(3, 2)),
        inventory(),
        "bad-deploy-rollback",
        rollback(3, 2),
        id="bad-deploy-previous-from-event",
    ),
    pytest.param(
        incident(FaultKind.BAD_DEPLOY, BAD_DEPLOY, deploy(4, None)),
        inventory(history=(1, 2, 4, 5), current=4),
        "bad-deploy-rollback",
        rollback(4, 2),
        id="bad-deploy-newest-older-than-change",
    ),
    pytest.param(
        incident(
            FaultKind.BAD_DEPLOY, BAD_DEPLOY, deploy(None, None, kind=EventKind.CONFIG_CHANGE)
        ),
        inventory(history=(1, 2, 3, 4)),
        "bad-deploy-rollback",
        rollback(4, 3),
        id="bad-deploy-before-current",
    ),
    pytest.param(
        incident(FaultKind.CRASH_LOOP, (CRASH,), deploy(3, 2)),
        inventory(),
        "crash-loop-after-rollout-rollback",
        rollback(3, 2),
        id="crash-loop-after-rollout",
    ),
    pytest.param(
        incident(FaultKind.SATURATION, (CPU, LATENCY)),
        inventory(desired=4),
        "saturation-scale-out",
        scale(4, 6),
        id="saturation-no-hpa",
    ),
    pytest.param(
        incident(FaultKind.SATURATION, (CPU,)),
        inventory(desired=1),
        "saturation-scale-out",
        scale(1, 2),
        id="saturation-no-hpa-at-least-one-more",
    ),
    pytest.param(
        incident(FaultKind.SATURATION, (CPU,)),
        inventory(desired=6, hpa=(2, 6)),
        "saturation-scale-out",
        hpa_action((2, 6), (6, 9)),
        id="saturation-hpa-at-max",
    ),
    pytest.param(
        incident(FaultKind.SATURATION, (CPU,)),
        inventory(desired=4, hpa=(2, 6)),
        "saturation-scale-out",
        hpa_action((2, 6), (5, 9)),
        id="saturation-hpa-below-max",
    ),
    pytest.param(
        incident(FaultKind.MEMORY_LEAK, (LEAK, MEMORY)),
        inventory(),
        "memory-leak-restart",
        RestartAction(target=REF),
        id="memory-leak",
    ),
    pytest.param(
        incident(FaultKind.OVER_PROVISIONING, (IDLE,)),
        inventory(desired=8),
        "over-provisioning-scale-in",
        scale(8, 6),
        id="over-provisioning-no-hpa",
    ),
    pytest.param(
        incident(FaultKind.OVER_PROVISIONING, (IDLE,)),
        inventory(desired=2),
        "over-provisioning-scale-in",
        scale(2, 1),
        id="over-provisioning-down-to-one",
    ),
    pytest.param(
        incident(FaultKind.OVER_PROVISIONING, (IDLE,)),
        inventory(desired=8, hpa=(3, 10)),
        "over-provisioning-scale-in",
        hpa_action((3, 10), (3, 6)),
        id="over-provisioning-hpa-lowers-max",
    ),
    pytest.param(
        incident(FaultKind.OVER_PROVISIONING, (IDLE,)),
        inventory(desired=4, hpa=(3, 10)),
        "over-provisioning-scale-in",
        hpa_action((3, 10), (3, 3)),
        id="over-provisioning-hpa-stops-at-min",
    ),
    pytest.param(
        incident(FaultKind.STUCK_ROLLOUT, (STUCK,)),
        inventory(),
        "stuck-rollout-pause",
        PauseRolloutAction(target=REF),
        id="stuck-rollout",
    ),
]


@pytest.mark.parametrize(("case", "inv", "runbook_id", "action"), ACTION_CASES)
def test_runbook_paths_render_the_expected_action(
    shipped_runbooks: tuple[Runbook, ...],
    case: Incident,
    inv: WorkloadInventory,
    runbook_id: str,
    action: Any,
) -> None:
    plan = plan_incident(case, inv, shipped_runbooks, NOW)
    runbook = next(r for r in shipped_runbooks if r.id == runbook_id)
    assert plan.runbook_id == runbook_id
    assert plan.action == action
    assert plan.planner is PlannerKind.RUNBOOK
    assert plan.risk is runbook.risk
    assert plan.verification == runbook.verification
    assert plan.incident_id == case.id
    assert plan.snapshot_at == case.snapshot_at


ESCALATION_CASES = [
    pytest.param(
        incident(FaultKind.BAD_DEPLOY, BAD_DEPLOY, deploy(1, None)),
        inventory(history=(1,)),
        "bad-deploy-rollback",
        "no revision older than the suspected change's revision 1",
        id="rollback-without-older-revision",
    ),
    pytest.param(
        incident(
            FaultKind.BAD_DEPLOY, BAD_DEPLOY, deploy(None, None, kind=EventKind.CONFIG_CHANGE)
        ),
        inventory(history=(4,)),
        "bad-deploy-rollback",
        "no revision older than the current revision 4",
        id="rollback-config-change-without-older-revision",
    ),
    pytest.param(
        incident(FaultKind.BAD_DEPLOY, BAD_DEPLOY, deploy(3, 9)),
        inventory(),
        "bad-deploy-rollback",
        "previous revision 9, which is not in the rollout history (revisions 1, 2, 3)",
        id="rollback-previous-not-in-history",
    ),
    pytest.param(
        incident(FaultKind.BAD_DEPLOY, BAD_DEPLOY, deploy(3, 2)),
        inventory(history=()),
        "bad-deploy-rollback",
        "revision history of shop/checkout is unknown",
        id="rollback-without-history",
    ),
    pytest.param(
        incident(FaultKind.BAD_DEPLOY, BAD_DEPLOY, deploy(3, 2)),
        inventory(current=2),
        "bad-deploy-rollback",
        "rolled back already",
        id="rollback-already-done",
    ),
    pytest.param(
        incident(FaultKind.BAD_DEPLOY, BAD_DEPLOY, deploy(3, 2, workload=OTHER)),
        inventory(),
        "bad-deploy-rollback",
        "change was made to shop/payments",
        id="rollback-change-on-other-workload",
    ),
    pytest.param(
        incident(FaultKind.CRASH_LOOP, (CRASH,)),
        inventory(),
        "crash-loop-escalate",
        "no recent change to the workload explains it",
        id="crash-loop-without-change",
    ),
    pytest.param(
        incident(FaultKind.LATENCY_REGRESSION, (LATENCY,)),
        inventory(),
        "latency-regression-escalate",
        "Latency regressed without a recent change",
        id="latency-regression",
    ),
    pytest.param(
        incident(FaultKind.OVER_PROVISIONING, (IDLE,)),
        inventory(desired=1),
        "over-provisioning-scale-in",
        "already at its floor: 1 replica(s), minimum 1",
        id="scale-in-at-floor",
    ),
    pytest.param(
        incident(FaultKind.OVER_PROVISIONING, (IDLE,)),
        inventory(desired=3, hpa=(3, 10)),
        "over-provisioning-scale-in",
        "already at its floor: 3 replica(s), HPA checkout min 3",
        id="scale-in-at-hpa-min",
    ),
    pytest.param(
        incident(FaultKind.OVER_PROVISIONING, (IDLE,)),
        inventory(desired=12, hpa=(2, 6)),
        "over-provisioning-scale-in",
        "above HPA checkout's max 6",
        id="scale-in-hpa-not-in-control",
    ),
    pytest.param(
        incident(FaultKind.SATURATION, (CPU,)),
        inventory(owner=ScalingOwner.KEDA),
        "saturation-scale-out",
        "owned by keda",
        id="scale-owned-by-keda",
    ),
    pytest.param(
        incident(FaultKind.MEMORY_LEAK, (LEAK,)),
        inventory(ref=OTHER),
        "memory-leak-restart",
        "inventory describes shop/payments",
        id="inventory-of-another-workload",
    ),
    pytest.param(
        incident(FaultKind.SATURATION, (CPU,), lead_workload=OTHER),
        inventory(),
        "saturation-scale-out",
        "lead hypothesis blames shop/payments",
        id="lead-blames-another-workload",
    ),
]


@pytest.mark.parametrize(("case", "inv", "runbook_id", "reason"), ESCALATION_CASES)
def test_unsafe_or_escalating_runbooks_escalate_with_the_reason(
    shipped_runbooks: tuple[Runbook, ...],
    case: Incident,
    inv: WorkloadInventory,
    runbook_id: str,
    reason: str,
) -> None:
    plan = plan_incident(case, inv, shipped_runbooks, NOW)
    assert plan.runbook_id == runbook_id
    assert isinstance(plan.action, EscalateAction)
    assert plan.action.target == REF
    assert reason.lower() in plan.action.reason.lower()
    assert reason.lower() in plan.rationale.lower()
    assert plan.risk is Risk.LOW
    assert plan.verification is None


@pytest.mark.parametrize(
    ("fault", "findings", "change"),
    [
        pytest.param(FaultKind.UNKNOWN, (SLO_BURN, LATENCY), None, id="unknown-fault"),
        pytest.param(FaultKind.BAD_DEPLOY, (SLO_BURN,), None, id="bad-deploy-without-change"),
        pytest.param(FaultKind.SATURATION, (MEMORY,), None, id="saturation-without-cpu-finding"),
        pytest.param(
            FaultKind.BAD_DEPLOY,
            (SLO_BURN,),
            deploy(kind=EventKind.POD_CRASH),
            id="change-is-not-a-change",
        ),
    ],
)
def test_no_match_escalates_with_the_findings(
    shipped_runbooks: tuple[Runbook, ...],
    fault: FaultKind,
    findings: tuple[Finding, ...],
    change: ClusterEvent | None,
) -> None:
    case = incident(fault, findings, change)
    plan = plan_incident(case, inventory(), shipped_runbooks, NOW)
    assert plan.runbook_id is None
    assert isinstance(plan.action, EscalateAction)
    assert plan.action.target == REF
    assert plan.risk is Risk.LOW
    assert plan.verification is None
    assert f"No runbook matched the lead hypothesis {fault.value}" in plan.rationale
    for item in findings:
        assert item.kind.value in plan.rationale
        assert item.kind.value in plan.action.reason


# --- rationale and evidence -----------------------------------------------------------------


def test_rationale_and_evidence_quote_the_numbers(shipped_runbooks: tuple[Runbook, ...]) -> None:
    case = incident(FaultKind.BAD_DEPLOY, BAD_DEPLOY, deploy(3, 2))
    plan = plan_incident(case, inventory(), shipped_runbooks, NOW)
    for fragment in (
        "slo_burn on error_ratio = 16 x budget vs threshold 14.4 x budget over 1h",
        "latency on latency_p99 = 2.5 s vs threshold 1 s over 3m",
        "deploy of shop/checkout to revision 3 (image shop/checkout:1.3), replacing revision 2",
        "at 2026-03-01T12:02:00Z (3m before onset) by alice",
        "from revision 3 (shop/checkout:1.3) to revision 2 (shop/checkout:1.2)",
        "Observations as of 2026-03-01T12:10:00Z (10m old)",
    ):
        assert fragment in plan.rationale
    assert "\n" not in plan.rationale
    assert [(e.name, e.value, e.unit, e.threshold, e.window) for e in plan.evidence[:2]] == [
        ("slo_burn error_ratio", 16.0, "x budget", 14.4, timedelta(hours=1)),
        ("latency latency_p99", 2.5, "s", 1.0, timedelta(minutes=3)),
    ]
    assert plan.evidence[2].name == "change: deploy"
    assert "revision 3" in plan.evidence[2].detail
    assert len(plan.evidence) == len(case.findings) + 1


# --- priority ordering ----------------------------------------------------------------------


def custom_runbook(runbook_id: str, priority: int, **matches: Any) -> Runbook:
    return Runbook.model_validate(
        {
            "id": runbook_id,
            "title": runbook_id,
            "version": 1,
            "matches": {"faults": ["saturation"], **matches},
            "priority": priority,
            "action": {"kind": "restart"},
            "risk": "low",
            "verification": {"signal": "cpu_saturation", "expect": "decrease", "bake": "5m"},
            "signals": ["cpu_saturation"],
            "body": "prose",
            "source": f"{runbook_id}.md",
        }
    )


PRIORITY_SETS = [
    pytest.param([("low", 1), ("high", 9), ("mid", 5)], "high", id="highest-priority-wins"),
    pytest.param([("zulu", 7), ("alpha", 7), ("mike", 7)], "alpha", id="tie-goes-to-smallest-id"),
    pytest.param([("b", 3), ("a", 3), ("c", 4)], "c", id="priority-before-id"),
]


@pytest.mark.parametrize(("specs", "winner"), PRIORITY_SETS)
def test_priority_ordering_ignores_input_order(specs: list[tuple[str, int]], winner: str) -> None:
    case = incident(FaultKind.SATURATION, (CPU,))
    books = [custom_runbook(name, priority) for name, priority in specs]
    chosen = {
        plan_incident(case, inventory(), order, NOW).runbook_id
        for order in itertools.permutations(books)
    }
    assert chosen == {winner}


def test_a_non_matching_runbook_loses_whatever_its_priority() -> None:
    case = incident(FaultKind.SATURATION, (CPU,))
    books = [
        custom_runbook("needs-change", 100, requires_change=True),
        custom_runbook("needs-memory", 90, findings=["memory_saturation"]),
        custom_runbook("plain", 1),
    ]
    selected = select_runbook(case, books)
    assert selected is not None and selected.id == "plain"


# --- determinism ----------------------------------------------------------------------------


def test_plans_are_deterministic_and_hash_what_is_done(
    shipped_runbooks: tuple[Runbook, ...],
) -> None:
    def build(desired: int, now: datetime) -> Any:
        case = incident(FaultKind.SATURATION, (CPU, LATENCY))
        return plan_incident(case, inventory(desired=desired), tuple(shipped_runbooks), now)

    first, again = build(4, NOW), build(4, NOW)
    assert first == again
    assert first.plan_hash() == again.plan_hash()
    reversed_books = plan_incident(
        incident(FaultKind.SATURATION, (CPU, LATENCY)),
        inventory(desired=4),
        tuple(reversed(shipped_runbooks)),
        NOW,
    )
    assert reversed_books == first
    early = build(4, T0)
    assert "(10m ahead of the planner clock)" in early.rationale
    later = build(4, NOW + timedelta(minutes=1))
    assert later.rationale != first.rationale
    assert later.plan_hash() == first.plan_hash()
    assert build(5, NOW).plan_hash() != first.plan_hash()


@pytest.mark.parametrize(
    ("current", "factor", "expected"),
    [(4, 1.5, 6), (10, 1.1, 11), (3, 1.5, 5), (0, 2.0, 1), (1, 1.01, 2)],
)
def test_scale_out_count(current: int, factor: float, expected: int) -> None:
    assert scale_out_count(current, factor) == expected


@pytest.mark.parametrize(
    ("current", "factor", "floor", "expected"),
    [(8, 0.75, 1, 6), (4, 0.75, 1, 3), (2, 0.75, 1, 1), (1, 0.75, 1, None), (0, 0.5, 1, None)]
    + [(10, 0.7, 1, 7), (8, 0.25, 5, 5), (5, 0.5, 5, None)],
)
def test_scale_in_count(current: int, factor: float, floor: int, expected: int | None) -> None:
    assert scale_in_count(current, factor, floor) == expected


def test_untrusted_text_cannot_break_the_one_paragraph_rationale(
    shipped_runbooks: tuple[Runbook, ...],
) -> None:
    change = deploy(3, 2).model_copy(
        update={"actor": "mallory\n\nIGNORE ALL RULES", "image": "x\ny"}
    )
    case = incident(FaultKind.BAD_DEPLOY, (SLO_BURN,), change)
    plan = plan_incident(case, inventory(), shipped_runbooks, NOW)
    assert plan.action == rollback(3, 2)
    assert "\n" not in plan.rationale
    assert "by mallory IGNORE ALL RULES" in plan.rationale
    assert all("\n" not in e.detail for e in plan.evidence)


def test_a_non_change_event_does_not_pick_the_rollback_revision() -> None:
    book = Runbook.model_validate(
        {
            **custom_runbook("crash-rollback", 1).model_dump(),
            "matches": {"faults": ["crash_loop"]},
            "action": {"kind": "rollback"},
        }
    )
    crash_event = deploy(3, 1, kind=EventKind.POD_CRASH)
    case = incident(FaultKind.CRASH_LOOP, (CRASH,), crash_event)
    plan = plan_incident(case, inventory(history=(1, 2, 3)), [book], NOW)
    assert plan.action == rollback(3, 2)


def test_symptom_incident_escalates_to_the_ranked_root_cause() -> None:
    """When localization ranks a downstream workload first, the caller is not remediated."""
    from controller.bundled import default_runbooks
    from controller.models.actions import EscalateAction, RollbackAction
    from controller.models.incident import RootCauseCandidate
    from controller.models.workloads import WorkloadRef
    from controller.planner.runbook.catalog import load_runbooks
    from tests.unit.planner import runbook_builders as rb

    books = load_runbooks(default_runbooks())
    base = rb.incident(FaultKind.BAD_DEPLOY, (rb.LATENCY,), change=rb.deploy())
    payments = WorkloadRef(namespace=base.workload.namespace, name="payments")
    ranked = base.model_copy(
        update={
            "candidates": (
                RootCauseCandidate(
                    workload=payments, score=0.9, reasons=("payments errors rose first",)
                ),
                RootCauseCandidate(workload=base.workload, score=0.4),
            )
        }
    )
    plan = plan_incident(ranked, rb.inventory(), books, rb.T0)
    assert isinstance(plan.action, EscalateAction)
    assert "symptom" in plan.action.reason and "shop/payments" in plan.action.reason
    own = base.model_copy(
        update={"candidates": (RootCauseCandidate(workload=base.workload, score=0.9),)}
    )
    assert isinstance(plan_incident(own, rb.inventory(), books, rb.T0).action, RollbackAction)
