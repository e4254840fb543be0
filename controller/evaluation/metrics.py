"""Aggregate file outcomes into the evaluation's metrics; pure, so unit tests pin each one.

Every rate is a fraction in [0, 1] over the files it applies to, and ``None`` when no file
applies (a table says "n/a", a ``--fail-under`` gate on it fails). Faulty files are those
whose truth names a fault; fault-free files (``fault: none``) only count towards the
false-alarm metrics. Which way is better is part of each metric (``LOWER_IS_BETTER``), so a
gate reads "fail when worse than".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from controller.evaluation.outcome import NO_DECISION, FileOutcome
from controller.models.incident import FaultKind

TOP_K = 3


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric: its name (for ``--fail-under``), what it means, and its unit."""

    name: str
    meaning: str
    unit: str = "rate"


SPECS: tuple[MetricSpec, ...] = (
    MetricSpec("files", "incident files scored", "count"),
    MetricSpec("faulty", "files whose truth names a fault", "count"),
    MetricSpec("fault_free", "files whose truth is fault: none", "count"),
    MetricSpec("skipped", "files not scored (unreadable, no ground truth, replay failed)", "count"),
    MetricSpec("detection_rate", "faulty files on which an incident opened"),
    MetricSpec("detected_within_3", "faulty files detected within 3 samples of onset"),
    MetricSpec("ttd_median_s", "median time to detect, seconds (detected files)", "s"),
    MetricSpec("ttd_p90_s", "90th percentile time to detect, seconds", "s"),
    MetricSpec("ttd_median_samples", "median time to detect, in samples of the file's step", "n"),
    MetricSpec("ttd_p90_samples", "90th percentile time to detect, in samples", "n"),
    MetricSpec("top1", "root-cause workload ranked first (all workloads; unranked = miss)"),
    MetricSpec("top3", "root-cause workload in the top 3"),
    MetricSpec("baseline_top1", "the naive correlation baseline's top-1"),
    MetricSpec("baseline_top3", "the naive correlation baseline's top-3"),
    MetricSpec("fault_class_accuracy", "lead hypothesis names the true class (truth not unknown)"),
    MetricSpec("preferred_rate", "first action is a preferred one (files listing preferred)"),
    MetricSpec("acceptable_rate", "actions acceptable, and the fault was acted on or escalated"),
    MetricSpec("preferred_or_acceptable", "first action preferred, or the actions acceptable"),
    MetricSpec("forbidden_rate", "faulty files on which a forbidden action was decided"),
    MetricSpec("remediation_rate", "faulty files on which a mutating action took effect"),
    MetricSpec("escalation_rate", "faulty files escalated to a human and not remediated"),
    MetricSpec("no_decision_rate", "faulty files with neither an action nor an escalation"),
    MetricSpec("false_alarm_rate", "fault-free files on which an incident opened"),
    MetricSpec("false_action_rate", "fault-free files on which a mutating action was decided"),
)
METRICS = {spec.name: spec for spec in SPECS}
LOWER_IS_BETTER = frozenset(
    {
        "skipped",
        "ttd_median_s",
        "ttd_p90_s",
        "ttd_median_samples",
        "ttd_p90_samples",
        "forbidden_rate",
        "no_decision_rate",
        "false_alarm_rate",
        "false_action_rate",
    }
)
NEUTRAL = frozenset({"files", "faulty", "fault_free", "remediation_rate", "escalation_rate"})
"""Counts and mixes that describe the set or the behaviour; neither direction is "better"."""


