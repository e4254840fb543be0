"""The versioned incident file: everything a replay needs, and optional ground truth.

``apiVersion: aiops.dev/v1alpha1``, ``kind: Incident``. Series timestamps are seconds since the
Unix epoch (as Prometheus returns them); every other time is RFC 3339 with a timezone.
docs/incident-format.md documents the format for importers; docs/incident.schema.json is the
JSON Schema (``aiops schema incident``).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from enum import StrEnum
from itertools import compress
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from controller.models.actions import Action, ActionKind
from controller.models.base import Duration, FrozenModel, UtcDatetime, epoch
from controller.models.columns import GapColumn, NumberColumn, packed_numbers, packed_values
from controller.models.events import ClusterEvent
from controller.models.incident import FaultKind
from controller.models.signals import CANONICAL_UNITS, UNIT_FACTORS, SeriesData, Signal
from controller.models.workloads import NamespaceInfo, WorkloadInventory, WorkloadRef

API_VERSION = "aiops.dev/v1alpha1"
SUPPORTED_API_VERSIONS = (API_VERSION,)
KIND = "Incident"
MAX_POINTS_PER_SERIES = 200_000


class IncidentMetadata(FrozenModel):
    """Who and what this file is about."""

    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", max_length=200)
    title: str = Field(default="", max_length=500)
    description: str = Field(default="", max_length=20_000)
    source: str = Field(default="synthetic", description="synthetic, capture, import:<tool>, ...")
    created: UtcDatetime | None = None


class TimeWindow(FrozenModel):
    """The recorded period and the nominal sample interval."""

    start: UtcDatetime
    end: UtcDatetime
    step: Duration = Field(description="Nominal sample interval of the series.")

    @model_validator(mode="after")
    def _ordered(self) -> TimeWindow:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.step.total_seconds() <= 0:
            raise ValueError("step must be positive")
        return self


def _check_timestamps(timestamps: Sequence[float]) -> None:
    if len(timestamps) > MAX_POINTS_PER_SERIES:
        raise ValueError(f"more than {MAX_POINTS_PER_SERIES} points")
    for index, (a, b) in enumerate(zip(timestamps, timestamps[1:], strict=False)):
        if b <= a:
            raise ValueError(f"timestamps must increase strictly (index {index + 1})")


class MetricSeries(FrozenModel):
    """One signal of one workload over the window; ``null`` values are gaps, not zeros."""

    workload: WorkloadRef
    signal: Signal
    unit: str = Field(description="The signal's canonical unit or an accepted alternative.")
    timestamps: NumberColumn
    values: GapColumn

    @field_validator("unit")
    @classmethod
    def _unit_fits_signal(cls, unit: str, info: ValidationInfo) -> str:
        signal = info.data.get("signal")
        if signal is None:
            return unit
        canonical = CANONICAL_UNITS[signal]
        if unit not in UNIT_FACTORS[canonical]:
            accepted = ", ".join(sorted(UNIT_FACTORS[canonical]))
            raise ValueError(f"unit {unit!r} is not valid for {signal}: use {accepted}")
        return unit

    @field_validator("timestamps")
    @classmethod
    def _increasing(cls, timestamps: NumberColumn) -> NumberColumn:
        _check_timestamps(timestamps)
        return timestamps

    @field_validator("values")
    @classmethod
    def _finite_and_aligned(cls, values: GapColumn, info: ValidationInfo) -> GapColumn:
        timestamps = info.data.get("timestamps")
        if timestamps is not None and len(timestamps) != len(values):
            raise ValueError(f"{len(values)} values for {len(timestamps)} timestamps")
        for index, value in enumerate(values):
            if value is not None and not math.isfinite(value):
                raise ValueError(f"value at index {index} is not finite; use null for a gap")
        return values

    def to_series_data(self) -> SeriesData:
        """Samples in the canonical unit, gaps dropped.

        A series without gaps in its canonical unit shares this file's arrays (no copy);
        otherwise the kept samples are copied (``v * factor`` exactly as before).
        """
        factor = UNIT_FACTORS[CANONICAL_UNITS[self.signal]][self.unit]
        column = packed_values(self.values)
        timestamps, values = packed_numbers(self.timestamps), column.array
        if column.gaps:
            present = [v == v for v in values]  # NaN marks a gap
            timestamps = array("d", compress(timestamps, present))
            values = array("d", compress(values, present))
        if factor != 1.0:
            values = array("d", (v * factor for v in values))
        return SeriesData(timestamps, values)


class TraceSeries(FrozenModel):
    """Span statistics over time for one service (``caller`` null) or one call edge."""

    caller: str | None = Field(default=None, description="Calling service; null = service-level.")
    callee: str = Field(min_length=1, description="The service receiving the calls.")
    timestamps: tuple[float, ...]
    rate: tuple[float | None, ...] = Field(description="Spans per second.")
    error_ratio: tuple[float | None, ...]
    latency_p50_seconds: tuple[float | None, ...]
    latency_p99_seconds: tuple[float | None, ...]

    @model_validator(mode="after")
    def _consistent(self) -> TraceSeries:
        _check_timestamps(self.timestamps)
        columns = ("rate", "error_ratio", "latency_p50_seconds", "latency_p99_seconds")
        for column in columns:
            values = getattr(self, column)
            if len(values) != len(self.timestamps):
                raise ValueError(f"{column} has {len(values)} values for {len(self.timestamps)}")
        return self


class RecordedAction(FrozenModel):
    """An action somebody (human or controller) actually took during the incident."""

    time: UtcDatetime
    actor: str = Field(min_length=1)
    action: Action
    note: str = ""


class RecordedApprovalOutcome(StrEnum):
    """What the human answered."""

    APPROVED = "approved"
    REJECTED = "rejected"


class RecordedApproval(FrozenModel):
    """An approval decision as it happened; replay matches it by workload and action kind."""

    time: UtcDatetime
    workload: WorkloadRef
    action_kind: ActionKind
    outcome: RecordedApprovalOutcome
    approver: str = Field(min_length=1)


class RecordedDecisions(FrozenModel):
    """The decisions actually taken, for the report's "recorded versus replayed" comparison."""

    actions: tuple[RecordedAction, ...] = ()
    approvals: tuple[RecordedApproval, ...] = ()


