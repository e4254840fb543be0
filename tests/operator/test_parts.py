"""The operator's small parts: Events, the leader gate, the GC hook, outbound counting, logs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider

from controller.errors import TemporaryError
from controller.kube.event_writer import KubeEventSink, event_body
from controller.models.actions import ScaleAction
from controller.models.workloads import WorkloadRef
from controller.operator import wiring
from controller.operator.logs import add_trace_ids
from controller.operator.outbound import counting_kube_client, status_label
from controller.operator.ports import AlwaysLeader, NeverEngagedKillSwitch
from controller.settings import KubeSettings
from controller.sim.kube_api import FakeKubeApi
from tests.operator.cluster import events_posted

NOW = datetime(2026, 12, 4, 2, 30, tzinfo=UTC)
WEB = WorkloadRef(namespace="shop", name="web")


def test_an_event_reads_like_any_controllers() -> None:
    body = event_body(
        namespace="shop", kind="Deployment", name="web", reason="ApprovalRequested",
        message="x" * 5000, warning=True, instance="aiops-0", now=NOW, nanos=255,
        api_version="apps/v1",
    )  # fmt: skip
    assert body["metadata"] == {"name": "web.ff", "namespace": "shop"}
    assert body["involvedObject"] == {
        "apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": "shop"
    }  # fmt: skip
    assert body["type"] == "Warning" and len(body["message"]) == 1024
    assert body["firstTimestamp"] == body["lastTimestamp"] == "2026-12-04T02:30:00Z"
    assert body["source"] == {"component": "aiops-controller", "host": "aiops-0"}


def test_events_go_through_the_real_client_and_a_refusal_never_raises() -> None:
    counted: list[tuple[str, str]] = []
    outcomes: list[bool] = []
    with FakeKubeApi(max_lifetime=30.0) as api:
        settings = KubeSettings(qps=1000.0)
        client = counting_kube_client(settings, lambda d, s: counted.append((d, s)), host=api.url)
        sink = KubeEventSink(
            client,
            settings=settings,
            namespace="aiops-system",
            instance="aiops-0",
            pod="aiops-0",
            on_result=outcomes.append,
        )
        sent = sink.emit("OperatorStarted", "started in shadow mode")
        client.close()
        posted = events_posted(api, "OperatorStarted")
    assert len(posted) == 1
    assert posted[0].body["involvedObject"]["kind"] == "Pod"
    assert posted[0].body["involvedObject"]["name"] == "aiops-0"
    # Whatever the API server answered, the outcome is a value and it was counted.
    assert outcomes == [sent]
    assert counted == [("kubernetes", str(posted[0].status))]


def test_status_labels() -> None:
    assert status_label(200) == "200" and status_label(503) == "503"
    assert status_label(None) == "error" and status_label(0) == "error"


class Flag:
    def __init__(self, value: bool) -> None:
        self.value = value

    def is_leader(self) -> bool:
        return self.value


class Inner:
    def __init__(self) -> None:
        self.calls = 0

    def apply(self, action: Any, **_kw: Any) -> Any:
        self.calls += 1
        return "applied"

    def applied(self, action: Any, key: str) -> bool:
        return key == "k1"


def test_the_leader_gate_refuses_writes_of_a_standby() -> None:
    inner, flag = Inner(), Flag(False)
    gate = wiring.LeaderGatedWriter(inner, flag)
    action = ScaleAction(target=WEB, from_replicas=2, to_replicas=3)
    with pytest.raises(TemporaryError, match="not the leader"):
        gate.apply(action, resource_version="1", idempotency_key="k1", now=NOW)
    assert inner.calls == 0
    flag.value = True
    applied: object = gate.apply(action, resource_version="1", idempotency_key="k1", now=NOW)
    assert applied == "applied"
    assert gate.applied(action, "k1") and not gate.applied(action, "k2")


def test_stand_ins_say_what_they_are() -> None:
    assert AlwaysLeader().is_leader() is True
    assert NeverEngagedKillSwitch().engaged() is False


def test_the_operator_tunes_the_collector_after_start_up() -> None:
    import gc

    from controller.runtime import untune_collector

    before = gc.get_threshold()
    previous = wiring.tune_gc()
    try:
        assert previous == before
        assert gc.get_threshold() != before and gc.get_freeze_count() > 0
    finally:
        untune_collector(previous)
    assert gc.get_threshold() == before


def test_log_lines_carry_the_span_ids() -> None:
    tracer = TracerProvider().get_tracer("test")
    assert "trace_id" not in add_trace_ids(None, "info", {"event": "outside"})
    with tracer.start_as_current_span("tick") as span:
        event = add_trace_ids(None, "info", {"event": "inside", "incident_id": "i-1"})
        context = span.get_span_context()
    assert event["trace_id"] == format(context.trace_id, "032x")
    assert event["span_id"] == format(context.span_id, "016x")
    assert event["incident_id"] == "i-1"
    assert structlog.get_config()  # configure_operator_logging builds on the default chain
