"""How values are shown in reports: one display unit per canonical unit, in every format.

Axis labels, threshold labels, chart tooltips and the timeline's verification rows all go
through ``display``, so a ratio is a percentage and a latency is in milliseconds wherever it
appears; a reader never has to convert between a chart and the table under it.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.models.signals import CANONICAL_UNITS, Signal


@dataclass(frozen=True, slots=True)
class Display:
    """How values of one canonical unit are shown: a multiplier and the unit label."""

    factor: float
    unit: str

    @property
    def suffix(self) -> str:
        """What follows a number: ``"%"`` glued on, a spaced unit, or nothing for counts."""
        if self.unit == "%":
            return "%"
        return "" if self.unit == "count" else f" {self.unit}"

    def format(self, value: float) -> str:
        """``0.1209`` as a ratio is ``"12.1%"``; ``0.25`` seconds is ``"250 ms"``."""
        return f"{number(value * self.factor)}{self.suffix}"


_DISPLAYS = {"ratio": Display(100.0, "%"), "s": Display(1000.0, "ms")}


def display(unit: str) -> Display:
    """The display of a canonical unit: ratios in percent, seconds in milliseconds."""
    return _DISPLAYS.get(unit, Display(1.0, unit))


def signal_display(signal: Signal) -> Display:
    """The display of a signal's canonical unit."""
    return display(CANONICAL_UNITS[signal])


def number(value: float) -> str:
    """Up to three significant digits, no trailing zeros: ``5``, ``0.25``, ``1,200``."""
    if value == 0:
        return "0"
    text = f"{value:.3g}"
    if "e" in text:
        return f"{value:,.0f}" if abs(value) >= 1 else f"{value:.2e}"
    return text
