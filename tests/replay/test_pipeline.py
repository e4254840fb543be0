"""The pipeline closed-loop: act, verify after the bake window, revert when worse.

Replay is open loop (recorded metrics cannot react), so these tests drive the pipeline
directly with windows that do react, to prove the verify -> revert -> freeze path.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from controller.actuators.reconcile import Actuator
from controller.approvals.scripted import DenyAll, GrantAll
from controller.models.actions import PlannerKind, ScaleAction
from controller.models.decisions import ActionStatus, VerificationPhase
from controller.models.incident import (
    FaultKind,
    Finding,
    FindingKind,
    Hypothesis,
    Incident,
    Severity,
)
from controller.models.ledger import EntryType
from controller.models.signals import SeriesData, Signal, SignalWindow
from controller.models.workloads import NamespaceInfo
from controller.replay.pipeline import IncidentPipeline, TickContext
from controller.replay.recorder import Recorder
from controller.testing import InMemoryLedger, SimulatedCluster, StaticKillSwitch
from tests.factories import T0, WEB, inventory

BAKE = timedelta(minutes=5)  # the saturation runbook's bake window
OPTED_IN = NamespaceInfo(name="shop", labels={"aiops.dev/remediate": "enabled"})


def _incident() -> Incident:
    finding = Finding(
        kind=FindingKind.CPU_SATURATION,
        workload=WEB,
        severity=Severity.PAGE,
        since=T0 - timedelta(minutes=6),
        signal=Signal.CPU_SATURATION,
        value=1.2,
        threshold=0.9,
        window=timedelta(minutes=5),
    )
    lead = Hypothesis(
        fault=FaultKind.SATURATION, workload=WEB, confidence=0.7, rationale="cpu above requests"
    )
    return Incident(
        id="shop.web.1",
        workload=WEB,
        opened_at=T0,
        onset=finding.since,
        severity=Severity.PAGE,
        findings=(finding,),
        hypotheses=(lead,),
        snapshot_at=T0,
    )


def _windows(after: float, at_minutes: float) -> dict[str, dict[Signal, SignalWindow]]:
    """CPU at 1.2 until the action at T0, then ``after``; seen at T0 + at_minutes."""
    start = T0.timestamp() - 3600
    stamps = [start + 30 * i for i in range(121 + 20)]
    values = [1.2 if t <= T0.timestamp() else after for t in stamps]
    data = SeriesData.from_points(list(zip(stamps, values, strict=True)))
    memory = SeriesData.from_points([(t, 0.95) for t in stamps])
    seen = T0.timestamp() + at_minutes * 60
    return {
        WEB.key: {
            Signal.CPU_SATURATION: SignalWindow(WEB, Signal.CPU_SATURATION, "t", seen, data),
            Signal.MEMORY_SATURATION: SignalWindow(
                WEB, Signal.MEMORY_SATURATION, "t", seen, memory
            ),
        }
    }


def _pipeline(policy, runbooks, *, approvals=None, open_loop=False, proposer=None):
    cluster = SimulatedCluster([inventory(replicas=4)], [OPTED_IN])
    ledger = InMemoryLedger()
    pipeline = IncidentPipeline(
        policy=policy,
        runbooks=runbooks,
        reader=cluster,
        actuator=Actuator(reader=cluster, writer=cluster, kill_switch=StaticKillSwitch()),
        approvals=approvals or GrantAll(),
        recorder=Recorder(ledger),
        approval_ttl=timedelta(minutes=15),
        open_loop=open_loop,
        proposer=proposer,
    )
    return pipeline, cluster, ledger


def _ctx(after: float, minutes: float, incident: Incident) -> TickContext:
    return TickContext(
        now=T0 + timedelta(minutes=minutes),
        windows=_windows(after, minutes),
        blind=frozenset(),
        open_incidents={incident.id: incident},
    )


def _run(pipeline, incident: Incident, after: float) -> None:
    pipeline.on_incident(incident, _ctx(after, 0, incident))
    for minute in range(1, 7):
        pipeline.tick(_ctx(after, minute, incident))


def test_worse_after_scale_out_reverts_and_freezes(policy, runbooks) -> None:
    incident = _incident()
    pipeline, cluster, ledger = _pipeline(policy, runbooks)
    _run(pipeline, incident, after=1.5)
    scale_up, revert = (action for _, action in cluster.writes)
    assert scale_up == ScaleAction(target=WEB, from_replicas=4, to_replicas=6)
    assert revert == ScaleAction(target=WEB, from_replicas=6, to_replicas=4)
    live = cluster.get_workload(WEB)
    assert live is not None and live.inventory.replicas.desired == 4
    verification = next(e for e in ledger.entries if e.type is EntryType.VERIFICATION)
    assert verification.payload["phase"] == VerificationPhase.WORSE
    assert verification.time == T0 + BAKE
    escalation = [e for e in ledger.entries if e.type is EntryType.ESCALATION]
    assert "made things worse: reverted" in escalation[-1].payload["reason"]
    assert WEB.key in pipeline.frozen_targets
    # A new incident on the frozen target is escalated, never acted on automatically.
    again = incident.model_copy(update={"id": "shop.web.2"})
    pipeline.on_incident(again, _ctx(1.5, 10, again))
    assert len(cluster.writes) == 2


def test_improvement_keeps_the_change(policy, runbooks) -> None:
    incident = _incident()
    pipeline, cluster, ledger = _pipeline(policy, runbooks)
    _run(pipeline, incident, after=0.6)
    assert len(cluster.writes) == 1
    assert [e.payload["phase"] for e in ledger.entries if e.type is EntryType.VERIFICATION] == [
        VerificationPhase.IMPROVED
    ]
    assert not pipeline.frozen_targets


def test_not_improved_escalates_without_a_bigger_action(policy, runbooks) -> None:
    incident = _incident()
    pipeline, cluster, ledger = _pipeline(policy, runbooks)
    _run(pipeline, incident, after=1.15)
    assert len(cluster.writes) == 1  # no revert, no second, bigger scale
    reasons = [e.payload["reason"] for e in ledger.entries if e.type is EntryType.ESCALATION]
    assert reasons and "not_improved" in reasons[-1]


def test_open_loop_verification_never_reverts(policy, runbooks) -> None:
    incident = _incident()
    pipeline, cluster, ledger = _pipeline(policy, runbooks, open_loop=True)
    _run(pipeline, incident, after=1.5)
    assert len(cluster.writes) == 1
    verification = next(e for e in ledger.entries if e.type is EntryType.VERIFICATION)
    assert "open loop" in verification.payload["detail"]


@pytest.mark.parametrize("stale_minutes", [2.0, 10.0])
def test_stale_inputs_are_refused(policy, runbooks, stale_minutes: float) -> None:
    """Inputs older than freshnessMax (60 s) never lead to an action (I3)."""
    incident = _incident()
    pipeline, cluster, ledger = _pipeline(policy, runbooks)
    windows = _windows(1.2, 0)
    window = windows[WEB.key][Signal.CPU_SATURATION]
    cut = SeriesData.from_points(
        [
            (t, v)
            for t, v in zip(window.data.timestamps, window.data.values, strict=True)
            if t <= T0.timestamp() - stale_minutes * 60
        ]
    )
    stale = {
        WEB.key: {
            Signal.CPU_SATURATION: SignalWindow(
                WEB, Signal.CPU_SATURATION, "t", T0.timestamp(), cut
            )
        }
    }
    pipeline.on_incident(incident, TickContext(T0, stale, frozenset(), {incident.id: incident}))
    assert cluster.writes == []
    decision = next(e for e in ledger.entries if e.type is EntryType.DECISION)
    assert decision.payload["decision"]["verdict"] == "deny"
    assert "inputs_stale" in [r["code"] for r in decision.payload["decision"]["reasons"]]


def test_rejected_approval_changes_nothing(policy, runbooks) -> None:
    incident = _incident()
    pipeline, cluster, ledger = _pipeline(policy, runbooks, approvals=DenyAll())
    # A restart always needs approval under the default policy.
    restart_incident = incident.model_copy(
        update={
            "hypotheses": (
                Hypothesis(
                    fault=FaultKind.MEMORY_LEAK, workload=WEB, confidence=0.8, rationale="leak"
                ),
            ),
        }
    )
    pipeline.on_incident(restart_incident, _ctx(1.2, 0, restart_incident))
    assert cluster.writes == []
    approvals = [e for e in ledger.entries if e.type is EntryType.APPROVAL]
    assert approvals and approvals[0].payload["outcome"] == "rejected"
    statuses = [e.payload["status"] for e in ledger.entries if e.type is EntryType.ACTION]
    assert ActionStatus.APPLIED not in statuses


class ScriptedProposer:
    """A PlanProposer that answers from a script (the real Claude adapter is tested against
    a loopback Messages API in tests/llm)."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.requests: list[Any] = []

    def propose(self, request):
        from controller.models.proposals import ProposalOutcome

        self.requests.append(request)
        plan = self.answer(request)
        if isinstance(plan, ProposalOutcome):
            return plan
        return ProposalOutcome(plan=plan, attempts=1)


