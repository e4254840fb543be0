"""capture() assembles a valid incident from its backends, including an OTLP dump."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from controller.capture_engine import CaptureRequest, capture, parse_when
from controller.errors import BackendUnavailableError, InputError, TemporaryError
from controller.models.signals import Signal
from controller.models.workloads import WorkloadRef
from controller.settings import TracesSettings
from tests.adapters.traces.otel import T0, batches, captured_shop, encode, otlp_json

SHOP = ("frontend", "checkout", "payments")


class Metrics:
    """An in-memory Prometheus stand-in: a flat 0.1% error ratio and 3 replicas."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.asked: list[tuple[str, ...]] = []

    def discover(self, namespaces, start, end):
        if self.fail:
            raise TemporaryError("connection refused")
        return tuple(WorkloadRef(namespace=namespaces[0], name=n) for n in SHOP)

    def fetch_range(self, workloads, start, end, step):
        self.asked.append(tuple(w.key for w in workloads))
        stamps = [start.timestamp() + i * step.total_seconds() for i in range(1, 5)]
        return {
            (w.key, signal): [
                (t, 3.0 if signal is Signal.REPLICAS_AVAILABLE else 0.001) for t in stamps
            ]
            for w in workloads
            for signal in Signal
        }


def _request(**changes: Any) -> CaptureRequest:
    start = T0 - timedelta(seconds=30)
    base = CaptureRequest(
        namespace="shop",
        workloads=(),
        start=start,
        end=start + timedelta(minutes=2),
        step=timedelta(seconds=30),
        name="cap",
    )
    return replace(base, **changes)


def test_discovers_workloads_and_builds_series_and_traces(tmp_path: Path) -> None:
    spans, _ = captured_shop(30)
    dump = tmp_path / "traces.jsonl"
    dump.write_text("\n".join(json.dumps(otlp_json(encode(b))) for b in batches(spans, 20)))
    steps: list[str] = []
    incident = capture(
        _request(otlp_dump=dump),
        metrics=Metrics(),
        cluster=None,
        traces=TracesSettings(),
        progress=steps.append,
    )
    assert sorted(w.ref.name for w in incident.workloads) == sorted(SHOP)
    assert all(w.replicas.desired == 3 for w in incident.workloads)
    assert len(incident.series) == len(SHOP) * len(Signal)
    edges = {(t.caller, t.callee) for t in incident.traces}
    assert ("checkout", "payments") in edges and (None, "payments") in edges
    assert steps[-1] == "incident file assembled" and len(steps) == 4
    assert "without a cluster connection" in incident.metadata.description


def test_named_workloads_are_not_discovered() -> None:
    metrics = Metrics()
    incident = capture(
        _request(workloads=("checkout",)), metrics=metrics, cluster=None, traces=TracesSettings()
    )
    assert metrics.asked == [("shop/checkout",)]
    assert [w.ref.name for w in incident.workloads] == ["checkout"]


def test_backend_failure_is_reported_not_raised_raw() -> None:
    with pytest.raises(BackendUnavailableError, match="prometheus: discovering workloads"):
        capture(_request(), metrics=Metrics(fail=True), cluster=None, traces=TracesSettings())


def test_an_empty_window_is_refused() -> None:
    request = _request()
    with pytest.raises(InputError, match="must be after --from"):
        capture(
            _request(end=request.start), metrics=Metrics(), cluster=None, traces=TracesSettings()
        )


@pytest.mark.parametrize(
    ("text", "expected"),
    [("now", 0), ("now-2h", 7200), ("now - 90m", 5400), ("2026-03-01T12:00:00Z", None)],
)
def test_parse_when(text: str, expected: int | None) -> None:
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    when = parse_when(text, now, flag="--from")
    if expected is None:
        assert when == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    else:
        assert now - when == timedelta(seconds=expected)
