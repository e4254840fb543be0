"""The tick scheduler: a fixed wall-clock grid, no drift, and a late tick skips, never piles up.

Ticks are due at ``start + k * interval``. After a tick the next due time is the next grid
point still ahead: when a tick overran one or more slots (a slow Prometheus, a GC pause), the
missed slots are counted as skipped and dropped, so the loop never runs a burst of ticks to
"catch up" (each would observe the same instant and double the load exactly when the system
is struggling). Because due times come from the grid and not from "end of last tick +
interval", the cadence does not drift by the tick's own duration.

Time and waiting are injected (``monotonic``, ``wait``), so the unit tests drive it with a
fake clock; ``wait`` returns True when the scheduler should stop (a ``threading.Event``'s
``wait``), which is also how SIGTERM ends it between ticks without waiting out the interval.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

log = structlog.get_logger("aiops.operator.scheduler")


@dataclass(slots=True)
class SchedulerStats:
    """What a run did: ticks run, slots skipped, the longest tick (seconds)."""

    ticks: int = 0
    skipped: int = 0
    longest: float = 0.0


def next_due(due: float, ended: float, interval: float) -> tuple[float, int]:
    """The next grid point after a tick that was due at ``due`` and ended at ``ended``, and
    how many grid points were missed in between (skipped, not run)."""
    following = due + interval
    if ended < following:
        return following, 0
    missed = math.floor((ended - following) / interval) + 1
    return following + missed * interval, missed


class TickScheduler:
    """Runs ``tick`` on the grid until ``stop`` is set (or ``max_ticks`` ran)."""

    def __init__(
        self,
        interval: float,
        *,
        stop: threading.Event | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wait: Callable[[float], bool] | None = None,
        on_skip: Callable[[int], None] = lambda _missed: None,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"tick interval must be positive, got {interval}")
        self.interval = interval
        self.stop = stop or threading.Event()
        self._monotonic = monotonic
        self._wait = wait or self.stop.wait
        self._on_skip = on_skip
        self.stats = SchedulerStats()

    def run(self, tick: Callable[[], None], *, max_ticks: int | None = None) -> SchedulerStats:
        """Tick on the grid; returns when stopped (checked before every tick and during every
        wait) or after ``max_ticks`` ticks. A tick that raises is the caller's to handle."""
        due = self._monotonic()
        while not self.stop.is_set():
            if max_ticks is not None and self.stats.ticks >= max_ticks:
                break
            now = self._monotonic()
            if now < due:
                if self._wait(due - now):
                    break
                continue
            tick()
            ended = self._monotonic()
            self.stats.ticks += 1
            self.stats.longest = max(self.stats.longest, ended - now)
            due, missed = next_due(due, ended, self.interval)
            if missed:
                self.stats.skipped += missed
                self._on_skip(missed)
                log.warning("ticks skipped", missed=missed, tick_seconds=round(ended - now, 3))
        return self.stats
