"""One freeze path: the kill switch, the policy's freeze windows and the fleet-anomaly freeze.

Three things stop automation, and they must not be three mechanisms that can disagree:

- the cluster kill switch (R14, ``controller.kube.killswitch``): a human says stop;
- a policy freeze window (``spec.freezeWindows``): the calendar says stop;
- the fleet-anomaly guard (R7, ``controller.detection.fleet``): the sensor looks broken.

``FreezeGate`` composes them into the one ``KillSwitch`` port the actuator asks right before
every write, so each of them stops every write, a revert included, within the tick it
appears. The policy engine keeps judging the windows and the FROZEN mode on its own
(``change_freeze``, ``mode_frozen``): the gate is the last line, not a second policy.

The other direction: ``compose`` folds an engaged switch into the fleet verdict the loop
passes to the mode, so an engaged switch puts the controller in FROZEN mode (a ledger
``mode`` entry, an Event, the mode gauge) and, when it is released, the mode leaves FROZEN
only after a full recovery window: unfreezing releases no burst of queued actions (CH-24).
Freeze windows are calendar denials, not a mode, so ``compose`` leaves them out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from controller.guardrails.policy import FreezeWindow
from controller.guardrails.windows import open_windows
from controller.ports import Clock, KillSwitch

KILL_SWITCH_PREFIX = "kill switch"
"""Mode reasons starting with this come from the switch, not from the fleet guard."""


class FleetLike(Protocol):
    """What the gate needs of ``detection.fleet.FleetVerdict`` (layers may not import it)."""

    @property
    def frozen(self) -> bool:
        """Whether the fleet-anomaly guard fired."""
        ...

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why, with numbers."""
        ...


class Describing(Protocol):
    """A kill switch that can say why it is engaged (``ClusterKillSwitch.state()``)."""

    def describe(self) -> str:
        """One line."""
        ...


@dataclass(frozen=True, slots=True)
class FreezeSignal:
    """The fleet verdict with an engaged kill switch folded in (``FleetSignal`` for the mode)."""

    frozen: bool
    reasons: tuple[str, ...] = ()


def _describe(switch: KillSwitch) -> str:
    state = getattr(switch, "state", None)
    if callable(state):
        found = state()
        if hasattr(found, "describe"):
            return str(found.describe())
    return f"{KILL_SWITCH_PREFIX} engaged"


class FreezeGate:
    """The ``KillSwitch`` the actuator asks: engaged when any of the three says stop."""

    def __init__(
        self,
        switch: KillSwitch,
        *,
        clock: Clock,
        windows: Callable[[], Sequence[FreezeWindow]] = tuple,
    ) -> None:
        self._switch = switch
        self._clock = clock
        self._windows = windows
        self._fleet: tuple[str, ...] = ()

    def engaged(self) -> bool:
        """True when the switch is engaged (or unreadable), a freeze window is open, or the
        last tick's fleet verdict froze."""
        return bool(self.reasons())

    def reasons(self) -> tuple[str, ...]:
        """Why writes are stopped right now (empty: they are not)."""
        found: list[str] = []
        if self._switch.engaged():
            found.append(_describe(self._switch))
        found.extend(open_windows(tuple(self._windows()), self._clock.now()))
        found.extend(f"fleet anomaly: {reason}" for reason in self._fleet)
        return tuple(found)

    def compose(self, fleet: FleetLike) -> FreezeSignal:
        """Remember this tick's fleet verdict; return it with an engaged switch folded in."""
        self._fleet = tuple(fleet.reasons or ("fleet anomaly",)) if fleet.frozen else ()
        reasons = tuple(fleet.reasons) if fleet.frozen else ()
        if self._switch.engaged():
            return FreezeSignal(True, (_describe(self._switch), *reasons))
        return FreezeSignal(fleet.frozen, reasons)
