"""The quiet-workload gate (issue 9, speed): skip ``judge`` when nothing can happen.

Most workloads at most ticks have nothing to remember (no latch, incident, retained finding
or blindness) and nothing near any threshold, and ``judge`` then concludes exactly one
thing: healthy, nothing to remember. ``judge`` gets there through blindness, three latches,
nine detectors and the lifecycle (~40 small calls, ~100 us). ``Gate.quiet`` gets there
through one cheap *necessary* condition per detector: the first test the detector itself
makes, asked of the same window with the same arithmetic (so no rounding argument is needed),
or a plain implication of it:

- blindness and usability: every window present is healthy and fresh (``inputs.problem``'s
  tests) and every required signal is present, so ``blind_spot`` is None and detectors see
  every window;
- latency / CPU / memory latches, closed before: a latch opens only when every sample of its
  hold period, the newest included, is above ``open_above`` (``persistence.held_above``), so
  a newest value at or below it keeps the latch closed, and a closed latch reports nothing;
- SLO burn: no window pair passes the detector's first test (``burn.short_may_burn``: the
  short window's mean over the budget above the factor);
- memory leak: the detector's first test, ``leak.growth_bound`` under the minimum growth,
  computed by ``leak.bound_of`` from the same extremes, kept in sliding queues
  (``streams.window_extremes``) instead of sliced every tick;
- crash loop and restart burst: the counter is flat over the longer of their windows, which
  is ``restarts.restarts_within``'s first test (max == min) for both;
- stuck rollout: the detector's own two steps (``newest_deploy_until``, ``stuck_at``);
- over-provisioning: the detector's first tests (too little history, or a mean at or above
  the bound).

With every latch closed and no finding, the lifecycle of a workload without an incident
returns ``QUIET_LIFECYCLE`` and the memory it builds is empty, so ``judge``'s judgement is
known (``api.quiet_judgement``). When any condition fails, or the memory is not empty,
``judge`` runs as before: the gate never decides anything, it only skips work whose result
it has proven. ``tests/unit/detection/test_detection_quiet.py`` checks the claim against
``judge`` (the oracle) over generated workloads and through whole replays.

Why a gate and not streaming detectors: the profile (bench/README.md) put 65% of a tick in
``judge`` and showed ~96% of workload-ticks of a generated day quiet; the gate removes that
cost while every detector stays the plain, reviewed code that decides whenever anything
is close to a threshold. Streaming every detector would rewrite all of them for the same
saving on quiet workloads.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from controller.detection.burn import budget
from controller.detection.incidents import Lifecycle
from controller.detection.leak import bound_of
from controller.detection.rollout import newest_deploy_until, stuck_at
from controller.detection.state import WorkloadMemory
from controller.detection.streams import flat_since, window_extremes
from controller.models.events import ClusterEvent
from controller.models.signals import Health, Signal, SignalWindow
from controller.models.workloads import WorkloadInventory
from controller.settings import DetectionSettings

QUIET_LIFECYCLE = Lifecycle(retained=MappingProxyType({}))
"""What ``step_incident`` returns for a workload without an incident and without findings
(read-only, so one value can be shared by every quiet judgement)."""

Windows = Mapping[Signal, SignalWindow]


@dataclass(frozen=True, slots=True)
class Gate:
    """The thresholds the gate reads, in seconds and signal units, taken once per tick."""

    stale_after: float
    required: tuple[Signal, ...]
    latency_p99: float
    cpu_open: float
    memory_open: float
    burn: tuple[tuple[float, float], ...]
    """(short window seconds, factor) of every burn window pair."""
    restarts_window: float
    deadline: float
    provisioned_for: float
    provisioned_below: float
    leak_window: float
    leak_min_growth: float

    @classmethod
    def of(cls, settings: DetectionSettings) -> Gate:
        """The gate of ``settings`` (the same numbers the detectors derive from them)."""
        return cls(
            stale_after=settings.stale_after.total_seconds(),
            required=tuple(dict.fromkeys(settings.required_signals)),
            latency_p99=settings.latency_p99_seconds,
            cpu_open=settings.cpu_saturation,
            memory_open=settings.memory_saturation,
            burn=tuple((p.short.total_seconds(), p.factor) for p in settings.burn_windows),
            restarts_window=max(
                settings.crash_loop_window.total_seconds(),
                settings.restart_burst_window.total_seconds(),
            ),
            deadline=settings.stuck_rollout_deadline.total_seconds(),
            provisioned_for=settings.over_provisioned_for.total_seconds(),
            provisioned_below=settings.over_provisioned_below,
            leak_window=settings.memory_leak_window.total_seconds(),
            leak_min_growth=settings.memory_leak_min_growth,
        )

    def quiet(
        self,
        memory: WorkloadMemory,
        inventory: WorkloadInventory,
        windows: Windows,
        events: tuple[ClusterEvent, ...],
        now: float,
    ) -> bool:
        """Whether ``judge`` would find nothing and remember nothing (module docstring).

        ``events`` are the workload's events up to ``now``, as ``judge`` cuts them.
        """
        if not memory.is_empty or not self.all_usable(windows):
            return False
        get = windows.get
        slo = inventory.slo
        return (
            self.latches_stay_closed(windows, slo.latency_p99_seconds or self.latency_p99)
            and self.restarts_flat(get(Signal.RESTARTS))
            and self.burn_cannot_fire(get(Signal.ERROR_RATIO), slo.availability)
            and self.not_over_provisioned(get(Signal.CPU_SATURATION))
            and self.rollout_not_stuck(events, now)
            and self.leak_cannot_fire(get(Signal.MEMORY_SATURATION))
        )

    def all_usable(self, windows: Windows) -> bool:
        """Every window healthy and fresh, and every required signal present.

        The tests of ``inputs.problem`` (health, a visible sample, its age against
        ``stale_after``): detectors would see every window and ``blind_spot`` would be None.
        """
        stale_after = self.stale_after
        for window in windows.values():
            visible = window.visible
            if window.health is not Health.OK or visible == 0:
                return False
            if window.observed_at - window.data.timestamps[visible - 1] > stale_after:
                return False
        return all(signal in windows for signal in self.required)

    def latches_stay_closed(self, windows: Windows, latency_p99: float) -> bool:
        """None of the three hysteresis latches (``detectors.bands``) can open this tick.

        ``latency_p99`` is ``context.latency_threshold`` of the workload (its SLO's bound,
        else the default), the latency band's ``open_above``.
        """
        return (
            _stays_closed(windows.get(Signal.LATENCY_P99), latency_p99)
            and _stays_closed(windows.get(Signal.CPU_SATURATION), self.cpu_open)
            and _stays_closed(windows.get(Signal.MEMORY_SATURATION), self.memory_open)
        )

    def burn_cannot_fire(self, errors: SignalWindow | None, availability: float) -> bool:
        """No pair passes ``burn.short_may_burn``: the same mean (``SignalWindow.mean``), the
        same finiteness test (``persistence.finite``) and the same comparison.

        (Without request_rate the detector does not judge; ``all_usable`` required it.)
        """
        if errors is None:
            return True
        error_budget = budget(availability)
        for short, factor in self.burn:
            mean = _mean(errors, short)
            if mean is not None and math.isfinite(mean) and mean / error_budget > factor:
                return False
        return True

    def restarts_flat(self, window: SignalWindow | None) -> bool:
        """Both restart detectors return None: the counter is flat over their longer window.

        ``restarts_within`` returns None for a slice whose max equals its min, and a slice
        of the samples later than ``start`` is flat exactly when ``flat_since <= start``.
        """
        if window is None:
            return True
        start = window.observed_at - self.restarts_window
        return flat_since(window.data, window.visible) <= start

    def not_over_provisioned(self, cpu: SignalWindow | None) -> bool:
        """``detect_over_provisioned``'s first tests: too little history, or a mean (through
        ``mean_of``'s calls) at or above the bound."""
        if cpu is None:
            return True
        seconds = self.provisioned_for
        if cpu.coverage_seconds() < seconds:
            return True
        mean = _mean(cpu, seconds)
        return mean is None or not math.isfinite(mean) or mean >= self.provisioned_below

    def rollout_not_stuck(self, events: tuple[ClusterEvent, ...], now: float) -> bool:
        """``detect_stuck_rollout`` returns None, by its own two steps."""
        found = newest_deploy_until(events, now)
        if found is None:
            return True
        deploy, after = found
        return stuck_at(deploy, after, self.deadline, now) is None

    def leak_cannot_fire(self, memory: SignalWindow | None) -> bool:
        """``detect_memory_leak``'s first test: ``growth_bound`` under the minimum growth.

        The same index range and the same ``bound_of``; the extremes come from the sliding
        queues, which hold exactly the elements a slice's ``max``/``min`` would return.
        """
        if memory is None:
            return True
        seconds = self.leak_window
        data = memory.data
        lo, hi = _bounds(memory, seconds)
        if hi - lo < 2:
            return math.inf < self.leak_min_growth
        top, bottom, gap = window_extremes(data, lo, hi, (_LEAK, seconds))
        return bound_of(top, bottom, gap, hi - lo, seconds) < self.leak_min_growth


