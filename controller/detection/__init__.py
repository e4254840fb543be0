"""Deterministic, pure detection: burn rates, latency, saturation, crash loops, stuck rollouts,
change correlation; blind workloads are reported, never judged healthy."""

from __future__ import annotations

from controller.detection.api import DetectionOutcome, WorkloadView, detect
from controller.detection.state import DetectionState

__all__ = ["DetectionOutcome", "DetectionState", "WorkloadView", "detect"]
