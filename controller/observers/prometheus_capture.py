"""What ``aiops capture`` asks of Prometheus: whole ranges in chunks, and workload discovery.

Unlike a tick, these raise (TemporaryError / PermanentError, naming the query and range): a
capture with silently missing signals would mislead every later replay. They share the
observer's HTTP boundary (``RangeQuerier``: POST, breaker, retries) and its answer checks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from controller.errors import PermanentError
from controller.models.base import epoch
from controller.models.signals import Signal
from controller.models.workloads import WorkloadRef
from controller.observers.prometheus_answers import NamedQuery, collect, workload_key
from controller.observers.prometheus_http import QueryRange, RangeQuerier, UnexpectedAnswer
from controller.observers.queries import fill, placeholder_values, rate_window, regex_alternation
from controller.observers.series_store import Point
from controller.settings import PrometheusSettings

MAX_POINTS_PER_QUERY = 10_000
"""Prometheus refuses range queries over 11,000 points per series; capture chunks below it."""


def chunks(start: float, end: float, step: float, points: int) -> list[QueryRange]:
    """Consecutive, non-overlapping ranges of at most ``points`` steps each."""
    width = step * (points - 1)
    spans: list[QueryRange] = []
    at = start
    while at <= end:
        spans.append(QueryRange(at, min(at + width, end), step))
        at += width + step
    return spans


def _fetch_or_raise(
    http: RangeQuerier, query: NamedQuery, span: QueryRange, keys: frozenset[str]
) -> dict[str, list[Point]]:
    result = http.query_or_raise(query.text, span)
    try:
        series = collect(query, span, result, keys).series
    except UnexpectedAnswer as exc:
        raise PermanentError(f"query {query.text} over {span.describe()} failed: {exc}") from exc
    return {key: list(zip(s.times, s.values, strict=True)) for key, s in series.items()}


def fetch_range(
    http: RangeQuerier,
    settings: PrometheusSettings,
    templates: Mapping[Signal, str],
    workloads: Sequence[WorkloadRef],
    span: tuple[datetime, datetime, timedelta],
    max_points: int = MAX_POINTS_PER_QUERY,
) -> dict[tuple[str, Signal], list[Point]]:
    """All finite samples of every signal over ``span`` (start, end, step), chunked."""
    start, end, step = span
    refs = list({ref.key: ref for ref in workloads}.values())
    seconds = step.total_seconds()
    if not refs or seconds <= 0 or end <= start:
        return {}
    keys = frozenset(ref.key for ref in refs)
    values = placeholder_values(settings, refs)
    found: dict[tuple[str, Signal], list[Point]] = {}
    for signal, template in templates.items():
        query = NamedQuery.of(signal, fill(template, values))
        for piece in chunks(epoch(start), epoch(end), seconds, max(2, max_points)):
            for key, points in _fetch_or_raise(http, query, piece, keys).items():
                found.setdefault((key, signal), []).extend(points)
    return {key: sorted(points) for key, points in found.items() if points}


def discover(
    http: RangeQuerier,
    settings: PrometheusSettings,
    template: str,
    namespaces: Sequence[str],
    window: tuple[datetime, datetime],
) -> tuple[WorkloadRef, ...]:
    """Workloads of ``namespaces`` that report available replicas in ``window``.

    ``template`` (the replicas one) is run with a match-all workload regex (the namespaces
    still bound it), and the answer's labels name the workloads.
    """
    if not namespaces:
        raise ValueError("no namespace to discover in: an empty selector matches everything")
    values = {
        "namespace_regex": regex_alternation(namespaces),
        "workload_regex": ".+",
        "rate_window": rate_window(settings.step),
    }
    start, end = epoch(window[0]), epoch(window[1])
    step = max(settings.step.total_seconds(), math.ceil((end - start) / 100))
    result = http.query_or_raise(fill(template, values), QueryRange(start, end, step))
    found: set[tuple[str, str]] = set()
    for item in result:
        metric = item.get("metric") if isinstance(item, dict) else None
        key = workload_key(metric) if isinstance(metric, dict) else None
        if key is not None:
            namespace, name = key.split("/", 1)
            found.add((namespace, name))
    return tuple(WorkloadRef(namespace=n, name=w) for n, w in sorted(found))
