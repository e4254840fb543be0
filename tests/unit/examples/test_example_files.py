"""The committed example incidents are valid, complete, up to date and tell the stated story."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from controller.models.actions import (
    ActionKind,
    AdjustHpaAction,
    RestartAction,
    RollbackAction,
)
from controller.models.base import epoch
from controller.models.incident import FaultKind
from controller.models.incident_file import IncidentFile
from controller.models.signals import Signal
from controller.models.workloads import ScalingOwner

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
INCIDENTS = EXAMPLES / "incidents"
NAMES = ["bad-deploy", "traffic-surge-hpa", "crashloop-after-rollout", "memory-leak", "quiet-day"]
MAX_BYTES = 1_500_000

A = ActionKind
TRUTH = {
    # name: (fault, root cause, acceptable, forbidden)
    "bad-deploy": (
        FaultKind.BAD_DEPLOY,
        "checkout",
        {A.ROLLBACK},
        {A.SCALE, A.ADJUST_HPA, A.RESTART},
    ),
    "traffic-surge-hpa": (
        FaultKind.SATURATION,
        "search",
        {A.ADJUST_HPA},
        {A.ROLLBACK, A.RESTART, A.SCALE},
    ),
    "crashloop-after-rollout": (
        FaultKind.CRASH_LOOP,
        "payments",
        {A.ROLLBACK},
        {A.SCALE, A.RESTART, A.ADJUST_HPA},
    ),
    "memory-leak": (
        FaultKind.MEMORY_LEAK,
        "cart",
        {A.RESTART},
        {A.SCALE, A.ADJUST_HPA, A.ROLLBACK},
    ),
    "quiet-day": (
        FaultKind.NONE,
        None,
        {A.NO_ACTION},
        {A.SCALE, A.ADJUST_HPA, A.ROLLBACK, A.RESTART, A.PAUSE_ROLLOUT},
    ),
}


def read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def load(name: str) -> IncidentFile:
    return IncidentFile.model_validate(read(INCIDENTS / f"{name}.json"))


@pytest.fixture(scope="module")
def generator() -> Iterator[ModuleType]:
    """examples/generate.py as a module (its sibling modules resolve from examples/)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(EXAMPLES))
        spec = importlib.util.spec_from_file_location(
            "aiops_examples_generate", EXAMPLES / "generate.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module


def test_the_bundled_set_is_exactly_the_five_examples() -> None:
    assert sorted(p.stem for p in INCIDENTS.glob("*.json")) == sorted(NAMES)
    assert sorted(p.name for p in INCIDENTS.iterdir()) == sorted(f"{n}.json" for n in NAMES)


def test_committed_files_are_what_the_generator_writes(
    generator: ModuleType, tmp_path: Path
) -> None:
    written = generator.main(tmp_path)
    assert sorted(p.name for p in written) == sorted(f"{n}.json" for n in NAMES)
    for path in written:
        committed = INCIDENTS / path.name
        assert read(path) == read(committed), (
            f"{committed} is stale: run `python examples/generate.py` and commit the result"
        )


def test_output_is_two_space_json_with_numbers_inline(generator: ModuleType) -> None:
    incident = load("bad-deploy")
    text = generator.to_json(incident)
    assert json.loads(text) == incident.model_dump(mode="json", exclude_defaults=False)
    assert text.startswith('{\n  "apiVersion": "aiops.dev/v1alpha1",\n  "kind": "Incident",\n')
    timestamps = next(line for line in text.splitlines() if '"timestamps": [' in line)
    assert timestamps.rstrip(",").endswith("]") and ", " in timestamps


@pytest.mark.parametrize("name", NAMES)
def test_file_is_small_enough(name: str) -> None:
    assert (INCIDENTS / f"{name}.json").stat().st_size < MAX_BYTES


@pytest.mark.parametrize("name", NAMES)
def test_ground_truth_matches_the_story(name: str) -> None:
    incident = load(name)
    fault, root, acceptable, forbidden = TRUTH[name]
    truth = incident.ground_truth
    assert truth is not None
    assert truth.fault is fault
    assert (truth.root_cause.name if truth.root_cause else None) == root
    assert set(truth.acceptable_actions) == acceptable
    assert set(truth.forbidden_actions) == forbidden
    assert incident.metadata.name == name and incident.metadata.source == "synthetic"


@pytest.mark.parametrize("name", NAMES)
def test_every_workload_has_every_signal_on_the_grid_without_gaps(name: str) -> None:
    incident = load(name)
    window = incident.window
    step = window.step.total_seconds()
    grid_length = int((window.end - window.start).total_seconds() / step) + 1
    grid = tuple(epoch(window.start) + i * step for i in range(grid_length))
    for workload in incident.workloads:
        signals = {s.signal: s for s in incident.series if s.workload == workload.ref}
        assert set(signals) == set(Signal), workload.ref
        for series in signals.values():
            assert series.timestamps == grid, (workload.ref, series.signal)
            assert None not in series.values, (workload.ref, series.signal)
        available = signals[Signal.REPLICAS_AVAILABLE].values[0]
        assert available == workload.replicas.available == workload.replicas.desired


@pytest.mark.parametrize("name", NAMES)
def test_inventory_is_complete_and_in_the_opted_in_namespace(name: str) -> None:
    incident = load(name)
    assert [n.name for n in incident.namespaces] == ["shop"]
    assert incident.namespace("shop").labels == {"aiops.dev/remediate": "enabled"}
    for workload in incident.workloads:
        assert workload.ref.namespace == "shop"
        assert 3 <= len(workload.revisions) <= 5
        created = [r.created for r in workload.revisions]
        assert created == sorted(created)
        assert workload.current is not None
        assert workload.current.image.startswith(f"registry.example.com/shop/{workload.ref.name}:")
        resources = workload.resources
        assert resources.cpu_request_cores and resources.memory_limit_bytes
        assert workload.slo.latency_p99_seconds is not None
        has_hpa = workload.hpa is not None
        assert (workload.scaling_owner is ScalingOwner.HPA) == has_hpa
        assert has_hpa == (workload.ref.name == "search")


@pytest.mark.parametrize("name", NAMES)
def test_traces_cover_every_service_and_call_edge(name: str) -> None:
    incident = load(name)
    services = {w.service_name for w in incident.workloads}
    service_level = {t.callee for t in incident.traces if t.caller is None}
    edges = [(t.caller, t.callee) for t in incident.traces if t.caller is not None]
    assert service_level == services
    assert edges and all(a in services and b in services for a, b in edges)
    for trace in incident.traces:
        assert len(trace.timestamps) == len(incident.series[0].timestamps)
        assert all(r is not None and r > 0 for r in trace.rate)
        p50, p99 = trace.latency_p50_seconds, trace.latency_p99_seconds
        assert all(a is not None and b is not None and a < b for a, b in zip(p50, p99, strict=True))


def test_traces_agree_with_metrics() -> None:
    incident = load("bad-deploy")
    traced = next(t for t in incident.traces if t.caller is None and t.callee == "checkout")
    metric = next(
        s
        for s in incident.series
        if s.workload.name == "checkout" and s.signal is Signal.ERROR_RATIO
    )
    assert traced.error_ratio == metric.values
    edge = next(t for t in incident.traces if (t.caller, t.callee) == ("frontend", "checkout"))
    frontend_rate = next(
        s
        for s in incident.series
        if s.workload.name == "frontend" and s.signal is Signal.REQUEST_RATE
    )
    ratios = [e / f for e, f in zip(edge.rate, frontend_rate.values, strict=True) if e and f]
    assert all(0.3 < r < 0.37 for r in ratios)


def _minutes_after_onset(incident: IncidentFile) -> list[tuple[float, object]]:
    assert incident.ground_truth is not None and incident.ground_truth.onset is not None
    onset = incident.ground_truth.onset
    return [((a.time - onset) / timedelta(minutes=1), a.action) for a in incident.recorded.actions]


def test_recorded_decisions_follow_the_story() -> None:
    bad = load("bad-deploy")
    ((minute, action),) = _minutes_after_onset(bad)
    assert minute == 7 and isinstance(action, RollbackAction)
    assert (action.target.name, action.from_revision, action.to_revision) == ("checkout", 8, 7)
    assert bad.recorded.actions[0].actor == "alice@example.com"
    (approval,) = bad.recorded.approvals
    assert approval.approver == "alice@example.com" and approval.action_kind is A.ROLLBACK
    assert bad.ground_truth is not None and bad.ground_truth.onset is not None
    assert approval.time - bad.ground_truth.onset == timedelta(minutes=6)

    ((minute, action),) = _minutes_after_onset(load("traffic-surge-hpa"))
    assert minute == 20 and isinstance(action, AdjustHpaAction)
    assert (action.from_max, action.to_max, action.to_min) == (6, 12, 3)

    ((minute, action),) = _minutes_after_onset(load("crashloop-after-rollout"))
    assert minute == 15 and isinstance(action, RollbackAction)
    assert (action.from_revision, action.to_revision) == (4, 3)

    ((_, action),) = _minutes_after_onset(load("memory-leak"))
    assert isinstance(action, RestartAction) and action.target.name == "cart"

    quiet = load("quiet-day")
    assert quiet.recorded.actions == () and quiet.recorded.approvals == ()


@pytest.mark.parametrize(
    ("name", "workload", "revision", "previous", "image"),
    [
        ("bad-deploy", "checkout", 8, 7, "checkout:1.15.0"),
        ("crashloop-after-rollout", "payments", 4, 3, "payments:2.3.0"),
        ("quiet-day", "frontend", 25, 24, "frontend:3.9.0"),
    ],
)
def test_the_deploy_in_the_window_is_the_current_revision(
    name: str, workload: str, revision: int, previous: int, image: str
) -> None:
    incident = load(name)
    deploy = next(e for e in incident.events if e.is_change)
    assert (deploy.workload.name, deploy.revision, deploy.previous_revision) == (
        workload,
        revision,
        previous,
    )
    assert deploy.image is not None and deploy.image.endswith(image) and deploy.actor
    inventory = incident.workload(deploy.workload)
    assert inventory is not None and inventory.current is not None
    assert inventory.current.revision == revision and inventory.current.created == deploy.time
    assert inventory.revision(previous) is not None


def test_short_examples_use_a_30s_step_with_an_hour_of_history() -> None:
    for name in NAMES[:-1]:
        incident = load(name)
        assert incident.window.step == timedelta(seconds=30)
        assert incident.ground_truth is not None and incident.ground_truth.onset is not None
        assert incident.ground_truth.onset - incident.window.start >= timedelta(minutes=60)
        assert (
            timedelta(hours=2) <= incident.window.end - incident.window.start <= timedelta(hours=3)
        )
    quiet = load("quiet-day")
    assert quiet.window.step == timedelta(seconds=60)
    assert quiet.window.end - quiet.window.start == timedelta(hours=24)
