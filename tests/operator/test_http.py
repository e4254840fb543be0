"""The one HTTP app: probes, /metrics, the mounted OTLP receiver and the Slack slot."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from controller.metrics import ControllerMetrics, OperatorMetrics
from controller.observers.traces import TraceAggregator
from controller.observers.traces import create_app as otlp_app
from controller.operator.http import Probes, create_app, readiness
from controller.settings import TracesSettings
from controller.sim.fakes import SimulatedClock


def probes(**overrides: object) -> Probes:
    values: dict[str, object] = {
        "alive": lambda: True,
        "synced": lambda: True,
        "leader": lambda: True,
        "tick_age": lambda: 1.0,
        "max_tick_age": 45.0,
        "mode": "shadow",
    }
    values.update(overrides)
    return Probes(**values)  # type: ignore[arg-type]


def test_ready_needs_a_synced_cache_and_a_recent_tick() -> None:
    assert readiness(probes())[0] is True
    assert readiness(probes(synced=lambda: False))[0] is False
    assert readiness(probes(tick_age=lambda: None))[0] is False  # no tick yet
    assert readiness(probes(tick_age=lambda: 46.0))[0] is False
    ready, body = readiness(probes(leader=lambda: False))
    assert ready is True and body["leader"] is False  # a standby is ready, and says so


def test_the_app_serves_every_route_on_one_port() -> None:
    registry = ControllerMetrics()
    metrics = OperatorMetrics(registry.registry)
    metrics.set_mode("propose")
    clock = SimulatedClock(datetime(2026, 3, 1, tzinfo=UTC))
    settings = TracesSettings()
    traces = otlp_app(TraceAggregator(settings, clock), settings, clock)
    seen: list[bool] = []
    app = create_app(
        probes(synced=lambda: False, on_ready=seen.append), registry.exposition, otlp=traces
    )
    with TestClient(app) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["synced"] is False
        assert seen == [False]
        exposition = client.get("/metrics")
        assert exposition.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert 'aiops_mode{mode="propose"} 1.0' in exposition.text
        assert 'aiops_mode{mode="shadow"} 0.0' in exposition.text
        export = client.post(
            "/v1/traces", content=b"{}", headers={"content-type": "application/json"}
        )
        assert export.status_code == 200  # the receiver's own answer
        assert client.get("/slack/events").status_code == 404


def test_a_stopped_loop_fails_liveness_and_a_slack_app_plugs_in() -> None:
    async def hello(_request: object) -> PlainTextResponse:
        return PlainTextResponse("slack")

    slack = Starlette(routes=[Route("/events", hello, methods=["POST"])])
    app = create_app(probes(alive=lambda: False), lambda: b"", slack=slack)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 503
        assert client.post("/slack/events").text == "slack"
        assert client.post("/v1/traces").status_code == 404  # no receiver mounted
