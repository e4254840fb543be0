"""Runbook planner properties: never raises, only targets the incident, respects bounds."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.models.actions import (
    AdjustHpaAction,
    EscalateAction,
    PauseRolloutAction,
    RollbackAction,
    ScaleAction,
    is_mutating,
)
from controller.models.events import ClusterEvent, EventKind
from controller.models.incident import (
    FaultKind,
    Finding,
    FindingKind,
    Incident,
    Severity,
)
from controller.models.signals import Signal
from controller.models.workloads import (
    HpaSpec,
    ReplicaStatus,
    ScalingOwner,
    WorkloadInventory,
)
from controller.planner.runbook.catalog import Runbook
from controller.planner.runbook.planner import plan_incident
from tests.unit.planner.runbook_builders import (
    BAD_DEPLOY,
    CPU,
    IDLE,
    NOW,
    OTHER,
    REF,
    T0,
    deploy,
    incident,
    inventory,
    revisions,
)

# --- property: never raises, never targets anything but the incident's workload -------------

refs = st.sampled_from([REF, REF, REF, OTHER])  # mostly consistent, so actions get rendered
numbers = st.floats(allow_nan=True, allow_infinity=True) | st.none()


ROLLBACK_FAULTS = (FaultKind.BAD_DEPLOY, FaultKind.CRASH_LOOP)
REQUIRED_FINDING = {
    FaultKind.SATURATION: FindingKind.CPU_SATURATION,
    FaultKind.OVER_PROVISIONING: FindingKind.OVER_PROVISIONED,
}


@st.composite
def inventories(draw: st.DrawFn) -> WorkloadInventory:
    history = sorted(draw(st.sets(st.integers(1, 12), max_size=5)))
    owner = draw(st.sampled_from([*ScalingOwner, ScalingOwner.NONE, ScalingOwner.HPA]))
    hpa = None
    if owner is ScalingOwner.HPA and draw(st.sampled_from([True, True, False])):
        low = draw(st.integers(1, 20))
        hpa = HpaSpec(name="checkout", min_replicas=low, max_replicas=draw(st.integers(low, 40)))
    desired = draw(st.integers(0, 60))
    return WorkloadInventory(
        ref=draw(refs),
        replicas=ReplicaStatus(desired=desired, ready=0, available=0, updated=0),
        hpa=hpa,
        scaling_owner=owner,
        revisions=revisions(*history),
        current_revision=draw(st.none() | st.sampled_from(history)) if history else None,
    )


@st.composite
def incidents(draw: st.DrawFn) -> Incident:
    fault = draw(st.sampled_from([*FaultKind, *REQUIRED_FINDING, *ROLLBACK_FAULTS]))
    kinds = draw(st.lists(st.sampled_from(FindingKind), min_size=1, max_size=4))
    if draw(st.booleans()):  # the finding a runbook for this fault may require
        kinds.append(REQUIRED_FINDING.get(fault, FindingKind.LATENCY))
    findings = tuple(
        Finding(
            kind=kind,
            workload=REF,
            severity=draw(st.sampled_from(Severity)),
            since=T0,
            signal=draw(st.none() | st.sampled_from(Signal)),
            value=draw(numbers),
            threshold=draw(numbers),
            window=draw(st.none() | st.timedeltas(timedelta(0), timedelta(days=1))),
            detail=draw(st.text(max_size=3000)),
        )
        for kind in kinds
    )
    change = draw(
        st.none()
        | st.builds(
            ClusterEvent,
            time=st.just(T0),
            kind=st.sampled_from([EventKind.DEPLOY, EventKind.CONFIG_CHANGE, *EventKind]),
            workload=refs,
            revision=st.none() | st.integers(1, 14),
            previous_revision=st.none() | st.integers(1, 14),
            image=st.none() | st.just("shop/checkout:x"),
        )
    )
    return incident(fault, findings, change, draw(refs))


@settings(max_examples=300, deadline=None)
@given(case=incidents(), inv=inventories())
def test_plan_incident_never_raises_and_only_targets_the_incident_workload(
    shipped_runbooks: tuple[Runbook, ...], case: Incident, inv: WorkloadInventory
) -> None:
    plan = plan_incident(case, inv, shipped_runbooks, NOW)
    assert plan.action.target == case.workload
    assert plan == plan_incident(case, inv, shipped_runbooks, NOW)
    assert plan.plan_hash() == plan_incident(case, inv, shipped_runbooks, NOW).plan_hash()
    if is_mutating(plan.action):
        assert plan.runbook_id is not None
        assert inv.ref == case.workload == case.lead.workload
        assert (plan.verification is None) == isinstance(plan.action, PauseRolloutAction)
    action = plan.action
    if isinstance(action, RollbackAction):
        assert inv.current is not None and action.from_revision == inv.current.revision
        assert inv.revision(action.to_revision) is not None
    if isinstance(action, ScaleAction):
        assert action.to_replicas >= 1 and action.to_replicas != action.from_replicas
        assert inv.scaling_owner is ScalingOwner.NONE
    if isinstance(action, AdjustHpaAction):
        assert inv.hpa is not None and action.to_min >= inv.hpa.min_replicas
        assert (action.to_min, action.to_max) != (action.from_min, action.from_max)


@settings(max_examples=200, deadline=None)
@given(
    history=st.sets(st.integers(1, 12), max_size=6),
    data=st.data(),
    revision=st.none() | st.integers(1, 14),
    previous=st.none() | st.integers(1, 14),
)
def test_rollback_goes_to_an_older_revision_of_the_history_or_escalates(
    shipped_runbooks: tuple[Runbook, ...],
    history: set[int],
    data: st.DataObject,
    revision: int | None,
    previous: int | None,
) -> None:
    numbers = tuple(sorted(history))
    current = data.draw(st.none() | st.sampled_from(numbers)) if numbers else None
    inv = inventory(history=numbers, current=current)
    case = incident(FaultKind.BAD_DEPLOY, BAD_DEPLOY, deploy(revision, previous))
    action = plan_incident(case, inv, shipped_runbooks, NOW).action
    if isinstance(action, EscalateAction):
        return
    assert isinstance(action, RollbackAction)
    assert inv.current is not None and action.from_revision == inv.current.revision
    assert action.to_revision in numbers and action.to_revision < action.from_revision
    assert action.to_image == f"shop/checkout:1.{action.to_revision}"
    if previous is not None:
        assert action.to_revision == previous
    elif revision is not None:
        assert action.to_revision == max(n for n in numbers if n < revision)


@settings(max_examples=200, deadline=None)
@given(
    fault=st.sampled_from([FaultKind.SATURATION, FaultKind.OVER_PROVISIONING]),
    desired=st.integers(0, 80),
    bounds=st.none() | st.tuples(st.integers(1, 30), st.integers(0, 30)),
)
def test_scaling_respects_floors_and_hpa_bounds(
    shipped_runbooks: tuple[Runbook, ...],
    fault: FaultKind,
    desired: int,
    bounds: tuple[int, int] | None,
) -> None:
    hpa = None if bounds is None else (bounds[0], bounds[0] + bounds[1])
    case = incident(fault, (CPU, IDLE))
    action = plan_incident(case, inventory(desired=desired, hpa=hpa), shipped_runbooks, NOW).action
    out = fault is FaultKind.SATURATION
    if isinstance(action, ScaleAction):
        assert hpa is None
        assert action.to_replicas > desired if out else 1 <= action.to_replicas < desired
    elif isinstance(action, AdjustHpaAction):
        assert hpa is not None and action.from_min == hpa[0] and action.from_max == hpa[1]
        if out:
            assert hpa[1] < action.to_max and max(desired, hpa[0]) <= action.to_min <= action.to_max
            if desired < hpa[1]:  # below max: one replica more now, not later
                assert action.to_min == max(hpa[0], desired + 1)
        else:
            assert action.to_min == hpa[0] <= action.to_max < min(desired, hpa[1])
    else:
        assert isinstance(action, EscalateAction) and not out
        assert desired <= max(1, hpa[0] if hpa else 1) or (hpa is not None and desired > hpa[1])
