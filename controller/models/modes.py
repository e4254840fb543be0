"""Operating modes of the controller: how much it trusts what it sees."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from controller.models.base import FrozenModel, UtcDatetime


class Mode(StrEnum):
    """NORMAL acts per policy; DEGRADED asks a human for everything; BLIND and FROZEN take no
    risky action at all (static stability, R6; suspect the sensor, R7)."""

    NORMAL = "normal"
    DEGRADED = "degraded"
    BLIND = "blind"
    FROZEN = "frozen"

    @property
    def rank(self) -> int:
        """Severity order: normal < degraded < blind < frozen."""
        return {"normal": 0, "degraded": 1, "blind": 2, "frozen": 3}[self.value]


class SourceHealth(FrozenModel):
    """Freshness of one observation source (prometheus, traces, kubernetes)."""

    source: str
    ok: bool
    last_success: UtcDatetime | None = None
    detail: str = ""


class ModeState(FrozenModel):
    """The current mode, why, and since when."""

    mode: Mode
    since: UtcDatetime
    reasons: tuple[str, ...] = Field(default=(), description="Human-readable causes.")
    sources: tuple[SourceHealth, ...] = ()
