"""One PromQL answer read for the watched workloads: samples, health, and short messages.

Why messages name a query instead of quoting it: a query's text holds the whole watched set
(two regex alternations, ~34 bytes a workload), and a message per window used to embed it,
so message text grew with the square of the fleet (1,000 present and 5,000 absent workloads:
7.2 GB in one tick). Every message now names the query ``<signal>#<10 hex digits of the
SHA-256 of its text>`` (the same few dozen bytes for any fleet), and the observer logs each
name's text once, when it is first sent, so the exact query is one lookup away (rule 6).
The backend's own words are clipped too, so a message's size does not depend on the fleet.

The answer is checked as it is read: an item that is not ``{"metric": {...}, "values":
[[time, "value"], ...]}`` makes the whole answer untrustworthy (``UnexpectedAnswer``), never a
silently shorter fleet. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import math
import operator
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from controller.models.signals import Health, SeriesData, Signal, SignalWindow
from controller.models.workloads import WorkloadRef
from controller.observers.prometheus_http import QueryRange, UnexpectedAnswer, clip, kind_of
from controller.observers.series_store import Samples

SOURCE = "prometheus"
_SOURCES = {signal: f"{SOURCE}:{signal.value}" for signal in Signal}
_UNREADABLE = (TypeError, ValueError, IndexError, KeyError, OverflowError)
"""What reading a pair that is not [number, numeric string] raises."""


@dataclass(frozen=True, slots=True)
class NamedQuery:
    """One signal's PromQL for one watched set, and the short name messages use for it."""

    signal: Signal
    text: str
    name: str

    @classmethod
    def of(cls, signal: Signal, text: str) -> NamedQuery:
        """Name ``text`` after its signal and a digest: equal texts, equal names."""
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]
        return cls(signal, text, f"{signal.value}#{digest}")


@dataclass(frozen=True, slots=True)
class Answer:
    """One signal's query in one tick: the query, its range, and what came back."""

    query: NamedQuery
    span: QueryRange
    where: str
    """``over <range>``, rendered once per answer rather than once per window."""
    series: dict[str, Samples] = field(default_factory=dict)
    copies: dict[str, int] = field(default_factory=dict)
    """Series per workload, for the workloads answered more than once only."""
    dropped: dict[str, int] = field(default_factory=dict)
    """NaN/Inf samples dropped per workload, where there were any."""
    error: str | None = None

    @classmethod
    def empty(cls, query: NamedQuery, span: QueryRange) -> Answer:
        """An answer with no series yet."""
        return cls(query, span, f"over {span.describe()}")

    @classmethod
    def failed(cls, query: NamedQuery, span: QueryRange, reason: str) -> Answer:
        """The answer of a query that failed: one message shared by all its windows."""
        where = f"over {span.describe()}"
        return cls(query, span, where, error=f"query {query.name} {where} failed: {clip(reason)}")


def workload_key(metric: Mapping[str, Any]) -> str | None:
    """``namespace/workload`` from a series' labels, or None without both."""
    namespace, workload = metric.get("namespace"), metric.get("workload")
    if not isinstance(namespace, str) or not isinstance(workload, str):
        return None
    return f"{namespace}/{workload}"


def _bad_pair(values: list[Any]) -> str:
    """Where ``values`` first stops being ``[[time, "value"], ...]``."""
    for index, pair in enumerate(values):
        try:
            float(pair[1])
            array("d", [pair[0]])
        except _UNREADABLE:
            return f'values[{index}] is {kind_of(pair)}, not [time, "value"]'
    return 'values are not [time, "value"] pairs'


def parse_values(values: object) -> tuple[Samples, int]:
    """Prometheus ``[[unix_time, "value"], ...]`` as Samples, and how many were NaN/Inf.

    Values arrive as strings ("1.5", "NaN", "+Inf"); non-finite ones are dropped (a gap,
    never a zero) and counted so that the caller can report them. The common case (sorted,
    all finite) is a few C-level passes; anything else takes the careful path. Raises
    UnexpectedAnswer when ``values`` is not a list of [number, numeric string] pairs.
    """
    if not isinstance(values, list):
        raise UnexpectedAnswer(f"values is {kind_of(values)}, not an array")
    try:
        times = array("d", [pair[0] for pair in values])
        numbers = array("d", [float(pair[1]) for pair in values])
    except _UNREADABLE:
        raise UnexpectedAnswer(_bad_pair(values)) from None
    # A non-finite sample (or sums that overflow) makes the total non-finite: careful path.
    if math.isfinite(sum(numbers) + sum(times)) and all(map(operator.lt, times, times[1:])):
        return Samples(times, numbers), 0
    pairs = list(zip(times, numbers, strict=True))
    dropped = sum(1 for t, v in pairs if not (math.isfinite(t) and math.isfinite(v)))
    return Samples.of(pairs), dropped