def quantile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolation quantile (numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _rate(files: Iterable[FileOutcome], test: Callable[[FileOutcome], bool | None]) -> float | None:
    """Share of files for which ``test`` is True, over those where it is not None."""
    answers = [answer for f in files if (answer := test(f)) is not None]
    return sum(answers) / len(answers) if answers else None


def _in_top(rank: int | None, k: int) -> bool:
    return rank is not None and rank <= k


def _preferred_or_acceptable(f: FileOutcome) -> bool | None:
    if f.preferred is None and f.acceptable is None:
        return None
    return bool(f.preferred) or bool(f.acceptable)


def _fault_class_right(f: FileOutcome) -> bool | None:
    """Not scored when the truth's class is ``unknown``: the controller's own "unknown" would
    match it without naming anything."""
    if f.fault is FaultKind.UNKNOWN:
        return None
    return f.predicted_fault == f.fault


def summarize(outcomes: Sequence[FileOutcome], skipped: int = 0) -> dict[str, float | None]:
    """Every metric of ``SPECS`` over ``outcomes``."""
    faulty = [f for f in outcomes if not f.fault_free]
    quiet = [f for f in outcomes if f.fault_free]
    ttd_s = [f.time_to_detect_seconds for f in faulty if f.time_to_detect_seconds is not None]
    ttd_n = [n for f in faulty if (n := f.time_to_detect_samples) is not None]
    located = [f for f in faulty if f.root_cause is not None]
    return {
        "files": len(outcomes),
        "faulty": len(faulty),
        "fault_free": len(quiet),
        "skipped": skipped,
        "detection_rate": _rate(faulty, lambda f: f.detected),
        "detected_within_3": _rate(
            faulty, lambda f: f.detected and (f.time_to_detect_samples or 0.0) <= TOP_K
        ),
        "ttd_median_s": quantile(ttd_s, 0.5),
        "ttd_p90_s": quantile(ttd_s, 0.9),
        "ttd_median_samples": quantile(ttd_n, 0.5),
        "ttd_p90_samples": quantile(ttd_n, 0.9),
        "top1": _rate(located, lambda f: _in_top(f.root_rank, 1)),
        "top3": _rate(located, lambda f: _in_top(f.root_rank, TOP_K)),
        "baseline_top1": _rate(located, lambda f: _in_top(f.baseline_rank, 1)),
        "baseline_top3": _rate(located, lambda f: _in_top(f.baseline_rank, TOP_K)),
        "fault_class_accuracy": _rate(faulty, _fault_class_right),
        "preferred_rate": _rate(faulty, lambda f: f.preferred),
        "acceptable_rate": _rate(faulty, lambda f: f.acceptable),
        "preferred_or_acceptable": _rate(faulty, _preferred_or_acceptable),
        "forbidden_rate": _rate(faulty, lambda f: f.forbidden),
        "remediation_rate": _rate(faulty, lambda f: f.remediated),
        "escalation_rate": _rate(faulty, lambda f: f.escalated),
        "no_decision_rate": _rate(faulty, lambda f: f.first_action == NO_DECISION),
        "false_alarm_rate": _rate(quiet, lambda f: f.incidents > 0),
        "false_action_rate": _rate(quiet, lambda f: f.mutating_actions > 0 or f.forbidden),
    }


BREAKDOWN = (
    "files",
    "detection_rate",
    "ttd_median_samples",
    "top1",
    "top3",
    "baseline_top1",
    "fault_class_accuracy",
    "preferred_rate",
    "acceptable_rate",
    "forbidden_rate",
    "remediation_rate",
    "escalation_rate",
    "false_alarm_rate",
)
"""The columns of the per-fault-class table."""


def by_fault_class(outcomes: Sequence[FileOutcome]) -> dict[str, dict[str, float | None]]:
    """``summarize`` per true fault class (``none`` is the fault-free files)."""
    classes = sorted({f.fault.value for f in outcomes})
    return {name: summarize([f for f in outcomes if f.fault.value == name]) for name in classes}


def ratio(value: float | None, reference: float | None) -> float | None:
    """``value / reference`` (how many times the baseline); None when undefined."""
    if value is None or reference is None or reference == 0:
        return None
    return value / reference


@dataclass(frozen=True, slots=True)
class Gate:
    """One ``--fail-under METRIC=VALUE``: the run fails when the metric is worse than VALUE."""

    metric: str
    threshold: float

    def failure(self, metrics: dict[str, float | None]) -> str | None:
        """Why the gate failed, or None when it held."""
        value = metrics.get(self.metric)
        if value is None:
            return f"{self.metric}: not measured (no file it applies to); gate {self.threshold:g}"
        if self.metric in LOWER_IS_BETTER:
            if value > self.threshold:
                return f"{self.metric} = {value:.4g}, above the limit {self.threshold:g}"
            return None
        if value < self.threshold:
            return f"{self.metric} = {value:.4g}, below the floor {self.threshold:g}"
        return None


class GateError(ValueError):
    """A ``--fail-under`` value that cannot be a gate (a user mistake: exit 2)."""


def parse_gate(text: str) -> Gate:
    """``top1=0.5`` -> Gate; an unknown metric or a non-number is a GateError."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep:
        raise GateError(f"--fail-under {text!r}: expected METRIC=VALUE, e.g. detection_rate=0.9")
    if name not in METRICS or name in NEUTRAL:
        gateable = ", ".join(s.name for s in SPECS if s.name not in NEUTRAL)
        raise GateError(f"--fail-under: unknown metric {name!r}; choose one of: {gateable}")
    try:
        threshold = float(value)
    except ValueError as exc:
        raise GateError(f"--fail-under {name}: {value!r} is not a number") from exc
    if not math.isfinite(threshold):
        raise GateError(f"--fail-under {name}: {value!r} is not a finite number")
    return Gate(name, threshold)
