"""Controller metrics are counted from ledger entries, after the append succeeded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from controller.metrics import ControllerMetrics, MeteredLedger
from controller.models.decisions import ActionStatus, Verdict
from controller.models.ledger import EntryType, LedgerEntry, LedgerPayloadError
from controller.models.proposals import FallbackReason
from controller.sim.fakes import InMemoryLedger
from tests.factories import T0
from tests.unit.ledger.ledger_helpers import action_result, decision, payloads, planner_payload


def test_fallbacks_tokens_and_attempts_are_counted() -> None:
    metrics = ControllerMetrics()
    ledger = MeteredLedger(InMemoryLedger(), metrics)
    ledger.append(T0, EntryType.PLANNER, planner_payload(FallbackReason.RATE_LIMITED, 100, 3))
    ledger.append(T0, EntryType.PLANNER, planner_payload(None, 50, 1))
    assert metrics.value("aiops_llm_planner_calls_total") == 2
    assert metrics.value("aiops_llm_fallbacks_total", {"reason": "rate_limited"}) == 1
    assert metrics.value("aiops_llm_tokens_total", {"kind": "input_tokens"}) == 150
    assert metrics.value("aiops_llm_tokens_total", {"kind": "output_tokens"}) == 20
    assert metrics.value("aiops_llm_tokens_total", {"kind": "cache_read_input_tokens"}) == 0
    assert metrics.value("aiops_llm_http_attempts_total") == 4


def test_decisions_are_split_by_verdict_and_revalidation() -> None:
    metrics = ControllerMetrics()
    ledger = MeteredLedger(InMemoryLedger(), metrics)
    for verdict, again in [(Verdict.ALLOW, False), (Verdict.ALLOW, True), (Verdict.DENY, False)]:
        payload = {"revalidation": again, "decision": decision(verdict).model_dump(mode="json")}
        ledger.append(T0, EntryType.DECISION, payload)

    def count(verdict: str, revalidation: str) -> float:
        labels = {"verdict": verdict, "revalidation": revalidation}
        return metrics.value("aiops_policy_decisions_total", labels)

    assert (count("allow", "true"), count("allow", "false"), count("deny", "false")) == (1, 1, 1)
    assert count("deny", "true") == 0


def test_every_stage_is_counted_from_its_typed_payload() -> None:
    metrics = ControllerMetrics()
    ledger = MeteredLedger(InMemoryLedger(), metrics)
    for kind, shapes in payloads().items():
        for payload in shapes:
            ledger.append(T0, kind, payload)
    failed = action_result(ActionStatus.FAILED).model_dump(mode="json")
    ledger.append(T0, EntryType.ACTION, failed)
    assert metrics.value("aiops_incidents_total", {"change": "opened"}) == 1
    assert metrics.value("aiops_incidents_total", {"change": "updated"}) == 1
    assert metrics.value("aiops_plans_total", {"planner": "runbook"}) == 1
    assert metrics.value("aiops_approvals_total", {"outcome": "approved"}) == 1
    assert metrics.value("aiops_actions_total", {"kind": "scale", "status": "applied"}) == 1
    assert metrics.value("aiops_actions_total", {"kind": "scale", "status": "failed"}) == 1
    assert metrics.value("aiops_verifications_total", {"phase": "improved"}) == 1
    assert metrics.value("aiops_escalations_total") == len(payloads()[EntryType.ESCALATION])
    assert metrics.value("aiops_mode_changes_total", {"mode": "degraded"}) == 1


class Refusing:
    """A ledger whose disk is full."""

    def append(self, *args: Any, **kwargs: Any) -> LedgerEntry:
        raise OSError("no space left on device")


def test_an_entry_that_failed_to_append_is_never_counted() -> None:
    metrics = ControllerMetrics()
    with pytest.raises(OSError):
        MeteredLedger(Refusing(), metrics).append(T0, EntryType.ESCALATION, {"reason": "x"})
    assert metrics.value("aiops_escalations_total") == 0


def test_an_entry_that_does_not_fit_its_model_is_never_counted() -> None:
    metrics = ControllerMetrics()
    with pytest.raises(LedgerPayloadError):
        MeteredLedger(InMemoryLedger(), metrics).append(T0, EntryType.ESCALATION, {"why": "x"})
    assert metrics.value("aiops_escalations_total") == 0


def test_registries_are_per_controller() -> None:
    first, second = ControllerMetrics(), ControllerMetrics()
    MeteredLedger(InMemoryLedger(), first).append(
        T0 + timedelta(seconds=1), EntryType.ESCALATION, {"reason": "x"}
    )
    assert first.value("aiops_escalations_total") == 1
    assert second.value("aiops_escalations_total") == 0
    assert b"aiops_escalations_total 1.0" in first.exposition()
