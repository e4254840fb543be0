"""The floor: the least work any detector must do over the same data.

A rolling z-score touches every sample of every series once, with a handful of arithmetic
operations: whatever the replay does beyond that (windows, nine detectors, hysteresis,
incident bookkeeping, localization, the planner graph) is overhead against this floor. It is
timed in the same process as the replay, over the same loaded series, in plain Python (the
language the controller is written in) and, when numpy is installed, vectorised.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

WINDOW = 40
"""Samples in the rolling window (10 minutes at 15 s)."""
THRESHOLD = 3.0


@dataclass(frozen=True, slots=True)
class Floor:
    """Seconds taken and samples flagged by one floor pass."""

    seconds: float
    flagged: int


def zscore_python(values: Sequence[float | None], window: int = WINDOW) -> int:
    """Samples more than ``THRESHOLD`` deviations from the mean of the ``window`` before them."""
    kept = [v for v in values if v is not None]
    flagged, total, squares = 0, 0.0, 0.0
    for index, value in enumerate(kept):
        if index >= window:
            mean = total / window
            variance = squares / window - mean * mean
            if variance > 0 and abs(value - mean) > THRESHOLD * math.sqrt(variance):
                flagged += 1
            old = kept[index - window]
            total -= old
            squares -= old * old
        total += value
        squares += value * value
    return flagged


def zscore_numpy(np: Any, values: Sequence[float | None], window: int = WINDOW) -> int:
    """The same pass with numpy: cumulative sums give every window's mean and variance."""
    data = np.array([v for v in values if v is not None], dtype=float)
    if len(data) <= window:
        return 0
    sums = np.concatenate(([0.0], np.cumsum(data)))
    squares = np.concatenate(([0.0], np.cumsum(data * data)))
    mean = (sums[window:-1] - sums[: -window - 1]) / window
    variance = (squares[window:-1] - squares[: -window - 1]) / window - mean * mean
    later = data[window:]
    hits = (variance > 0) & (np.abs(later - mean) > THRESHOLD * np.sqrt(np.maximum(variance, 0)))
    return int(hits.sum())


def python_floor(series: Sequence[Sequence[float | None]]) -> Floor:
    """Time the plain-Python pass over every series."""
    started = time.perf_counter()
    flagged = sum(zscore_python(values) for values in series)
    return Floor(time.perf_counter() - started, flagged)


def numpy_floor(series: Sequence[Sequence[float | None]]) -> Floor | None:
    """Time the numpy pass over every series; None without numpy."""
    try:
        import numpy as np  # type: ignore[import-not-found,unused-ignore]  # optional here
    except ImportError:
        return None
    started = time.perf_counter()
    flagged = sum(zscore_numpy(np, values) for values in series)
    return Floor(time.perf_counter() - started, flagged)
