"""Latency (p99) against the SLO, with persistence to open and hysteresis to clear."""

from __future__ import annotations

from controller.detection.context import DetectorInput, latency_threshold
from controller.detection.persistence import Band, latest_value, mean_of
from controller.models.incident import Finding, FindingKind, Severity
from controller.models.signals import Signal
from controller.models.workloads import WorkloadInventory
from controller.settings import DetectionSettings


def latency_band(inventory: WorkloadInventory, settings: DetectionSettings) -> Band:
    """Open above the p99 bound for ``latency_for``; clear below bound x clear_ratio."""
    threshold = latency_threshold(inventory, settings)
    return Band(
        open_above=threshold,
        clear_below=threshold * settings.clear_ratio,
        hold=settings.latency_for.total_seconds(),
        clear=settings.clear_for.total_seconds(),
    )


def detect_latency(inputs: DetectorInput) -> Finding | None:
    """LATENCY (page) while the p99 latch is open and the p99 signal is usable.

    A user-facing SLO is breached, hence a page. ``since`` is when p99 first went above the
    bound, not when persistence confirmed it.
    """
    window = inputs.windows.get(Signal.LATENCY_P99)
    latch = inputs.latch(FindingKind.LATENCY)
    if window is None or not latch.open:
        return None
    settings = inputs.settings
    threshold = latency_threshold(inputs.inventory, settings)
    value = latest_value(window)
    hold = settings.latency_for.total_seconds()
    held_mean = mean_of(window, hold)
    return inputs.finding(
        FindingKind.LATENCY,
        Severity.PAGE,
        latch.since,
        signal=Signal.LATENCY_P99,
        value=value,
        threshold=threshold,
        window=settings.latency_for,
        detail=(
            f"p99 latency {value or 0.0:.3g}s (mean {held_mean or 0.0:.3g}s over the last "
            f"{hold:.0f}s) above {threshold:.3g}s since {inputs.now - latch.since:.0f}s ago; "
            f"clears below {threshold * settings.clear_ratio:.3g}s held for "
            f"{settings.clear_for.total_seconds():.0f}s"
        ),
    )
