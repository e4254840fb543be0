"""The Remediation resource end to end: the chart's CRD served and enforced by the fake, the
store's lifecycle through the ledger mirror, idempotent creates, a new leader's view of the
pending approvals, and kubectl answers judged by the one validation path (``judge_reply``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from controller.errors import InputError
from controller.kube.errors import KubePermanentError
from controller.kube.remediation_body import (
    REMEDIATIONS,
    Phase,
    answer_patch,
    phase_of,
    proposal_body,
    remediation_name,
)
from controller.kube.remediations import AnswerRefused, answer_remediation
from controller.models.actions import ActionKind, idempotency_key
from controller.models.decisions import (
    ActionResult,
    ActionStatus,
    Approval,
    ApprovalOutcome,
    ReasonCode,
    Verdict,
    VerificationPhase,
    VerificationResult,
)
from controller.models.ledger import EntryType
from controller.models.signals import Signal
from controller.planner.graph.approval import judge_reply
from controller.sim.kube_api import Fault
from tests.adapters.kube.remediation_rig import (
    REMEDIATIONS_PATH,
    T0,
    RemediationRig,
    decision,
    plan,
    request,
)

MERGE = {"Content-Type": "application/merge-patch+json"}


def _post(http: httpx.Client, body: dict[str, Any]) -> httpx.Response:
    return http.post(REMEDIATIONS_PATH, json=body)


def _causes(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert (body["kind"], body["reason"]) == ("Status", "Invalid")
    return list(body["details"]["causes"])


# ----- the CRD, enforced by the fake --------------------------------------------------------


def test_a_valid_remediation_is_created_defaulted_and_pruned(rig: RemediationRig):
    body = proposal_body(plan(), "propose")
    body["spec"]["target"].pop("kind")
    body["spec"]["bogus"] = "dropped"
    body["status"] = {"phase": "succeeded"}
    with httpx.Client(base_url=rig.api.url, timeout=5) as http:
        created = _post(http, body)
    assert created.status_code == 201, created.text
    stored = rig.stored(body["metadata"]["name"])
    assert stored["spec"]["target"]["kind"] == "Deployment"  # the schema's default
    assert "bogus" not in stored["spec"]  # pruned: the schema does not name it
    assert "status" not in stored  # a create ignores status (status subresource)
    assert stored["metadata"]["generation"] == 1 and stored["metadata"]["uid"]


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"action": "delete"}, "spec.action", 'Unsupported value: "delete": supported values: '),
        ({"planHash": "not-a-hash"}, "spec.planHash", "spec.planHash in body should match"),
        ({"snapshotAt": "yesterday"}, "spec.snapshotAt", "must be of type date-time"),
        ({"target": {"name": "checkout"}}, "spec.target.namespace", "Required value"),
        ({"params": "ten"}, "spec.params", "spec.params in body must be of type object"),
        ({"summary": "x" * 4001}, "spec.summary", "Too long: may not be longer than 4000"),
        ({"reasons": [{"detail": "no code"}]}, "spec.reasons[0].code", "Required value"),
    ],
)
def test_an_invalid_remediation_is_422_with_kubernetes_causes(
    rig: RemediationRig, change: dict[str, Any], field: str, says: str
):
    body = proposal_body(plan(), "propose")
    body["spec"].update(change)
    with httpx.Client(base_url=rig.api.url, timeout=5) as http:
        answer = _post(http, body)
    causes = _causes(answer)
    assert answer.json()["message"].startswith(
        f'Remediation.aiops.dev "{body["metadata"]["name"]}" is invalid: '
    )
    assert any(c["field"] == field and says in c["message"] for c in causes), causes
    assert rig.api.get("remediations", "shop", body["metadata"]["name"]) is None


def test_main_writes_ignore_status_and_status_writes_ignore_spec(rig: RemediationRig):
    obj = rig.store.propose(plan())
    assert obj is not None
    name = obj["metadata"]["name"]
    path = f"{REMEDIATIONS_PATH}/{name}"
    with httpx.Client(base_url=rig.api.url, timeout=5) as http:
        main = {"spec": {"summary": "edited"}, "status": {"phase": "succeeded"}}
        assert http.patch(path, json=main, headers=MERGE).status_code == 200
        assert rig.stored(name)["status"]["phase"] == "proposed"
        assert rig.stored(name)["spec"]["summary"] == "edited"
        status = {"spec": {"summary": "again"}, "status": {"phase": "failed"}}
        assert http.patch(f"{path}/status", json=status, headers=MERGE).status_code == 200
        assert rig.stored(name)["spec"]["summary"] == "edited"
        assert rig.stored(name)["status"]["phase"] == "failed"
        bad = http.patch(f"{path}/status", json={"status": {"phase": "done"}}, headers=MERGE)
        assert any(c["field"] == "status.phase" for c in _causes(bad))  # status is validated


def test_the_plan_is_immutable_and_an_answer_is_final(rig: RemediationRig):
    rig.store.publish(request(plan()))
    name = rig.only()["metadata"]["name"]
    path = f"{REMEDIATIONS_PATH}/{name}"
    answer = {"decision": "approve", "reason": "looks right", "by": "alice"}
    with httpx.Client(base_url=rig.api.url, timeout=5) as http:
        moved = http.patch(path, json={"spec": {"action": "restart"}}, headers=MERGE)
        assert any("the plan is immutable" in c["message"] for c in _causes(moved))
        first = http.patch(path, json={"spec": {"answer": answer}}, headers=MERGE)
        assert first.status_code == 200, first.text
        flipped = {"spec": {"answer": {**answer, "decision": "reject"}}}
        changed = http.patch(path, json=flipped, headers=MERGE)
        assert any("an answer is final" in c["message"] for c in _causes(changed))
        removed = http.patch(path, json={"spec": {"answer": None}}, headers=MERGE)
        assert any("cannot be withdrawn" in c["message"] for c in _causes(removed))
    assert rig.stored(name)["spec"]["answer"]["decision"] == "approve"


def test_kubectl_get_reads_well(rig: RemediationRig):
    rig.store.publish(request(plan()))
    accept = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}
    with httpx.Client(base_url=rig.api.url, timeout=5) as http:
        table = http.get(REMEDIATIONS_PATH, headers=accept).json()
    assert table["kind"] == "Table"
    columns = [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0]
    assert columns == ["Name", "Target", "Action", "Phase", "Approver", "Age"]
    wide = [c["name"] for c in table["columnDefinitions"] if c["priority"] == 1]
    assert wide == ["Verdict", "Expires", "Plan", "Reason"]
    (row,) = table["rows"]
    name, target, action, phase, approver, age = row["cells"][:6]
    assert name == remediation_name(plan().action, plan().plan_hash())
    assert name.startswith("checkout-scale-") and len(name) <= 63
    assert (target, action, phase, approver) == ("checkout", "scale", "pending-approval", None)
    assert age.endswith("Z")


# ----- the store: idempotent creates and the lifecycle ----------------------------------------


def test_creating_the_same_proposal_twice_is_one_remediation(rig: RemediationRig):
    first = rig.store.propose(plan())
    second = rig.new_store().propose(plan())  # another replica, or a replayed step
    assert first is not None and second is not None
    assert first["metadata"]["uid"] == second["metadata"]["uid"]
    posts = [r for r in rig.api.mutations() if r.method == "POST"]
    assert [r.status for r in posts] == [201, 409]
    assert len(rig.store.calls.list_custom(REMEDIATIONS, "shop")) == 1
    other = rig.store.propose(plan(to_replicas=8))  # another plan hash: another Remediation
    assert other is not None and other["metadata"]["name"] != first["metadata"]["name"]


def test_a_plan_that_changes_nothing_gets_no_remediation(rig: RemediationRig):
    from controller.models.actions import EscalateAction

    escalate = plan().model_copy(update={"action": EscalateAction(reason="a human decides")})
    assert rig.store.propose(escalate) is None
    assert rig.api.mutations() == []


def _append(rig: RemediationRig, kind: EntryType, payload: Any, plan_hash: str) -> Phase | None:
    rig.ledger.append(rig.clock.now(), kind, payload, incident_id="inc-1", plan_hash=plan_hash)
    return phase_of(rig.only())


def test_the_lifecycle_follows_the_ledger(rig: RemediationRig):
    the_plan, h = plan(), plan().plan_hash()
    key = idempotency_key("inc-1", h)
    asked = request(the_plan)
    approval = Approval.to(asked, ApprovalOutcome.APPROVED, "kube:alice", T0, "go")
    needs = decision(the_plan, Verdict.NEEDS_APPROVAL, ReasonCode.APPROVAL_REQUIRED_RISK)
    allowed = decision(the_plan, Verdict.NEEDS_APPROVAL, ReasonCode.APPROVAL_REQUIRED_RISK)
    applied = ActionResult(
        plan_hash=h, idempotency_key=key, action=the_plan.action,
        status=ActionStatus.APPLIED, at=T0, detail="resourceVersion 7",
    )  # fmt: skip
    verified = VerificationResult(
        plan_hash=h, signal=Signal.LATENCY_P99, phase=VerificationPhase.IMPROVED, at=T0,
        detail="-40%",
    )  # fmt: skip
    steps: list[tuple[EntryType, Any, Phase]] = [
        (EntryType.PROPOSAL, the_plan, Phase.PROPOSED),
        (EntryType.DECISION, {"revalidation": False, "decision": needs}, Phase.PENDING_APPROVAL),
        (EntryType.APPROVAL_REQUESTED, asked, Phase.PENDING_APPROVAL),
        (EntryType.APPROVAL, approval, Phase.APPROVED),
        (EntryType.DECISION, {"revalidation": True, "decision": allowed}, Phase.APPLYING),
        (EntryType.ACTION, applied, Phase.VERIFYING),
        (EntryType.VERIFICATION, verified, Phase.SUCCEEDED),
        (EntryType.ESCALATION, {"reason": "late"}, Phase.SUCCEEDED),  # final stays final
    ]
    seen = []
    for kind, payload, _ in steps:
        raw = payload if isinstance(payload, dict) else payload.model_dump(mode="json")
        if isinstance(payload, dict) and "decision" in payload:
            raw = {**payload, "decision": payload["decision"].model_dump(mode="json")}
        seen.append(_append(rig, kind, raw, h))
    assert seen == [phase for _, _, phase in steps]
    final = rig.only()
    assert len(rig.inner.entries) == len(steps)  # the ledger got every entry first
    assert final["spec"]["verdict"] == "needs_approval"
    assert final["spec"]["verify"] == {"signal": "latency_p99", "expect": "decrease",
                                       "bakeSeconds": 300}  # fmt: skip
    assert final["status"]["approval"]["approver"] == "kube:alice"
    assert final["status"]["approval"]["channel"] == "kube"
    assert final["status"]["result"]["idempotencyKey"] == key
    conditions = {c["type"]: c["status"] for c in final["status"]["conditions"]}
    assert conditions == {"Approved": "True", "Applied": "True", "Verified": "True"}


@pytest.mark.parametrize(
    ("verdict", "phase"),
    [(Verdict.DENY, Phase.REJECTED), (Verdict.ALLOW, Phase.PROPOSED)],
)
def test_the_first_verdict_sets_the_phase(rig: RemediationRig, verdict: Verdict, phase: Phase):
    the_plan = plan()
    code = ReasonCode.COOLDOWN_ACTIVE if verdict is Verdict.DENY else ReasonCode.ALLOWED
    payload = {"revalidation": False, "decision": decision(the_plan, verdict, code)}
    h = the_plan.plan_hash()
    _append(rig, EntryType.PROPOSAL, the_plan.model_dump(mode="json"), h)
    payload["decision"] = payload["decision"].model_dump(mode="json")  # type: ignore[attr-defined]
    assert _append(rig, EntryType.DECISION, payload, h) is phase
    assert code.value in rig.only()["status"]["reason"]


def test_worse_then_revert_is_reverted(rig: RemediationRig):
    the_plan, h = plan(), plan().plan_hash()
    _append(rig, EntryType.PROPOSAL, the_plan.model_dump(mode="json"), h)
    applied = ActionResult(plan_hash=h, idempotency_key="k0", action=the_plan.action,
                           status=ActionStatus.APPLIED, at=T0)  # fmt: skip
    assert _append(rig, EntryType.ACTION, applied.model_dump(mode="json"), h) is Phase.VERIFYING
    worse = VerificationResult(plan_hash=h, signal=Signal.LATENCY_P99,
                               phase=VerificationPhase.WORSE, at=T0, detail="+80%")  # fmt: skip
    assert _append(rig, EntryType.VERIFICATION, worse.model_dump(mode="json"), h) is (
        Phase.VERIFYING
    )
    revert = applied.model_copy(update={"idempotency_key": "k1", "revert_of": h})
    assert _append(rig, EntryType.ACTION, revert.model_dump(mode="json"), h) is Phase.REVERTED
    escalation = {"reason": "made things worse", "freeze": "shop/checkout"}
    assert _append(rig, EntryType.ESCALATION, escalation, h) is Phase.REVERTED


def test_a_failed_mirror_write_never_fails_the_ledger(rig: RemediationRig):
    rig.api.inject(Fault.server_error(503, methods={"POST"}, times=5))
    the_plan = plan()
    entry = rig.ledger.append(T0, EntryType.PROPOSAL, the_plan.model_dump(mode="json"),
                              incident_id="inc-1", plan_hash=the_plan.plan_hash())  # fmt: skip
    assert entry.type is EntryType.PROPOSAL and len(rig.inner.entries) == 1
    assert rig.store.calls.list_custom(REMEDIATIONS, "shop") == []


# ----- pending approvals and the kubectl answer path --------------------------------------------


def test_a_new_leader_rebuilds_the_pending_approvals_from_the_cluster(rig: RemediationRig):
    asked = request(plan())
    rig.channel.post(asked)
    rig.store.publish(request(plan(to_replicas=8)))
    done = rig.store.find(plan(to_replicas=8).plan_hash())
    assert done is not None
    rig.store.transition(done, Phase.EXPIRED, "no answer")
    rig.new_store().publish(request(plan(to_replicas=8)))  # re-posted: a final phase stays
    leader = rig.new_store()
    pending = leader.pending()
    assert [found for _, found in pending] == [asked]  # exactly the request, snapshot included
    assert leader.expire_overdue(asked.expires_at) == 0  # at the deadline: still open
    assert leader.expire_overdue(asked.expires_at + timedelta(seconds=1)) == 1
    assert leader.pending() == [] and phase_of(rig.current(pending[0][0])) is Phase.EXPIRED


def _kubectl_answer(rig: RemediationRig, decision_: str, by: str = "alice") -> None:
    obj = rig.only()
    name, version = obj["metadata"]["name"], obj["metadata"]["resourceVersion"]
    patch = answer_patch(decision_, "checked the dashboards", by, rig.clock.now(), version)
    rig.store.calls.patch_custom(REMEDIATIONS, "shop", name, patch)


def _judged(rig: RemediationRig, asked: Any, approvers: frozenset[str] | None) -> Approval:
    assert rig.channel.poll() == 1
    answer = rig.inbox.take(asked.plan_hash, rig.clock.now())
    assert answer is not None
    return judge_reply(answer.model_dump(mode="json"), asked, rig.clock.now(), approvers)


def test_an_answer_written_with_kubectl_reaches_the_inbox_once(rig: RemediationRig):
    asked = request(plan())
    rig.channel.post(asked)
    rig.clock.set(T0 + timedelta(minutes=3))
    _kubectl_answer(rig, "approve")
    approval = _judged(rig, asked, frozenset({"kube:alice"}))
    assert approval.covers(asked)
    assert approval.approver == "kube:alice" and approval.note == "checked the dashboards"
    assert approval.decided_at == T0 + timedelta(minutes=3)  # when the controller saw it
    assert rig.channel.poll() == 0  # the same answer is delivered once


@pytest.mark.parametrize(
    ("scenario", "outcome", "note"),
    [
        ("after the deadline", ApprovalOutcome.EXPIRED, "answered after the deadline"),
        ("for another plan", ApprovalOutcome.REJECTED, "reply is for plan"),
        ("not an approver", ApprovalOutcome.REJECTED, "kube:mallory may not approve"),
        ("a rejection", ApprovalOutcome.REJECTED, "checked the dashboards"),
    ],
)
def test_kubectl_answers_are_judged_like_every_channel(
    rig: RemediationRig, scenario: str, outcome: ApprovalOutcome, note: str
):
    asked = request(plan())
    rig.channel.post(asked)
    judged_against = asked
    by, decision_ = "alice", "approve"
    if scenario == "after the deadline":
        _kubectl_answer(rig, decision_)
        rig.clock.set(asked.expires_at + timedelta(seconds=1))  # seen after the TTL
    elif scenario == "for another plan":
        _kubectl_answer(rig, decision_)
        judged_against = request(plan(to_replicas=8))  # the thread re-planned meanwhile
    elif scenario == "not an approver":
        by = "mallory"
        _kubectl_answer(rig, decision_, by)
    else:
        _kubectl_answer(rig, "reject")
    rig.channel.poll()
    answer = rig.inbox.take(asked.plan_hash, rig.clock.now())
    assert answer is not None
    approval = judge_reply(answer.model_dump(mode="json"), judged_against, rig.clock.now(),
                           frozenset({"kube:alice"}))  # fmt: skip
    assert approval.outcome is outcome and note in approval.note
    assert not approval.covers(judged_against)


def test_the_channel_never_raises_and_a_failed_poll_loses_nothing(rig: RemediationRig):
    asked = request(plan())
    rig.api.inject(Fault.server_error(500, times=10))
    rig.channel.post(asked)  # logged, not raised: the request expires (fail closed)
    assert rig.channel.poll() == 0
    rig.api.faults.clear()
    rig.channel.post(asked)
    _kubectl_answer(rig, "approve")
    rig.api.inject(Fault.reset(methods={"GET"}, times=10))
    assert rig.channel.poll() == 0
    rig.api.faults.clear()
    assert rig.channel.poll() == 1


def test_answer_remediation_writes_once_and_refuses_what_it_cannot_take(rig: RemediationRig):
    asked = request(plan())
    rig.channel.post(asked)
    name = rig.only()["metadata"]["name"]
    with pytest.raises(InputError, match="no such Remediation"):
        answer_remediation(rig.store.calls, "shop", "ghost", approve=True, reason="r",
                           by="alice", now=T0)  # fmt: skip
    late = asked.expires_at + timedelta(seconds=1)
    with pytest.raises(AnswerRefused, match="expired at"):
        answer_remediation(rig.store.calls, "shop", name, approve=True, reason="r",
                           by="alice", now=late)  # fmt: skip
    rig.api.inject(Fault.concurrent_write("remediations", "shop", name, methods={"PATCH"}, times=1))
    written = answer_remediation(rig.store.calls, "shop", name, approve=False,
                                 reason="not during the sale", by="bob", now=T0)  # fmt: skip
    assert written["spec"]["answer"]["decision"] == "reject"  # a 409 re-read, then written
    with pytest.raises(AnswerRefused, match="already answered"):
        answer_remediation(rig.store.calls, "shop", name, approve=True, reason="r",
                           by="alice", now=T0)  # fmt: skip
    rig.store.transition(rig.only(), Phase.REJECTED, "rejected")
    rig.store.publish(request(plan(to_replicas=8)))
    other = rig.store.find(plan(to_replicas=8).plan_hash())
    assert other is not None
    rig.store.transition(other, Phase.SUCCEEDED, "done")
    with pytest.raises(AnswerRefused, match="not waiting for an answer"):
        answer_remediation(rig.store.calls, "shop", other["metadata"]["name"], approve=True,
                           reason="r", by="alice", now=T0)  # fmt: skip


def test_rbac_decides_who_may_answer(rig: RemediationRig):
    rig.channel.post(request(plan()))
    name = rig.only()["metadata"]["name"]
    rig.api.forbidden.add("remediations")
    with pytest.raises(KubePermanentError) as caught:
        answer_remediation(rig.store.calls, "shop", name, approve=True, reason="r",
                           by="alice", now=T0)  # fmt: skip
    assert caught.value.status == 403


def test_names_fit_kubernetes_for_every_action_kind():
    from controller.models.actions import ACTION_ADAPTER

    long = "a" * 253
    for kind in ("scale", "restart", "pause_rollout"):
        params: dict[str, Any] = {"kind": kind, "target": {"namespace": "shop", "name": long}}
        if kind == "scale":
            params |= {"from_replicas": 1, "to_replicas": 2}
        name = remediation_name(ACTION_ADAPTER.validate_python(params), "f" * 64)
        assert len(name) <= 63 and name.endswith(f"-{kind.replace('_', '-')}-ffffffffff")
        assert ActionKind(kind)
