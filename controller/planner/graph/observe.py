"""What the graph reads from the world before deciding: facts about a target, and the
verification baseline. Pure functions over the injected ports and ``now``.

Kept apart from the nodes so that the guard node (first judgement) and the act node
(re-validation right before the write, R3/R5) read facts in exactly the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from controller.models.actions import Plan
from controller.models.events import EventKind
from controller.models.facts import TargetFacts
from controller.models.incident import Incident
from controller.models.modes import Mode
from controller.models.signals import Health, SeriesData, Signal, SignalWindow
from controller.models.workloads import WorkloadRef
from controller.ports import ClusterReader, MetricsSource


def incident_signals(incident: Incident) -> set[Signal]:
    """Signals the incident's findings rest on."""
    return {f.signal for f in incident.findings if f.signal is not None}


def plan_signals(plan: Plan, incident: Incident) -> set[Signal]:
    """Signals a plan rests on: its findings' signals and the one it promises to move."""
    signals = incident_signals(incident)
    if plan.verification is not None:
        signals.add(plan.verification.signal)
    return signals


def rollout_in_progress(reader: ClusterReader, target: WorkloadRef, now: datetime) -> bool:
    """Whether the newest deploy of ``target`` has not completed yet (R16)."""
    events = reader.events(target, now)
    deploys = [e for e in events if e.kind is EventKind.DEPLOY]
    if not deploys:
        return False
    newest = deploys[-1].time
    return not any(e.kind is EventKind.ROLLOUT_COMPLETE and e.time >= newest for e in events)


def target_windows(
    metrics: MetricsSource, target: WorkloadRef | None, now: datetime
) -> Mapping[Signal, SignalWindow]:
    """One point read of ``target``'s signals at ``now`` (empty without a target).

    ``read``, never ``observe``: the fleet tick owns the observer's watched set, and a
    planner read must not narrow it (the next tick would re-fetch the whole lookback and
    the fleet-wide guard would see one workload). A node reads this once and derives its
    facts and baseline from it: with Prometheus a read outside the tick's step is a round
    of range queries for the target alone.
    """
    if target is None:
        return {}
    return metrics.read([target], now).get(target.key, {})


def read_facts(
    reader: ClusterReader,
    windows: Mapping[Signal, SignalWindow],
    target: WorkloadRef | None,
    signals: Iterable[Signal],
    *,
    mode: Mode,
    blind: bool,
    now: datetime,
) -> TargetFacts:
    """Live facts about ``target`` for the guardrails; an unhealthy window counts as blind."""
    if target is None:
        return TargetFacts(target=None, inventory=None, mode=mode, blind=blind)
    live = reader.get_workload(target)
    ages: dict[str, float | None] = {}
    unhealthy = False
    for signal in sorted(set(signals)):
        window = windows.get(signal)
        ages[signal.value] = None if window is None else window.age_seconds()
        unhealthy = unhealthy or (window is not None and window.health is not Health.OK)
    return TargetFacts(
        target=target,
        inventory=None if live is None else live.inventory,
        namespace=reader.get_namespace(target.namespace),
        input_ages=ages,
        blind=blind or unhealthy,
        rollout_in_progress=rollout_in_progress(reader, target, now),
        mode=mode,
    )


def baseline_json(window: SignalWindow, seconds: float) -> dict[str, Any]:
    """The last ``seconds`` of ``window`` as checkpointable data (the pre-action baseline)."""
    return {
        "workload": window.workload.model_dump(mode="json"),
        "signal": window.signal.value,
        "source": window.source,
        "observed_at": window.observed_at,
        "points": [[t, v] for t, v in window.points(seconds)],
    }


def baseline_window(data: dict[str, Any]) -> SignalWindow:
    """Rebuild the baseline window stored by ``baseline_json``."""
    points = [(float(t), float(v)) for t, v in data["points"]]
    return SignalWindow(
        workload=WorkloadRef.model_validate(data["workload"]),
        signal=Signal(data["signal"]),
        source=str(data["source"]),
        observed_at=float(data["observed_at"]),
        data=SeriesData.from_points(points),
    )
