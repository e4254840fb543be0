"""CPU and memory saturation, with the same persistence and hysteresis scheme as latency.

CPU usage above its request slows a pod down (throttling, noisy neighbours): a ticket-level
capacity problem. Memory close to its limit ends in OOM kills: that pages.
"""

from __future__ import annotations

from controller.detection.context import DetectorInput, pct
from controller.detection.persistence import Band, latest_value, mean_of
from controller.models.incident import Finding, FindingKind, Severity
from controller.models.signals import Signal
from controller.settings import DetectionSettings


def cpu_band(settings: DetectionSettings) -> Band:
    """Open above ``cpu_saturation`` for ``saturation_for``; clear below it x clear_ratio."""
    return _band(settings.cpu_saturation, settings)


def memory_band(settings: DetectionSettings) -> Band:
    """Open above ``memory_saturation`` for ``saturation_for``; clear below it x clear_ratio."""
    return _band(settings.memory_saturation, settings)


def _band(threshold: float, settings: DetectionSettings) -> Band:
    """Both resources share the persistence and clearing rules; only the bound differs."""
    return Band(
        open_above=threshold,
        clear_below=threshold * settings.clear_ratio,
        hold=settings.saturation_for.total_seconds(),
        clear=settings.clear_for.total_seconds(),
    )


def _saturation(
    inputs: DetectorInput,
    kind: FindingKind,
    signal: Signal,
    threshold: float,
    severity: Severity,
) -> Finding | None:
    """The shared body of both saturation detectors: report while the latch is open."""
    window = inputs.windows.get(signal)
    latch = inputs.latch(kind)
    if window is None or not latch.open:
        return None
    settings = inputs.settings
    value = latest_value(window) or 0.0
    held_mean = mean_of(window, settings.saturation_for.total_seconds()) or 0.0
    return inputs.finding(
        kind,
        severity,
        latch.since,
        signal=signal,
        value=value,
        threshold=threshold,
        window=settings.saturation_for,
        detail=(
            f"{signal.value} {pct(value)} (mean {pct(held_mean)} over the last "
            f"{settings.saturation_for.total_seconds():.0f}s) above {pct(threshold)} since "
            f"{inputs.now - latch.since:.0f}s ago; clears below "
            f"{pct(threshold * settings.clear_ratio)}"
        ),
    )


def detect_cpu_saturation(inputs: DetectorInput) -> Finding | None:
    """CPU_SATURATION (ticket) while the CPU latch is open and cpu_saturation is usable."""
    threshold = inputs.settings.cpu_saturation
    return _saturation(
        inputs, FindingKind.CPU_SATURATION, Signal.CPU_SATURATION, threshold, Severity.TICKET
    )


def detect_memory_saturation(inputs: DetectorInput) -> Finding | None:
    """MEMORY_SATURATION (page: OOM kills follow) while the memory latch is open."""
    threshold = inputs.settings.memory_saturation
    return _saturation(
        inputs, FindingKind.MEMORY_SATURATION, Signal.MEMORY_SATURATION, threshold, Severity.PAGE
    )