_LEAK = "quiet.leak_extremes"
"""Memo key (with the window's seconds) of the leak window's sliding extremes."""


def _stays_closed(window: SignalWindow | None, open_above: float) -> bool:
    """A closed latch cannot open: no window, or its newest value is not above the bound.

    ``held_above`` needs every sample of the hold period above the bound, and that period
    ends at the newest visible sample, so the newest value alone can rule it out.
    """
    if window is None:
        return True
    return window.data.values[window.visible - 1] <= open_above


def _bounds(window: SignalWindow, seconds: float) -> tuple[int, int]:
    """``SeriesData.index_range(observed_at - seconds, observed_at)``, as ``growth_bound``
    asks it, with one search: the upper end is the window's ``visible`` count by definition
    (for ``seconds >= 0``; a negative window takes the general path)."""
    if seconds < 0:
        return window.data.index_range(window.observed_at - seconds, window.observed_at)
    hi = window.visible
    return bisect_right(window.data.timestamps, window.observed_at - seconds, 0, hi), hi


def _mean(window: SignalWindow, seconds: float) -> float | None:
    """``SignalWindow.mean(seconds)``: the same bounds and the same division, one call."""
    if seconds < 0:
        return window.mean(seconds)
    hi = window.visible
    data = window.data
    lo = bisect_right(data.timestamps, window.observed_at - seconds, 0, hi)
    if hi == lo:
        return None
    return data.sum_between(lo, hi) / (hi - lo)
