"""Each planner node runs in an OpenTelemetry span (the real SDK, an in-memory exporter)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from controller.planner.graph.build import build_graph
from controller.planner.graph.runner import PlannerRunner
from tests.planner.harness import approval_policy, make_world, saturation_incident


def test_nodes_are_spans_and_an_interrupt_is_not_an_error() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    world = make_world(policy=approval_policy())
    context = dataclasses.replace(world.context(), tracer=provider.get_tracer("test"))
    waiting = asyncio.run(
        PlannerRunner(build_graph(InMemorySaver()), context).start(saturation_incident())
    )
    assert waiting.kind == "approval"
    spans = exporter.get_finished_spans()
    names = [s.name for s in spans]
    assert names[:4] == [
        "planner.gather_context",
        "planner.propose",
        "planner.reconcile",
        "planner.guard",
    ]
    assert all(s.attributes and s.attributes["aiops.incident_id"] == "shop.web.1" for s in spans)
    guard = spans[3]
    assert guard.attributes and guard.attributes["aiops.status"] == "awaiting_approval"
    pause = next(s for s in spans if s.name == "planner.request_approval")
    assert pause.attributes and pause.attributes["aiops.interrupted"] is True
    assert all(s.status.status_code is not StatusCode.ERROR for s in spans)


def test_a_failing_node_marks_its_span_as_an_error() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    world = make_world()

    class Broken:
        def propose(self, request: object) -> object:
            raise RuntimeError("proposer bug")

    world.proposer = Broken()  # type: ignore[assignment]
    context = dataclasses.replace(world.context(), tracer=provider.get_tracer("test"))
    runner = PlannerRunner(build_graph(InMemorySaver()), context)
    with pytest.raises(RuntimeError, match="proposer bug"):  # surfaces, never swallowed
        asyncio.run(runner.start(saturation_incident()))
    failed = next(s for s in exporter.get_finished_spans() if s.name == "planner.propose")
    assert failed.status.status_code is StatusCode.ERROR
    assert world.writes() == []
