"""Detection memory carried between ticks: latches, open incidents, retained findings, blindness.

Everything here is an immutable value so that ``detect`` stays a pure function of
``(views, state, settings, now)``: the caller passes the returned state back on the next tick.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeVar

from controller.models.incident import BlindSpot, Finding, FindingKind, Incident


@dataclass(frozen=True, slots=True)
class Latch:
    """Open/closed condition of one hysteresis detector.

    Hysteresis needs to know whether the condition was open on the previous tick: the
    thresholds to open and to clear differ, so the current samples alone cannot decide.
    ``since`` (epoch seconds) is when the condition started to hold; meaningful while open.
    """

    open: bool
    since: float = 0.0


CLOSED = Latch(open=False)
"""The latch of a detector that has never fired."""


@dataclass(frozen=True, slots=True)
class Retained:
    """A finding kept on an open incident, with the last time it held or could not be judged.

    Keeping a kind until it has been seen clear for ``clear_for`` stops an incident from
    flapping between finding sets when a detector without hysteresis (burn rate) wobbles.
    """

    finding: Finding
    last_seen: float


K = TypeVar("K")
V = TypeVar("V")


def _frozen_map(items: Mapping[K, V] | None = None) -> Mapping[K, V]:
    """A read-only copy: the state must not change behind the caller's back."""
    return MappingProxyType(dict(items or {}))


@dataclass(frozen=True, slots=True)
class WorkloadMemory:
    """What detection remembers about one workload."""

    latches: Mapping[FindingKind, Latch] = field(default_factory=_frozen_map)
    incident: Incident | None = None
    retained: Mapping[FindingKind, Retained] = field(default_factory=_frozen_map)
    blind: BlindSpot | None = None

    @classmethod
    def build(
        cls,
        latches: Mapping[FindingKind, Latch],
        incident: Incident | None,
        retained: Mapping[FindingKind, Retained],
        blind: BlindSpot | None,
    ) -> WorkloadMemory:
        """Freeze copies of the mappings so that callers cannot mutate the state afterwards.

        Only open latches are kept: a missing latch reads as closed, and a smaller state is
        cheaper to compare and to carry.
        """
        opened = {kind: latch for kind, latch in latches.items() if latch.open}
        return cls(_frozen_map(opened), incident, _frozen_map(retained), blind)

    @property
    def is_empty(self) -> bool:
        """Whether there is nothing worth remembering (keeps the state small)."""
        return (
            self.incident is None
            and self.blind is None
            and not self.retained
            and not any(latch.open for latch in self.latches.values())
        )


EMPTY_MEMORY = WorkloadMemory()


@dataclass(frozen=True, slots=True)
class DetectionState:
    """Immutable detection state, opaque to callers; pass it back on the next tick."""

    workloads: Mapping[str, WorkloadMemory] = field(default_factory=_frozen_map)

    @classmethod
    def empty(cls) -> DetectionState:
        """The state before the first tick."""
        return cls()

    @classmethod
    def of(cls, workloads: Mapping[str, WorkloadMemory]) -> DetectionState:
        """Build a state from per-workload memories (keyed by ``WorkloadRef.key``)."""
        kept = {key: memory for key, memory in sorted(workloads.items()) if not memory.is_empty}
        return cls(_frozen_map(kept))

    def memory(self, key: str) -> WorkloadMemory:
        """The memory of one workload; empty when detection has never seen it unwell."""
        return self.workloads.get(key, EMPTY_MEMORY)
