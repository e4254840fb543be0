"""The controller's own Prometheus metrics, counted from the ledger entries it writes.

``MeteredLedger`` wraps any ``LedgerSink``: every entry is appended first, then counted, so
the metrics and the ledger can never disagree (a fallback, a denial or an action that is in
one is in the other). Each controller owns its ``CollectorRegistry`` (no process-global
state; tests and replays stay independent). The only module importing ``prometheus_client``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, generate_latest

from controller.models.ledger import EntryType, LedgerEntry
from controller.ports import LedgerSink

TOKEN_KINDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


class ControllerMetrics:
    """Counters for every loop stage, registered in one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.incidents = Counter(
            "aiops_incidents", "Incidents opened or re-diagnosed.", ["change"], registry=r
        )
        self.plans = Counter(
            "aiops_plans", "Plans chosen for guarding, by planner.", ["planner"], registry=r
        )
        self.llm_calls = Counter(
            "aiops_llm_planner_calls", "Incidents the LLM planner was asked about.", registry=r
        )
        self.llm_fallbacks = Counter(
            "aiops_llm_fallbacks",
            "LLM planner answers replaced by the runbook plan, by reason.",
            ["reason"],
            registry=r,
        )
        self.llm_tokens = Counter(
            "aiops_llm_tokens", "Tokens the LLM API reported, by kind.", ["kind"], registry=r
        )
        self.llm_attempts = Counter(
            "aiops_llm_http_attempts", "HTTP attempts to the LLM API (retries included).",
            registry=r,
        )  # fmt: skip
        self.decisions = Counter(
            "aiops_policy_decisions",
            "Guardrail verdicts; revalidation=true is the re-check before a write.",
            ["verdict", "revalidation"],
            registry=r,
        )
        self.approvals = Counter(
            "aiops_approvals", "Approval answers, by outcome.", ["outcome"], registry=r
        )
        self.actions = Counter(
            "aiops_actions", "Actuator results, by action kind and status.", ["kind", "status"],
            registry=r,
        )  # fmt: skip
        self.verifications = Counter(
            "aiops_verifications", "Verification verdicts, by phase.", ["phase"], registry=r
        )
        self.escalations = Counter("aiops_escalations", "Incidents handed to a human.", registry=r)
        self.modes = Counter(
            "aiops_mode_changes", "Operating mode entered, by mode.", ["mode"], registry=r
        )
        self._counters: dict[EntryType, Callable[[dict[str, Any]], None]] = {
            EntryType.DETECTION: self._detection,
            EntryType.PROPOSAL: lambda p: self.plans.labels(str(p["planner"])).inc(),
            EntryType.PLANNER: self._planner,
            EntryType.DECISION: self._decision,
            EntryType.APPROVAL: lambda p: self.approvals.labels(str(p["outcome"])).inc(),
            EntryType.ACTION: self._action,
            EntryType.VERIFICATION: lambda p: self.verifications.labels(str(p["phase"])).inc(),
            EntryType.ESCALATION: lambda _p: self.escalations.inc(),
            EntryType.MODE: lambda p: self.modes.labels(str(p["mode"])).inc(),
        }

    def count(self, entry: LedgerEntry) -> None:
        """Count one ledger entry (entry types without a counter are ignored)."""
        counter = self._counters.get(entry.type)
        if counter is not None:
            counter(entry.payload)

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """A sample's current value (0 when never counted): for reports and tests."""
        found = self.registry.get_sample_value(name, labels or {})
        return 0.0 if found is None else found

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format (what ``/metrics`` serves)."""
        return generate_latest(self.registry)

    def _detection(self, payload: dict[str, Any]) -> None:
        self.incidents.labels("updated" if payload["updated"] else "opened").inc()

    def _planner(self, payload: dict[str, Any]) -> None:
        self.llm_calls.inc()
        if payload.get("fallback"):
            self.llm_fallbacks.labels(str(payload["fallback"])).inc()
        usage = payload.get("usage") or {}
        for kind in TOKEN_KINDS:
            self.llm_tokens.labels(kind).inc(int(usage.get(kind, 0)))
        self.llm_attempts.inc(int(payload.get("attempts", 0)))

    def _decision(self, payload: dict[str, Any]) -> None:
        verdict = str(payload["decision"]["verdict"])
        self.decisions.labels(verdict, str(bool(payload["revalidation"])).lower()).inc()

    def _action(self, payload: dict[str, Any]) -> None:
        self.actions.labels(str(payload["action"]["kind"]), str(payload["status"])).inc()


class MeteredLedger:
    """A ``LedgerSink`` that appends to ``inner``, then counts the entry in ``metrics``."""

    def __init__(self, inner: LedgerSink, metrics: ControllerMetrics) -> None:
        self._inner = inner
        self.metrics = metrics

    def append(
        self,
        time: datetime,
        entry_type: EntryType,
        payload: dict[str, Any],
        *,
        incident_id: str | None = None,
        plan_hash: str | None = None,
    ) -> LedgerEntry:
        """Append, then count (an entry that failed to append is never counted)."""
        entry = self._inner.append(
            time, entry_type, payload, incident_id=incident_id, plan_hash=plan_hash
        )
        self.metrics.count(entry)
        return entry
