"""The Policy document: a strict, frozen pydantic schema with camelCase keys (as in Kubernetes).

A ``Policy`` instance is valid by construction: every limit on one field and every rule across
fields that needs no I/O is a validator here, with the offending key as the error location, so
the engine never has to second-guess a number. What needs the outside world (the timezone
database) and advisory lints (warnings) live in the loader. Keys are camelCase only; there is
exactly one spelling of every key, so a snake_case typo fails as an unknown key.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from controller.guardrails.policy_scaling import ScalingRules
from controller.models.actions import MUTATING_KINDS, ActionKind, Risk
from controller.models.base import Duration, FrozenModel, parse_duration
from controller.models.workloads import DNS_LABEL, DNS_SUBDOMAIN

API_VERSION = "aiops.dev/v1alpha1"
KIND = "Policy"
ALWAYS_PROTECTED = frozenset({"kube-system", "kube-public", "kube-node-lease"})
"""Namespaces no policy can open up, in addition to the controller's own namespace."""
MAX_CEILING = 1000
MAX_STEP_UP_FACTOR = 10.0
MAX_DURATION = timedelta(days=30)
MAX_FRESHNESS = timedelta(hours=1)

_GLOB_CHARS = frozenset("*?[]{}")
_MUTATING_NAMES = tuple(sorted(kind.value for kind in MUTATING_KINDS))
_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
_LABEL_PREFIX = re.compile(DNS_SUBDOMAIN)
_CLOCK = re.compile(r"^(?:([01]\d|2[0-3]):([0-5]\d)|(24):(00))$")
_TIMEZONE = r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$"
_DURATION_PATTERN = r"^\s*(\d+(\.\d+)?h)?\s*(\d+(\.\d+)?m)?\s*(\d+(\.\d+)?s)?\s*$"

H = TypeVar("H", bound=Hashable)


class _PolicyModel(FrozenModel):
    """Frozen, closed, camelCase-keyed base of every policy section."""

    model_config = ConfigDict(alias_generator=to_camel)


# -- scalar types -------------------------------------------------------------------------


def _no_wildcard(value: str, what: str) -> None:
    """A wildcard or an empty string must never silently mean "everything" (R4, CH-04)."""
    if not value.strip():
        raise ValueError(f"an empty {what} is not allowed: an empty selector never means 'all'")
    if _GLOB_CHARS & set(value):
        raise ValueError(
            f"{value!r} is a wildcard: wildcards are not supported and never mean 'all'; "
            "list namespaces by name or opt them in by label"
        )


def _namespace_name(value: str) -> str:
    """A real namespace name: no wildcard, no empty string, DNS-1123 label."""
    _no_wildcard(value, "namespace name")
    if len(value) > 63 or not re.match(DNS_LABEL, value):
        raise ValueError(
            f"{value!r} is not a namespace name (lower-case letters, digits and '-', "
            "at most 63 characters)"
        )
    return value


def _label_key(value: str) -> str:
    """A Kubernetes label key (``prefix/name``); wildcards never match everything."""
    _no_wildcard(value, "label key")
    prefix, _, name = value.rpartition("/")
    if (prefix and not _LABEL_PREFIX.match(prefix)) or not _LABEL_NAME.match(name):
        raise ValueError(f"{value!r} is not a Kubernetes label key")
    if len(name) > 63 or len(prefix) > 253:
        raise ValueError(f"{value!r} is too long for a Kubernetes label key")
    return value


def _label_value(value: str) -> str:
    """A non-empty Kubernetes label value; wildcards never match everything."""
    _no_wildcard(value, "label value")
    if len(value) > 63 or not _LABEL_NAME.match(value):
        raise ValueError(f"{value!r} is not a Kubernetes label value")
    return value


def _mutating_kind(value: object) -> object:
    """Only the five mutating kinds can be listed; say clearly what does not exist."""
    if value in _MUTATING_NAMES:
        return value
    allowed = ", ".join(_MUTATING_NAMES)
    if value in (ActionKind.NO_ACTION.value, ActionKind.ESCALATE.value):
        raise ValueError(
            f"{value!r} never changes the cluster and is always allowed; list only {allowed}"
        )
    raise ValueError(
        f"unknown action kind {value!r}: the controller can only {allowed} "
        "(there is no delete, exec or recreate)"
    )


