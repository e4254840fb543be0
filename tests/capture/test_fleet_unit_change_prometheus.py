"""CH-09 through the real Prometheus: a recording rule switches latency to milliseconds for
every workload at once. The observer reports the values faithfully; the fleet guard freezes
the controller instead of opening a remediation per workload."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from controller.detection import DetectionState, WorkloadView, detect
from controller.detection.fleet import fleet_anomaly
from controller.incident_loader import load_incident
from controller.models.incident_file import IncidentFile
from controller.models.modes import Mode, SourceHealth
from controller.models.signals import Signal
from controller.observers.freshness import next_mode
from controller.observers.prometheus import build_prometheus_metrics
from controller.settings import PrometheusSettings, Settings
from tests.capture.recorded_prometheus import override_queries, recent, serving
from tests.conftest import EXAMPLES
from tests.factories import latency_in_milliseconds_from

SWITCH_BEFORE_END = timedelta(minutes=20)


@pytest.fixture(scope="module")
def switched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, IncidentFile]]:
    quiet = recent(load_incident(EXAMPLES / "quiet-day.json"), datetime.now(UTC))
    switch = (quiet.window.end - SWITCH_BEFORE_END).timestamp()
    incident = latency_in_milliseconds_from(quiet, switch)
    with serving(incident, tmp_path_factory.mktemp("fleet")) as server:
        yield server.url, incident


def test_unit_change_freezes_instead_of_remediating(switched) -> None:
    url, incident = switched
    settings = Settings()
    metrics = build_prometheus_metrics(
        PrometheusSettings(
            url=url,
            queries=override_queries(),
            step=incident.window.step,
            lookback=timedelta(hours=1),
        ),
        stale_after=settings.detection.stale_after,
    )
    refs = [w.ref for w in incident.workloads]
    now = incident.window.end - SWITCH_BEFORE_END + timedelta(minutes=2)
    try:
        windows = metrics.observe(refs, now)
        health = metrics.health(now)
    finally:
        metrics.close()
    assert health.ok, health.detail
    latest = {key: w[Signal.LATENCY_P99].latest() for key, w in windows.items()}
    assert all(point is not None and point[1] > 10 for point in latest.values()), latest
    views = [
        WorkloadView(inventory=w, windows=windows[w.ref.key], events=()) for w in incident.workloads
    ]
    outcome = detect(views, DetectionState.empty(), settings.detection, now)
    fleet = fleet_anomaly(windows, outcome, settings.modes, now)
    assert fleet.frozen, fleet.reasons
    sources = [
        SourceHealth(source="prometheus", ok=True, last_success=now),
        SourceHealth(source="kubernetes", ok=True, last_success=now),
    ]
    decision = next_mode(None, sources, fleet, now, settings.modes)
    assert decision.state.mode is Mode.FROZEN
    assert any("unit" in reason or "step" in reason for reason in decision.state.reasons)
