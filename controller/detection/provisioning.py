"""Over-provisioning: replicas that sit idle for hours, above the replica floor."""

from __future__ import annotations

from controller.detection.context import DetectorInput, pct
from controller.detection.persistence import first_time, latest_value, mean_of
from controller.models.incident import Finding, FindingKind, Severity
from controller.models.signals import Signal


def replica_count(inputs: DetectorInput) -> float:
    """Available replicas now: the live signal when usable, else the inventory's desired count."""
    window = inputs.windows.get(Signal.REPLICAS_AVAILABLE)
    live = None if window is None else latest_value(window)
    return float(inputs.inventory.replicas.desired) if live is None else live


def replica_floor(inputs: DetectorInput) -> int:
    """The fewest replicas allowed: the HPA's minimum when an HPA owns the workload, else 1."""
    hpa = inputs.inventory.hpa
    return hpa.min_replicas if hpa is not None else 1


def detect_over_provisioned(inputs: DetectorInput) -> Finding | None:
    """OVER_PROVISIONED (ticket): CPU below the bound in every sample for the whole period.

    Needs ``over_provisioned_for`` of visible history; a single busy sample vetoes it, since
    scaling in a workload that peaks would hurt at the next peak.
    """
    window = inputs.windows.get(Signal.CPU_SATURATION)
    if window is None:
        return None
    settings = inputs.settings
    seconds = settings.over_provisioned_for.total_seconds()
    below = settings.over_provisioned_below
    if window.coverage_seconds() < seconds:
        return None
    mean = mean_of(window, seconds)
    if mean is None or mean >= below:
        return None
    values = window.values(seconds)
    start = first_time(window, seconds)
    if len(values) < 2 or start is None or max(values) >= below:
        return None
    replicas, floor = replica_count(inputs), replica_floor(inputs)
    if replicas <= floor:
        return None
    return inputs.finding(
        FindingKind.OVER_PROVISIONED,
        Severity.TICKET,
        start,
        signal=Signal.CPU_SATURATION,
        value=mean,
        threshold=below,
        window=settings.over_provisioned_for,
        detail=(
            f"CPU at {pct(mean)} of request on average (peak {pct(max(values))}) over "
            f"{seconds / 3600:g}h, below {pct(below)}, with {replicas:g} replicas above the "
            f"floor of {floor}"
        ),
    )
