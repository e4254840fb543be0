"""Incident files from the ledger tap: gathered while open, written on close and shutdown,
atomically, in the format ``aiops replay`` reads (proved by replaying one)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from controller.cli import app
from controller.incident_loader import load_incident
from controller.models.decisions import (
    ActionResult,
    ActionStatus,
    Approval,
    ApprovalOutcome,
    ApprovalRequest,
)
from controller.models.events import ClusterEvent
from controller.models.incident_file import IncidentFile, LlmExchange
from controller.models.ledger import EntryType
from controller.models.ledger_payloads import DetectionPayload, ResolvedPayload
from controller.models.signals import Signal
from controller.models.workloads import NamespaceInfo, WorkloadRef
from controller.operator.archive import IncidentArchiver, file_name, write_atomically
from controller.operator.journal import IncidentJournal, IncidentRecord, TappedLedger
from controller.ports import LiveWorkload
from controller.settings import TracesSettings
from controller.sim.fakes import InMemoryLedger, SimulatedCluster
from tests.conftest import EXAMPLES
from tests.unit.ledger.ledger_helpers import incident, plan

WORLD = load_incident(EXAMPLES / "bad-deploy.json")
"""What "Prometheus" and "the cluster" answer in these tests: a recorded incident."""


class RecordedBackends:
    """``MetricsBackend`` and ``ClusterBackend`` over an incident file."""

    def __init__(self, world: IncidentFile) -> None:
        self.world = world
        self.cluster = SimulatedCluster.from_incident(world)

    def discover(
        self, namespaces: Sequence[str], start: datetime, end: datetime
    ) -> tuple[WorkloadRef, ...]:
        return tuple(w.ref for w in self.world.workloads if w.ref.namespace in namespaces)

    def fetch_range(
        self, workloads: Sequence[WorkloadRef], start: datetime, end: datetime, step: timedelta
    ) -> dict[tuple[str, Signal], list[tuple[float, float]]]:
        keys = {w.key for w in workloads}
        return {
            (s.workload.key, s.signal): [
                (t, v) for t, v in zip(s.timestamps, s.values, strict=True) if v is not None
            ]
            for s in self.world.series
            if s.workload.key in keys
        }

    def workloads(self, namespace: str | None = None) -> tuple[WorkloadRef, ...]:
        return tuple(w.ref for w in self.world.workloads if namespace in (None, w.ref.namespace))

    def get_workload(self, ref: WorkloadRef) -> LiveWorkload | None:
        return self.cluster.get_workload(ref)

    def get_namespace(self, name: str) -> NamespaceInfo | None:
        return self.cluster.get_namespace(name)

    def events(self, ref: WorkloadRef, until: datetime) -> tuple[ClusterEvent, ...]:
        return self.cluster.events(ref, until)


CHECKOUT = WorkloadRef(namespace="shop", name="checkout")
OPENED = WORLD.window.start + timedelta(minutes=50)


def checkout_incident():  # type: ignore[no-untyped-def,unused-ignore]
    base = incident()
    return base.model_copy(
        update={
            "id": "shop.checkout.20260303T135000Z",
            "workload": CHECKOUT,
            "opened_at": OPENED,
            "onset": OPENED,
            "snapshot_at": OPENED,
        }  # fmt: skip
    )


def archiver(tmp_path: Path, backends: RecordedBackends, written: list[str]) -> IncidentArchiver:
    return IncidentArchiver(
        tmp_path / "incidents", metrics=backends, cluster=backends, traces=None,
        trace_settings=TracesSettings(), step=WORLD.window.step,
        lookback=timedelta(minutes=30), clock=lambda: WORLD.window.end,
        on_result=written.append,
    )  # fmt: skip


def test_a_resolved_incident_becomes_a_replayable_incident_file(tmp_path: Path) -> None:
    backends = RecordedBackends(WORLD)
    written: list[str] = []
    files = archiver(tmp_path, backends, written)
    journal = IncidentJournal("aiops-controller:auto", files.submit)
    ledger = TappedLedger(InMemoryLedger(), [journal.observe])
    seen = checkout_incident()
    chosen = plan().model_copy(update={"incident_id": seen.id})
    chosen = chosen.model_copy(
        update={"action": chosen.action.model_copy(update={"target": CHECKOUT})}
    )
    at = OPENED + timedelta(minutes=1)
    request = ApprovalRequest(
        incident_id=seen.id, plan_hash=chosen.plan_hash(), snapshot_at=at, requested_at=at,
        expires_at=at + timedelta(minutes=15), action=chosen.action, summary="scale checkout",
    )  # fmt: skip
    answer = Approval.to(request, ApprovalOutcome.APPROVED, "console:alice", at)
    result = ActionResult(
        plan_hash=chosen.plan_hash(), idempotency_key="k1", action=chosen.action,
        status=ActionStatus.APPLIED, at=at, detail="applied at resourceVersion 7",
    )  # fmt: skip
    ledger.append(OPENED, EntryType.DETECTION,
                  DetectionPayload(updated=False, incident=seen).model_dump(mode="json"),
                  incident_id=seen.id)  # fmt: skip
    ledger.append(at, EntryType.APPROVAL_REQUESTED, request.model_dump(mode="json"),
                  incident_id=seen.id)  # fmt: skip
    ledger.append(at, EntryType.APPROVAL, answer.model_dump(mode="json"), incident_id=seen.id)
    ledger.append(at, EntryType.ACTION, result.model_dump(mode="json"), incident_id=seen.id)
    exchange = LlmExchange(time=at, incident_id=seen.id, model="m", request={}, response={})
    journal.add_exchanges(seen.id, (exchange,))
    assert [r.incident.id for r in journal.open_records()] == [seen.id]
    ledger.append(WORLD.window.end, EntryType.RESOLVED,
                  ResolvedPayload(workload=CHECKOUT).model_dump(mode="json"),
                  incident_id=seen.id)  # fmt: skip
    assert journal.open_records() == []
    assert files.drain([], timeout=30.0) == 1
    assert written == ["written"]

    path = tmp_path / "incidents" / f"{file_name(seen.id)}.json"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left over
    recorded = load_incident(path)
    assert recorded.window.start == OPENED - timedelta(minutes=30)
    assert recorded.window.end == WORLD.window.end
    assert {w.ref.key for w in recorded.workloads} == {w.ref.key for w in WORLD.workloads}
    assert recorded.series and recorded.events
    assert recorded.metadata.source == "aiops-run"
    assert [a.note for a in recorded.recorded.actions] == ["applied: applied at resourceVersion 7"]
    assert [a.approver for a in recorded.recorded.approvals] == ["console:alice"]
    assert recorded.llm_exchanges == (exchange,)

    # In process (the CLI's own entry, Typer's runner): a child interpreter costs seconds.
    replayed = CliRunner().invoke(
        app, ["replay", str(path), "--format", "json", "--ledger", str(tmp_path / "r.jsonl")]
    )
    assert replayed.exit_code == 0, replayed.output
    assert json.loads(replayed.stdout)["name"] == recorded.metadata.name


def test_open_incidents_are_written_at_shutdown_and_failures_are_counted(tmp_path: Path) -> None:
    backends = RecordedBackends(WORLD)
    written: list[str] = []
    files = archiver(tmp_path, backends, written)
    open_one = IncidentRecord(checkout_incident(), "aiops-controller:shadow")
    gone = IncidentRecord(
        checkout_incident().model_copy(
            update={"id": "blog.web.1", "workload": WorkloadRef(namespace="blog", name="web")}
        ),
        "aiops-controller:shadow",
    )
    assert files.drain([open_one, gone], timeout=30.0) == 1
    assert sorted(written) == ["failed", "written"]  # no workload in "blog": logged, counted
    recorded = load_incident(tmp_path / "incidents" / f"{file_name(open_one.incident.id)}.json")
    assert recorded.window.end == WORLD.window.end  # cut at shutdown


def test_names_are_slugs_and_writes_are_all_or_nothing(tmp_path: Path) -> None:
    assert file_name("Shop/Web:2026-03-03T13:50:00Z") == "shop-web-2026-03-03t13-50-00z"
    target = tmp_path / "out" / "a.json"
    write_atomically(target, "{}")
    write_atomically(target, '{"b": 1}')
    assert target.read_text() == '{"b": 1}'
    assert [p.name for p in target.parent.iterdir()] == ["a.json"]
