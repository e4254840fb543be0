"""The read-only input every detector receives, and a helper to build findings from it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from controller.detection.state import CLOSED, Latch
from controller.models.base import from_epoch
from controller.models.events import ClusterEvent
from controller.models.incident import Finding, FindingKind, Severity
from controller.models.signals import Signal, SignalWindow
from controller.models.workloads import WorkloadInventory, WorkloadRef
from controller.settings import DetectionSettings


@dataclass(frozen=True, slots=True)
class DetectorInput:
    """One workload at one tick, as detectors see it.

    ``windows`` holds only usable (healthy, fresh) signals, so a detector that finds its
    signal missing simply does not judge. ``latches`` are already stepped for this tick.
    """

    inventory: WorkloadInventory
    windows: Mapping[Signal, SignalWindow]
    events: tuple[ClusterEvent, ...]
    latches: Mapping[FindingKind, Latch]
    settings: DetectionSettings
    now: float

    @property
    def workload(self) -> WorkloadRef:
        """The workload under judgement."""
        return self.inventory.ref

    def latch(self, kind: FindingKind) -> Latch:
        """This tick's latch of a hysteresis detector (closed when never opened)."""
        return self.latches.get(kind, CLOSED)

    def finding(
        self,
        kind: FindingKind,
        severity: Severity,
        since: float,
        *,
        signal: Signal | None,
        value: float | None,
        threshold: float | None,
        window: timedelta | None,
        detail: str,
    ) -> Finding:
        """Build a Finding for this workload; ``since`` is in epoch seconds."""
        return Finding(
            kind=kind,
            workload=self.workload,
            severity=severity,
            since=from_epoch(since),
            signal=signal,
            value=value,
            threshold=threshold,
            window=window,
            detail=detail,
        )


def latency_threshold(inventory: WorkloadInventory, settings: DetectionSettings) -> float:
    """The p99 bound in seconds: the workload's own SLO wins over the generic default."""
    return inventory.slo.latency_p99_seconds or settings.latency_p99_seconds


def pct(ratio: float) -> str:
    """Render a ratio as a percentage with sensible precision (``0.0123`` -> ``1.23%``)."""
    return f"{ratio * 100:.3g}%"
