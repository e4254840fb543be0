"""The detector registry: which detectors run, which signals each needs, which latch."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from controller.detection.burn import detect_slo_burn
from controller.detection.context import DetectorInput
from controller.detection.latency import detect_latency, latency_band
from controller.detection.leak import detect_memory_leak
from controller.detection.persistence import Band, step_latch
from controller.detection.provisioning import detect_over_provisioned
from controller.detection.restarts import detect_crash_loop, detect_restart_burst
from controller.detection.rollout import detect_stuck_rollout
from controller.detection.saturation import (
    cpu_band,
    detect_cpu_saturation,
    detect_memory_saturation,
    memory_band,
)
from controller.detection.state import CLOSED, Latch
from controller.models.incident import Finding, FindingKind
from controller.models.signals import Signal, SignalWindow
from controller.models.workloads import WorkloadInventory
from controller.settings import DetectionSettings

Detector = Callable[[DetectorInput], Finding | None]

DETECTORS: tuple[Detector, ...] = (
    detect_slo_burn,
    detect_latency,
    detect_cpu_saturation,
    detect_memory_saturation,
    detect_memory_leak,
    detect_crash_loop,
    detect_restart_burst,
    detect_stuck_rollout,
    detect_over_provisioned,
)
"""Every detector, in FindingKind order (findings come out in this order)."""

INPUTS: Mapping[FindingKind, tuple[Signal, ...]] = {
    FindingKind.SLO_BURN: (Signal.ERROR_RATIO, Signal.REQUEST_RATE),
    FindingKind.LATENCY: (Signal.LATENCY_P99,),
    FindingKind.CPU_SATURATION: (Signal.CPU_SATURATION,),
    FindingKind.MEMORY_SATURATION: (Signal.MEMORY_SATURATION,),
    FindingKind.MEMORY_LEAK: (Signal.MEMORY_SATURATION, Signal.REQUEST_RATE),
    FindingKind.CRASH_LOOP: (Signal.RESTARTS,),
    FindingKind.RESTART_BURST: (Signal.RESTARTS,),
    FindingKind.STUCK_ROLLOUT: (),
    FindingKind.OVER_PROVISIONED: (Signal.CPU_SATURATION,),
}
"""Signals each detector cannot judge without: while one is unusable, silence means nothing."""


def can_judge(kind: FindingKind, usable: Mapping[Signal, SignalWindow]) -> bool:
    """Whether the detector of ``kind`` could look at this tick (all its inputs usable)."""
    return all(signal in usable for signal in INPUTS[kind])


def bands(
    inventory: WorkloadInventory, settings: DetectionSettings
) -> dict[FindingKind, tuple[Signal, Band]]:
    """The hysteresis detectors, with the signal and band each latch follows."""
    return {
        FindingKind.LATENCY: (Signal.LATENCY_P99, latency_band(inventory, settings)),
        FindingKind.CPU_SATURATION: (Signal.CPU_SATURATION, cpu_band(settings)),
        FindingKind.MEMORY_SATURATION: (Signal.MEMORY_SATURATION, memory_band(settings)),
    }


def step_latches(
    usable: Mapping[Signal, SignalWindow],
    previous: Mapping[FindingKind, Latch],
    inventory: WorkloadInventory,
    settings: DetectionSettings,
) -> dict[FindingKind, Latch]:
    """Advance every latch whose signal is usable; freeze the others.

    A latch whose signal went missing keeps its last condition: missing data must neither
    confirm nor clear a problem.
    """
    latches: dict[FindingKind, Latch] = {}
    for kind, (signal, band) in bands(inventory, settings).items():
        before = previous.get(kind, CLOSED)
        window = usable.get(signal)
        latches[kind] = before if window is None else step_latch(window, before, band)
    return latches


def run_detectors(inputs: DetectorInput) -> tuple[Finding, ...]:
    """Every finding that holds for one workload at this tick."""
    return tuple(
        finding for finding in (detector(inputs) for detector in DETECTORS) if finding is not None
    )
