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

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from controller.models.actions import Plan
from controller.models.decisions import ActionResult, Approval, VerificationResult
from controller.models.ledger import EntryType, LedgerEntry
from controller.models.ledger_payloads import DecisionPayload, DetectionPayload, PlannerPayload
from controller.models.modes import ModeState
from controller.ports import LedgerSink

OPERATOR_MODES = ("shadow", "propose", "auto")
"""``aiops run --mode`` values; ``aiops_mode`` has one series per mode, 1 for the active one."""
TICK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Tick durations (seconds): a tick near the interval (15 s) is a problem worth seeing."""

EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The media type of ``exposition()`` (the Prometheus text format), for ``/metrics``."""
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
        self._counters: dict[EntryType, Callable[[LedgerEntry], None]] = {
            EntryType.DETECTION: self._detection,
            EntryType.PROPOSAL: self._proposal,
            EntryType.PLANNER: self._planner,
            EntryType.DECISION: self._decision,
            EntryType.APPROVAL: self._approval,
            EntryType.ACTION: self._action,
            EntryType.VERIFICATION: self._verification,
            EntryType.ESCALATION: lambda _entry: self.escalations.inc(),
            EntryType.MODE: self._mode,
        }

    def count(self, entry: LedgerEntry) -> None:
        """Count one ledger entry (entry types without a counter are ignored)."""
        counter = self._counters.get(entry.type)
        if counter is not None:
            counter(entry)

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """A sample's current value (0 when never counted): for reports and tests."""
        found = self.registry.get_sample_value(name, labels or {})
        return 0.0 if found is None else found

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format (what ``/metrics`` serves)."""
        return generate_latest(self.registry)

    def _detection(self, entry: LedgerEntry) -> None:
        updated = entry.payload_as(DetectionPayload).updated
        self.incidents.labels("updated" if updated else "opened").inc()

    def _proposal(self, entry: LedgerEntry) -> None:
        self.plans.labels(entry.payload_as(Plan).planner.value).inc()

    def _planner(self, entry: LedgerEntry) -> None:
        planner = entry.payload_as(PlannerPayload)
        self.llm_calls.inc()
        if planner.fallback is not None:
            self.llm_fallbacks.labels(planner.fallback.value).inc()
        for kind in TOKEN_KINDS:
            self.llm_tokens.labels(kind).inc(getattr(planner.usage, kind))
        self.llm_attempts.inc(planner.attempts)

    def _decision(self, entry: LedgerEntry) -> None:
        verdict = entry.payload_as(DecisionPayload)
        again = "true" if verdict.revalidation else "false"
        self.decisions.labels(verdict.decision.verdict.value, again).inc()

    def _approval(self, entry: LedgerEntry) -> None:
        self.approvals.labels(entry.payload_as(Approval).outcome.value).inc()

    def _action(self, entry: LedgerEntry) -> None:
        result = entry.payload_as(ActionResult)
        self.actions.labels(result.action.kind, result.status.value).inc()

    def _verification(self, entry: LedgerEntry) -> None:
        self.verifications.labels(entry.payload_as(VerificationResult).phase.value).inc()

    def _mode(self, entry: LedgerEntry) -> None:
        self.modes.labels(entry.payload_as(ModeState).mode.value).inc()


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


class OperatorMetrics:
    """The live operator's own gauges and counters, in the controller's registry.

    Kept apart from ``ControllerMetrics`` (which counts ledger entries, the same in replay)
    because these describe the running process: its mode, leadership, tick timing, queue,
    the staleness of each observer, outbound requests and reloads of mounted files.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        r = self.registry = registry
        self.mode = Gauge(
            "aiops_mode", "Operator mode: 1 for the active one.", ["mode"], registry=r
        )
        self.leader = Gauge("aiops_leader", "1 while this replica leads (may write).", registry=r)
        self.ready = Gauge("aiops_ready", "1 while /readyz answers 200.", registry=r)
        self.tick_duration = Histogram(
            "aiops_tick_duration_seconds", "Wall time of one loop tick.", buckets=TICK_BUCKETS,
            registry=r,
        )  # fmt: skip
        self.ticks_skipped = Counter(
            "aiops_ticks_skipped", "Ticks skipped because the previous one overran.", registry=r
        )
        self.tick_failures = Counter(
            "aiops_tick_failures", "Ticks that raised (logged; the loop goes on).", registry=r
        )
        self.last_tick = Gauge(
            "aiops_last_tick_timestamp_seconds", "Unix time the last tick ended.", registry=r
        )
        self.queue_depth = Gauge(
            "aiops_planning_queue_depth", "Planner jobs queued or running.", registry=r
        )
        self.staleness = Gauge(
            "aiops_observer_staleness_seconds",
            "Seconds since each source last answered (+Inf: never).",
            ["source"],
            registry=r,
        )
        self.source_ok = Gauge(
            "aiops_observer_ok", "1 while the source is fresh.", ["source"], registry=r
        )
        self.outbound = Counter(
            "aiops_outbound_requests",
            "HTTP requests to dependencies, by dependency and status (or error).",
            ["dependency", "status"],
            registry=r,
        )
        self.reloads = Counter(
            "aiops_config_reloads", "Mounted files reloaded, by kind.", ["kind"], registry=r
        )
        self.reload_failures = Counter(
            "aiops_config_reload_failures",
            "Bad edits of mounted files (the last good version stays), by kind.",
            ["kind"],
            registry=r,
        )
        self.events = Counter(
            "aiops_kube_events", "Kubernetes Events sent, by outcome.", ["outcome"], registry=r
        )
        self.incident_files = Counter(
            "aiops_incident_files", "Incident files written, by outcome.", ["outcome"], registry=r
        )

    def set_mode(self, mode: str) -> None:
        """One series per known mode: 1 for ``mode``, 0 for the others."""
        for known in {*OPERATOR_MODES, mode}:
            self.mode.labels(known).set(1.0 if known == mode else 0.0)
