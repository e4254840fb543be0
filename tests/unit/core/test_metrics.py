"""Controller metrics are counted from ledger entries, after the append succeeded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from controller.metrics import ControllerMetrics, MeteredLedger
from controller.models.ledger import EntryType, LedgerEntry
from controller.sim.fakes import InMemoryLedger
from tests.factories import T0


def planner_payload(fallback: str | None, tokens: int, attempts: int) -> dict[str, Any]:
    usage = {"input_tokens": tokens, "output_tokens": 10}
    return {"fallback": fallback, "usage": usage, "attempts": attempts, "llm_plan": None}


def test_fallbacks_tokens_and_attempts_are_counted() -> None:
    metrics = ControllerMetrics()
    ledger = MeteredLedger(InMemoryLedger(), metrics)
    ledger.append(T0, EntryType.PLANNER, planner_payload("rate_limited", 100, 3))
    ledger.append(T0, EntryType.PLANNER, planner_payload(None, 50, 1))
    assert metrics.value("aiops_llm_planner_calls_total") == 2
    assert metrics.value("aiops_llm_fallbacks_total", {"reason": "rate_limited"}) == 1
    assert metrics.value("aiops_llm_tokens_total", {"kind": "input_tokens"}) == 150
    assert metrics.value("aiops_llm_tokens_total", {"kind": "output_tokens"}) == 20
    assert metrics.value("aiops_llm_http_attempts_total") == 4


def test_decisions_are_split_by_verdict_and_revalidation() -> None:
    metrics = ControllerMetrics()
    ledger = MeteredLedger(InMemoryLedger(), metrics)
    for verdict, again in [("allow", False), ("allow", True), ("deny", False)]:
        payload = {"revalidation": again, "decision": {"verdict": verdict}}
        ledger.append(T0, EntryType.DECISION, payload)
    assert (
        metrics.value("aiops_policy_decisions_total", {"verdict": "allow", "revalidation": "true"})
        == 1
    )
    assert (
        metrics.value("aiops_policy_decisions_total", {"verdict": "allow", "revalidation": "false"})
        == 1
    )
    assert (
        metrics.value("aiops_policy_decisions_total", {"verdict": "deny", "revalidation": "false"})
        == 1
    )


class Refusing:
    """A ledger whose disk is full."""

    def append(self, *args: Any, **kwargs: Any) -> LedgerEntry:
        raise OSError("no space left on device")


def test_an_entry_that_failed_to_append_is_never_counted() -> None:
    metrics = ControllerMetrics()
    with pytest.raises(OSError):
        MeteredLedger(Refusing(), metrics).append(T0, EntryType.ESCALATION, {"reason": "x"})
    assert metrics.value("aiops_escalations_total") == 0


def test_registries_are_per_controller() -> None:
    first, second = ControllerMetrics(), ControllerMetrics()
    MeteredLedger(InMemoryLedger(), first).append(
        T0 + timedelta(seconds=1), EntryType.ESCALATION, {"reason": "x"}
    )
    assert first.value("aiops_escalations_total") == 1
    assert second.value("aiops_escalations_total") == 0
    assert b"aiops_escalations_total 1.0" in first.exposition()
