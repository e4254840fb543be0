"""The PromQL templates: escaping, placeholders, presets, overrides, and the docs that list them."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from controller.errors import ConfigError
from controller.models.signals import Signal
from controller.models.workloads import WorkloadRef
from controller.observers.queries import (
    PRESETS,
    escape_regex,
    preset_templates,
    rate_window,
    regex_alternation,
    render_query,
    templates,
    validate_overrides,
)
from controller.settings import PrometheusSettings

DOCS = Path(__file__).resolve().parents[3] / "docs" / "prometheus.md"
WEB = WorkloadRef(namespace="shop", name="web")
API = WorkloadRef(namespace="pay", name="api")


def promql_literal_to_regex(literal: str) -> str:
    """Undo the PromQL string escaping (what the server does before compiling the regex)."""
    return re.sub(r"\\(.)", r"\1", literal)


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("web", "web"),
        ("api.v2", r"api\.v2"),
        ("a+b", r"a\+b"),
        ("x(1)|y", r"x\(1\)\|y"),
        ("^$*?[]{}", r"\^\$\*\?\[\]\{\}"),
        ("back\\slash", r"back\\slash"),
    ],
)
def test_escape_regex(value: str, escaped: str) -> None:
    assert escape_regex(value) == escaped


@pytest.mark.parametrize(
    ("values", "matches", "rejects"),
    [
        (["web", "api.v2"], ["web", "api.v2"], ["apixv2", "webx", "we", "api.v23"]),
        (["a.b", "a.b"], ["a.b"], ["aab", "a"]),
        (['quo"te'], ['quo"te'], ["quote"]),
    ],
)
def test_alternation_matches_exactly_the_watched_values(
    values: list[str], matches: list[str], rejects: list[str]
) -> None:
    pattern = promql_literal_to_regex(regex_alternation(values))
    for value in matches:
        assert re.fullmatch(pattern, value), value
    for value in rejects:
        assert not re.fullmatch(pattern, value), value


def test_alternation_is_sorted_unique_and_string_escaped() -> None:
    assert regex_alternation(["web", "cart", "web", "api.v2"]) == "api\\\\.v2|cart|web"
    assert regex_alternation(['a"b']) == 'a\\"b'


@pytest.mark.parametrize(
    ("step", "window"),
    [
        (timedelta(seconds=30), "120s"),
        (timedelta(seconds=10), "60s"),
        (timedelta(minutes=1), "240s"),
    ],
)
def test_rate_window_spans_four_steps_and_at_least_a_minute(step: timedelta, window: str) -> None:
    assert rate_window(step) == window


@pytest.mark.parametrize("preset", PRESETS)
def test_every_signal_has_a_template_that_renders_completely(preset: str) -> None:
    settings = PrometheusSettings(preset=preset)
    assert set(preset_templates(preset)) == set(Signal)
    for signal in Signal:
        query = render_query(signal, settings, [WEB, API])
        assert "${" not in query
        assert '=~"pay|shop"' in query
        assert query.count("(") == query.count(")"), signal


@pytest.mark.parametrize(
    ("preset", "metric", "per_milliseconds"),
    [
        ("kube-state-metrics", "http_request_duration_seconds_bucket", False),
        ("otel-http", "http_server_request_duration_seconds_bucket", False),
        ("istio", "istio_request_duration_milliseconds_bucket", True),
        ("linkerd", "response_latency_ms_bucket", True),
    ],
)
def test_latency_templates_use_the_preset_histogram_in_seconds(
    preset: str, metric: str, per_milliseconds: bool
) -> None:
    for signal in (Signal.LATENCY_P50, Signal.LATENCY_P99):
        query = render_query(signal, PrometheusSettings(preset=preset), [WEB])
        assert metric in query
        assert query.endswith(" / 1000") is per_milliseconds


def test_an_override_replaces_one_template_entirely() -> None:
    override = 'max by (namespace, workload) (my_p99{namespace=~"${namespace_regex}"})'
    settings = PrometheusSettings(queries={"latency_p99": override})
    effective = templates(settings)
    assert effective[Signal.LATENCY_P99] == override
    assert (
        effective[Signal.LATENCY_P50] == preset_templates("kube-state-metrics")[Signal.LATENCY_P50]
    )
    assert render_query(Signal.LATENCY_P99, settings, [WEB]) == (
        'max by (namespace, workload) (my_p99{namespace=~"shop"})'
    )


def test_label_replace_references_are_not_placeholders() -> None:
    override = 'label_replace(up{job=~"${workload_regex}"}, "workload", "$1", "job", "(.*)")'
    settings = PrometheusSettings(queries={"restarts": override})
    rendered = render_query(Signal.RESTARTS, settings, [WEB])
    assert rendered == 'label_replace(up{job=~"web"}, "workload", "$1", "job", "(.*)")'


@pytest.mark.parametrize(
    ("queries", "location", "reason"),
    [
        ({"latency": "up"}, "prometheus.queries.latency", "unknown signal 'latency'"),
        ({"restarts": "  "}, "prometheus.queries.restarts", "empty"),
        (
            {"restarts": "up{a=~'${ns}'}"},
            "prometheus.queries.restarts",
            "unknown placeholder ${ns}",
        ),
    ],
)
def test_bad_overrides_are_config_errors(
    queries: dict[str, str], location: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        validate_overrides(queries)
    assert raised.value.location == location
    assert reason in raised.value.reason


def test_an_empty_workload_set_never_renders_a_match_everything_query() -> None:
    with pytest.raises(ValueError, match="empty selector"):
        render_query(Signal.REQUEST_RATE, PrometheusSettings(), [])


@pytest.mark.parametrize("preset", PRESETS)
def test_the_docs_list_every_template_verbatim(preset: str) -> None:
    docs = DOCS.read_text(encoding="utf-8")
    settings = PrometheusSettings(preset=preset)
    for signal in Signal:
        assert render_query(signal, settings, [WEB, API]) in docs, (preset, signal)