class LlmExchange(FrozenModel):
    """One recorded request/response pair with the LLM (opaque JSON of the Messages API)."""

    time: UtcDatetime
    incident_id: str | None = None
    model: str
    request: dict[str, Any]
    response: dict[str, Any]
    usage: dict[str, int] = Field(default_factory=dict)


class GroundTruth(FrozenModel):
    """What really happened, so a replay can be scored."""

    fault: FaultKind
    onset: UtcDatetime | None = None
    root_cause: WorkloadRef | None = None
    acceptable_actions: tuple[ActionKind, ...] = ()
    preferred_actions: tuple[ActionKind, ...] = Field(
        default=(),
        description="The best first action(s); scored apart from acceptable_actions by "
        "`aiops eval` (optional: files without it load and score as before).",
    )
    forbidden_actions: tuple[ActionKind, ...] = ()
    notes: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> GroundTruth:
        overlap = set(self.acceptable_actions) & set(self.forbidden_actions)
        if overlap:
            raise ValueError(f"actions both acceptable and forbidden: {sorted(overlap)}")
        overlap = set(self.preferred_actions) & set(self.forbidden_actions)
        if overlap:
            raise ValueError(f"actions both preferred and forbidden: {sorted(overlap)}")
        if self.fault is FaultKind.NONE and self.root_cause is not None:
            raise ValueError("fault 'none' cannot have a root_cause")
        if self.fault is not FaultKind.NONE and self.onset is None:
            raise ValueError("a fault needs an onset time")
        return self


class IncidentFile(FrozenModel):
    """The whole replayable incident."""

    apiVersion: Literal["aiops.dev/v1alpha1"]  # the file's own field name
    kind: Literal["Incident"]
    metadata: IncidentMetadata
    window: TimeWindow
    namespaces: tuple[NamespaceInfo, ...] = ()
    workloads: tuple[WorkloadInventory, ...] = Field(min_length=1)
    series: tuple[MetricSeries, ...] = ()
    traces: tuple[TraceSeries, ...] = ()
    events: tuple[ClusterEvent, ...] = ()
    recorded: RecordedDecisions = RecordedDecisions()
    llm_exchanges: tuple[LlmExchange, ...] = ()
    ground_truth: GroundTruth | None = None

    @model_validator(mode="after")
    def _references_resolve(self) -> IncidentFile:
        keys = [w.ref.key for w in self.workloads]
        duplicates = {k for k in keys if keys.count(k) > 1}
        if duplicates:
            raise ValueError(f"workloads listed twice: {sorted(duplicates)}")
        known = set(keys)
        self._check_series(known)
        for event in self.events:
            if event.workload.key not in known:
                raise ValueError(f"event at {event.time} names unknown workload {event.workload}")
        if self.ground_truth and self.ground_truth.root_cause:
            if self.ground_truth.root_cause.key not in known:
                raise ValueError(f"ground_truth.root_cause {self.ground_truth.root_cause} unknown")
        return self

    def _check_series(self, known: set[str]) -> None:
        seen: set[tuple[str, Signal]] = set()
        start, end = epoch(self.window.start), epoch(self.window.end)
        for series in self.series:
            key = (series.workload.key, series.signal)
            if series.workload.key not in known:
                raise ValueError(f"series {series.signal} names unknown workload {series.workload}")
            if key in seen:
                raise ValueError(f"two series for {series.workload} {series.signal}")
            seen.add(key)
            if series.timestamps and (series.timestamps[0] < start or series.timestamps[-1] > end):
                raise ValueError(f"series {series.workload} {series.signal} leaves the window")

    def workload(self, ref: WorkloadRef) -> WorkloadInventory | None:
        """Inventory of one workload."""
        return next((w for w in self.workloads if w.ref == ref), None)

    def namespace(self, name: str) -> NamespaceInfo:
        """Namespace info; a namespace the file does not describe has no labels."""
        return next((n for n in self.namespaces if n.name == name), NamespaceInfo(name=name))