def _sane_duration(value: timedelta) -> timedelta:
    """Positive, whole seconds (the canonical form, and so the hash, keeps every digit)."""
    if value <= timedelta(0):
        raise ValueError("duration must be positive")
    if value > MAX_DURATION:
        raise ValueError(
            f"duration longer than {MAX_DURATION.days} days is almost certainly a typo"
        )
    if value.microseconds:
        raise ValueError("durations have one-second resolution")
    return value


def _aware_utc(value: datetime) -> datetime:
    """RFC 3339 with an offset, normalised to UTC; out-of-range is an input error."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("time must carry a timezone, for example 2026-11-27T00:00:00Z")
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("time is out of range") from exc


def _clock_time(value: str) -> str:
    """ "HH:MM" wall-clock time; ``24:00`` lets a window run to the end of the day."""
    if not _CLOCK.match(value):
        raise ValueError(f'{value!r} is not a time of day: write "HH:MM" (00:00 to 24:00), quoted')
    return value


def _unique(values: tuple[H, ...]) -> tuple[H, ...]:
    """A list entry written twice is a typo (or a merge gone wrong): say which."""
    seen: set[H] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{value!s} is listed twice")
        seen.add(value)
    return values


NamespaceName = Annotated[
    str,
    Field(strict=True, json_schema_extra={"pattern": DNS_LABEL, "maxLength": 63}),
    AfterValidator(_namespace_name),
]
LabelKey = Annotated[str, Field(strict=True), AfterValidator(_label_key)]
LabelValue = Annotated[str, Field(strict=True), AfterValidator(_label_value)]
GuardedKind = Annotated[
    ActionKind,
    BeforeValidator(_mutating_kind),
    WithJsonSchema({"type": "string", "enum": list(_MUTATING_NAMES)}),
]
"""A mutating action kind; anything else is rejected with a message naming what exists."""
PolicyDuration = Annotated[
    Duration,
    BeforeValidator(parse_duration),
    AfterValidator(_sane_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "exclusiveMinimum": 0, "description": "seconds"},
                {"type": "string", "pattern": _DURATION_PATTERN, "examples": ["30s", "10m", "1h"]},
            ]
        }
    ),
]
"""A positive duration of whole seconds: ``90``, ``"90s"``, ``"10m"``, ``"1h30m"``."""
PolicyTime = Annotated[datetime, AfterValidator(_aware_utc)]
_UNIQUE_ITEMS = Field(json_schema_extra={"uniqueItems": True})
NamespaceList = Annotated[tuple[NamespaceName, ...], _UNIQUE_ITEMS, AfterValidator(_unique)]
KindList = Annotated[tuple[GuardedKind, ...], _UNIQUE_ITEMS, AfterValidator(_unique)]
ClockTime = Annotated[
    str,
    Field(strict=True, json_schema_extra={"pattern": _CLOCK.pattern}),
    AfterValidator(_clock_time),
]


class PolicyMode(StrEnum):
    """Enforce decisions, or decide everything and change nothing (shadow mode)."""

    ENFORCE = "enforce"
    DRY_RUN = "dry_run"


class Weekday(StrEnum):
    """Days of a weekly freeze window, in ``datetime.weekday()`` order."""

    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @classmethod
    def of(cls, moment: datetime) -> Weekday:
        """The weekday of ``moment`` in its own timezone."""
        return list(cls)[moment.weekday()]


# -- sections -----------------------------------------------------------------------------


class PolicyMetadata(_PolicyModel):
    """Identity of the policy; ``name`` appears in every decision."""

    name: str = Field(strict=True, pattern=DNS_SUBDOMAIN, max_length=253)
    description: str = Field(default="", strict=True, max_length=2000)


class NamespaceRules(_PolicyModel):
    """Which namespaces are opted in. Empty means none: deny by default, never "all"."""

    allow: NamespaceList = Field(default=(), description="Namespaces opted in by name.")
    allow_labels: dict[LabelKey, LabelValue] = Field(
        default_factory=dict,
        description="Namespaces whose labels match ALL of these are opted in; empty opts in none.",
    )
    deny: NamespaceList = Field(default=(), description="Never act here, whatever allow says.")


class ActionRules(_PolicyModel):
    """Which mutating kinds may ever run. An empty list denies every mutating action."""

    allowed: KindList = Field(description="Kinds that may ever run.")


class ReplicaLimits(_PolicyModel):
    """Blast-radius caps on replica counts (R4): bounds and per-step change."""

    floor: int = Field(
        strict=True,
        description="Never fewer replicas than this (at least 1: never scale to 0).",
        json_schema_extra={"minimum": 1},
    )
    ceiling: int = Field(
        strict=True,
        description=f"Never scale above this (at most {MAX_CEILING}).",
        json_schema_extra={"minimum": 1, "maximum": MAX_CEILING},
    )
    max_step_up_factor: float = Field(
        strict=True,
        allow_inf_nan=False,
        description="One step may grow replicas to at most factor x current.",
        json_schema_extra={"exclusiveMinimum": 1, "maximum": MAX_STEP_UP_FACTOR},
    )
    max_step_down_fraction: float = Field(
        strict=True,
        allow_inf_nan=False,
        description="One step may remove at most this fraction of the current replicas.",
        json_schema_extra={"exclusiveMinimum": 0, "exclusiveMaximum": 1},
    )

    @field_validator("floor")
    @classmethod
    def _floor_positive(cls, value: int) -> int:
        """R4: never scale to 0, so the floor is at least one replica."""
        if value < 1:
            raise ValueError(f"floor must be at least 1 (got {value}): never scale to 0")
        return value

    @field_validator("ceiling")
    @classmethod
    def _ceiling_sane(cls, value: int, info: ValidationInfo) -> int:
        """A ceiling above MAX_CEILING or below the floor is a mistake, not a policy."""
        if value > MAX_CEILING:
            raise ValueError(
                f"ceiling {value} is above {MAX_CEILING}: almost certainly a mistake (R4)"
            )
        floor = info.data.get("floor")
        if floor is not None and value < floor:
            raise ValueError(f"ceiling {value} is below floor {floor}")
        return value

    @field_validator("max_step_up_factor")
    @classmethod
    def _factor_sane(cls, value: float) -> float:
        """A factor of 1 or less forbids growth; more than 10x per step is no cap."""
        if not 1 < value <= MAX_STEP_UP_FACTOR:
            raise ValueError(
                f"maxStepUpFactor must be above 1 and at most {MAX_STEP_UP_FACTOR:g} (got {value})"
            )
        return value

    @field_validator("max_step_down_fraction")
    @classmethod
    def _fraction_sane(cls, value: float) -> float:
        """0 forbids shrinking; 1 would let a single step remove every replica."""
        if not 0 < value < 1:
            raise ValueError(
                f"maxStepDownFraction must be between 0 and 1, exclusive (got {value})"
            )
        return value


class RollbackLimits(_PolicyModel):
    """How far back a rollback may go."""

    max_depth: int = Field(
        strict=True,
        ge=1,
        le=50,
        description="Revisions back from the current one (1 = the previous revision).",
    )


class RateLimit(_PolicyModel):
    """At most ``actions`` mutating actions in any window of length ``per``."""

    actions: int = Field(strict=True, ge=1, le=1000, description="Actions per window.")
    per: PolicyDuration = Field(description="Window length.")


class RateLimits(_PolicyModel):
    """Velocity caps (R4, I4)."""

    global_: RateLimit = Field(alias="global", description="Across the whole cluster.")
    per_namespace: RateLimit = Field(description="Within one namespace.")


class WeeklySchedule(_PolicyModel):
    """A recurring window: on ``days``, from ``start`` to ``end`` (exclusive) local time."""

    days: Annotated[tuple[Weekday, ...], _UNIQUE_ITEMS, AfterValidator(_unique)] = Field(
        min_length=1, description="mon, tue, ... sun."
    )
    start: ClockTime = Field(description='Local time "HH:MM", inclusive.')
    end: ClockTime = Field(description='Local time "HH:MM", exclusive; "24:00" = end of day.')
    timezone: str = Field(
        strict=True,
        pattern=_TIMEZONE,
        max_length=64,
        description="IANA timezone such as Europe/Berlin (checked by the loader).",
    )

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, value: str, info: ValidationInfo) -> str:
        """Empty or overnight windows are errors: an overnight one is split in two."""
        start = info.data.get("start")
        if start is not None and value <= start:
            raise ValueError(f"end {value} must be after start {start} (split overnight windows)")
        return value

    def minutes(self) -> tuple[int, int]:
        """Start and end as minutes since local midnight."""
        return _minutes(self.start), _minutes(self.end)


def _minutes(clock: str) -> int:
    """Minutes since midnight of an already validated ``HH:MM``."""
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


class FreezeWindow(_PolicyModel):
    """No mutating action while this window is open: weekly, or from/to absolute times."""

    name: str = Field(strict=True, min_length=1, max_length=200)
    weekly: WeeklySchedule | None = None
    from_: PolicyTime | None = Field(default=None, alias="from", description="RFC 3339, inclusive.")
    to: PolicyTime | None = Field(default=None, description="RFC 3339, exclusive.")

    @field_validator("to")
    @classmethod
    def _to_after_from(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        """An absolute window must not be empty or reversed."""
        start = info.data.get("from_")
        if value is not None and start is not None and value <= start:
            raise ValueError("to must be after from")
        return value

    @model_validator(mode="after")
    def _one_form(self) -> FreezeWindow:
        """A window is weekly or absolute; half of an absolute window is a mistake."""
        absolute = (self.from_ is not None, self.to is not None)
        if self.weekly is not None and any(absolute):
            raise ValueError("a freeze window is either weekly or from/to, not both")
        if self.weekly is None and not all(absolute):
            raise ValueError("a freeze window needs either weekly or both from and to")
        return self


class ApprovalRules(_PolicyModel):
    """When a human must approve a plan that policy otherwise allows (R3)."""

    kinds: KindList = Field(description="These kinds always need approval.")
    min_risk: Risk | None = Field(
        description="Plans at or above this risk need approval; null: risk alone never does."
    )
    namespaces: NamespaceList = Field(
        default=(), description="Every mutating action in these namespaces needs approval."
    )


class PolicySpec(_PolicyModel):
    """The rules. Every key is required except the lists documented as optional."""

    mode: PolicyMode = Field(description="enforce, or dry_run: decide everything, change nothing.")
    controller_namespace: NamespaceName = Field(
        description="The controller's own namespace; always protected, like kube-system."
    )
    namespaces: NamespaceRules
    actions: ActionRules
    replicas: ReplicaLimits
    scaling: ScalingRules = Field(
        default_factory=ScalingRules,
        description="Optional: scaling adapters for KEDA/Argo Rollouts-owned workloads.",
    )
    rollback: RollbackLimits
    cooldown: PolicyDuration = Field(description="Per target: no second action within this.")
    rate_limits: RateLimits
    freeze_windows: tuple[FreezeWindow, ...] = Field(default=(), max_length=100)
    approval: ApprovalRules
    freshness_max: PolicyDuration = Field(
        description=f"Inputs older than this are stale (at most {MAX_FRESHNESS})."
    )

    @field_validator("freshness_max")
    @classmethod
    def _freshness_sane(cls, value: timedelta) -> timedelta:
        """I3: inputs older than MAX_FRESHNESS are never fresh enough to act on."""
        if value > MAX_FRESHNESS:
            raise ValueError("freshnessMax above 1h: inputs that old are never fresh (I3)")
        return value

    @field_validator("freeze_windows")
    @classmethod
    def _window_names_unique(cls, value: tuple[FreezeWindow, ...]) -> tuple[FreezeWindow, ...]:
        """Names identify windows in reasons, so two windows must not share one."""
        _unique(tuple(window.name for window in value))
        return value


class Policy(_PolicyModel):
    """A guardrails policy document (``apiVersion: aiops.dev/v1alpha1``, ``kind: Policy``)."""

    api_version: Literal["aiops.dev/v1alpha1"]
    kind: Literal["Policy"]
    metadata: PolicyMetadata
    spec: PolicySpec

    @property
    def name(self) -> str:
        """The policy's name, as recorded in decisions."""
        return self.metadata.name

    @property
    def protected_namespaces(self) -> frozenset[str]:
        """Namespaces no rule can open up: the Kubernetes system ones and our own."""
        return ALWAYS_PROTECTED | {self.spec.controller_namespace}

    def canonical(self) -> dict[str, object]:
        """The document as plain JSON data with its camelCase keys (hashed and exported).

        ``spec.scaling`` is left out while it is the default (no adapters), so a policy
        written before the key existed hashes, and every decision naming it reads, as it
        did (bundled replays stay byte-identical).
        """
        data = self.model_dump(mode="json", by_alias=True)
        if self.spec.scaling == ScalingRules():
            data["spec"].pop("scaling", None)
        return data