def _common(values: object) -> Samples | None:
    """``parse_values`` of the usual list (numbers, numeric strings, sorted, finite), or None."""
    if type(values) is not list:
        return None
    try:
        times = array("d", [pair[0] for pair in values])
        numbers = array("d", [float(pair[1]) for pair in values])
    except _UNREADABLE:
        return None  # parse_values says where
    if math.isfinite(sum(numbers) + sum(times)) and all(map(operator.lt, times, times[1:])):
        return Samples(times, numbers)
    return None


def collect(query: NamedQuery, span: QueryRange, result: list[Any], keys: frozenset[str]) -> Answer:
    """Keep the watched workloads' series; count duplicates and dropped NaN/Inf samples.

    Raises UnexpectedAnswer on an item of the wrong shape (naming where it is). The common
    series (string labels, a list of [time, "value"] pairs, sorted and finite) is read
    inline: at 10,000 workloads this loop runs 80,000 times a tick.
    """
    answer = Answer.empty(query, span)
    series, copies = answer.series, answer.copies
    for index, item in enumerate(result):
        metric = item.get("metric") if isinstance(item, dict) else None
        if not isinstance(metric, dict):
            raise UnexpectedAnswer(f"data.result[{index}] is not an object with a metric object")
        namespace, workload = metric.get("namespace"), metric.get("workload")
        if not isinstance(namespace, str) or not isinstance(workload, str):
            continue
        key = f"{namespace}/{workload}"
        if key not in keys:
            continue
        values = item.get("values")
        samples, dropped = _common(values), 0
        if samples is None:
            try:
                samples, dropped = parse_values(values)
            except UnexpectedAnswer as exc:
                raise UnexpectedAnswer(f"data.result[{index}].{exc}") from None
        if key in series:
            copies[key] = copies.get(key, 1) + 1
        if dropped:
            answer.dropped[key] = answer.dropped.get(key, 0) + dropped
        series[key] = samples
    return answer


def judge(key: str, answer: Answer) -> tuple[Health, str]:
    """Health of one workload's window from its signal's answer in this tick."""
    if answer.error is not None:
        return Health.ERROR, answer.error
    samples = answer.series.get(key)
    name, where = answer.query.name, answer.where
    if samples is None:
        return Health.NO_DATA, f"query {name} returned no series for {key} {where}"
    copies = answer.copies.get(key, 1)
    if copies > 1:
        return Health.ERROR, (
            f"query {name} returned {copies} series for {key} {where}; "
            "a template must return one series per (namespace, workload)"
        )
    if not samples:
        dropped = answer.dropped.get(key, 0)
        return Health.NO_DATA, (
            f"query {name} returned only NaN/Inf samples ({dropped}) for {key} {where}"
        )
    return Health.OK, ""


def window(
    ref: WorkloadRef, signal: Signal, answer: Answer, at: float, data: SeriesData
) -> SignalWindow:
    """The window of one (workload, signal); health and message say why it is not ok."""
    health, message = judge(ref.key, answer)
    return SignalWindow(ref, signal, _SOURCES[signal], at, data, health, message, _seen(data, at))


def _seen(data: SeriesData, at: float) -> int:
    """Samples visible at ``at``: all of them, unless the newest is later (-1: find out)."""
    times = data.timestamps
    return len(times) if not times or times[-1] <= at else -1


def windows(
    refs: Sequence[WorkloadRef],
    answers: Mapping[Signal, Answer],
    at: float,
    stored: Callable[[tuple[str, Signal]], SeriesData],
) -> dict[str, dict[Signal, SignalWindow]]:
    """Every (workload, signal) window of a tick: ``window`` for each, in one loop.

    Why one loop: at 10,000 workloads a tick builds 80,000 windows; the common ok case
    (one series, some samples) is judged inline, the others by ``judge``.
    """
    found: dict[str, dict[Signal, SignalWindow]] = {}
    parts = [(s, a, _SOURCES[s], a.series, a.copies, a.error) for s, a in answers.items()]
    ok = Health.OK
    for ref in refs:
        key = ref.key
        by_signal = found[key] = {}
        for signal, answer, source, series, copies, error in parts:
            data = stored((key, signal))
            samples = series.get(key) if error is None else None
            if samples and key not in copies:
                health, message = ok, ""
            else:
                health, message = judge(key, answer)
            by_signal[signal] = SignalWindow(
                ref, signal, source, at, data, health, message, _seen(data, at)
            )
    return found