def _llm_pipeline(policy, runbooks, proposer, approvals=None):
    return _pipeline(policy, runbooks, proposer=proposer, approvals=approvals)


def test_llm_fallback_runs_the_runbook_plan_and_records_why(policy, runbooks) -> None:
    from controller.models.proposals import FallbackReason, ProposalOutcome

    incident = _incident()
    proposer = ScriptedProposer(
        lambda r: ProposalOutcome(fallback=FallbackReason.OVERLOADED, detail="529", attempts=3)
    )
    pipeline, cluster, ledger = _llm_pipeline(policy, runbooks, proposer)
    pipeline.on_incident(incident, _ctx(1.2, 0, incident))
    assert [a for _, a in cluster.writes] == [
        ScaleAction(target=WEB, from_replicas=4, to_replicas=6)
    ]
    planner = next(e for e in ledger.entries if e.type is EntryType.PLANNER)
    assert planner.payload["fallback"] == "overloaded" and planner.payload["attempts"] == 3
    assert proposer.requests[0].runbook_plan.action == cluster.writes[0][1]


def test_llm_plan_that_disagrees_needs_a_human(policy, runbooks) -> None:
    incident = _incident()

    def bigger(request):
        return request.runbook_plan.model_copy(
            update={
                "planner": PlannerKind.LLM,
                "runbook_id": None,
                "action": ScaleAction(target=WEB, from_replicas=4, to_replicas=8),
            }
        )

    pipeline, cluster, ledger = _llm_pipeline(
        policy, runbooks, ScriptedProposer(bigger), approvals=DenyAll()
    )
    pipeline.on_incident(incident, _ctx(1.2, 0, incident))
    assert cluster.writes == []  # the human said no
    decision = next(e for e in ledger.entries if e.type is EntryType.DECISION)
    assert decision.payload["decision"]["verdict"] == "needs_approval"
    codes = [r["code"] for r in decision.payload["decision"]["reasons"]]
    assert "approval_required_disagreement" in codes


def test_llm_plan_that_agrees_runs_under_policy(policy, runbooks) -> None:
    incident = _incident()
    agree = ScriptedProposer(
        lambda r: r.runbook_plan.model_copy(
            update={
                "planner": PlannerKind.LLM,
                "runbook_id": None,
                "rationale": "same, in other words",
            }
        )
    )
    pipeline, cluster, ledger = _llm_pipeline(policy, runbooks, agree)
    pipeline.on_incident(incident, _ctx(1.2, 0, incident))
    assert len(cluster.writes) == 1
    proposal = next(e for e in ledger.entries if e.type is EntryType.PROPOSAL)
    assert proposal.payload["planner"] == "llm"
