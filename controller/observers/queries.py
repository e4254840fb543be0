"""PromQL templates per signal: one query per signal answers for every watched workload.

Every template returns one series per (namespace, workload), labelled with exactly
``namespace`` and ``workload``, already in the signal's canonical unit (req/s, ratio,
seconds, count). Templates carry three placeholders, written ``${name}``:

- ``${namespace_regex}`` and ``${workload_regex}``: alternations of the watched namespaces and
  workload names, escaped for RE2 and for a PromQL string literal;
- ``${rate_window}``: the ``rate()`` range, four steps and at least a minute, in seconds.

A preset picks the label conventions of the request metrics (``PrometheusSettings.preset``);
the resource signals always come from cAdvisor and kube-state-metrics. An entry of
``PrometheusSettings.queries`` replaces one signal's template entirely. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from controller.errors import ConfigError
from controller.models.signals import Signal
from controller.models.workloads import WorkloadRef
from controller.settings import PrometheusSettings

PLACEHOLDERS = frozenset({"namespace_regex", "workload_regex", "rate_window"})
"""Names a template (built-in or override) may use as ``${name}``."""

SETTINGS_SOURCE = "prometheus settings"
"""Where a ConfigError about templates points (the YAML file or ``AIOPS_PROMETHEUS__*``)."""

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_RE2_SPECIAL = frozenset("\\.+*?()|[]{}^$")
_NS = "${namespace_regex}"
_WL = "${workload_regex}"
_WINDOW = "${rate_window}"
_KEYS = "namespace, workload"


@dataclass(frozen=True, slots=True)
class HttpConvention:
    """Where a preset finds request counts, latency buckets and the workload's identity."""

    requests: str
    buckets: str
    namespace_label: str
    workload_label: str
    error_matcher: str
    extra_matchers: str = ""
    latency_divisor: float = 1.0
    workload_fallback_label: str | None = None


CONVENTIONS: dict[str, HttpConvention] = {
    "kube-state-metrics": HttpConvention(
        requests="http_requests_total",
        buckets="http_request_duration_seconds_bucket",
        namespace_label="namespace",
        workload_label="workload",
        error_matcher='code=~"5.."',
    ),
    "otel-http": HttpConvention(
        requests="http_server_request_duration_seconds_count",
        buckets="http_server_request_duration_seconds_bucket",
        namespace_label="k8s_namespace_name",
        workload_label="k8s_deployment_name",
        error_matcher='http_response_status_code=~"5.."',
        workload_fallback_label="service_name",
    ),
    "istio": HttpConvention(
        requests="istio_requests_total",
        buckets="istio_request_duration_milliseconds_bucket",
        namespace_label="destination_workload_namespace",
        workload_label="destination_workload",
        error_matcher='response_code=~"5.."',
        extra_matchers='reporter="destination"',
        latency_divisor=1000.0,
    ),
    "linkerd": HttpConvention(
        requests="response_total",
        buckets="response_latency_ms_bucket",
        namespace_label="namespace",
        workload_label="deployment",
        error_matcher='classification="failure"',
        extra_matchers='direction="inbound"',
        latency_divisor=1000.0,
    ),
}
"""The request-metric conventions of each preset."""

PRESETS: tuple[str, ...] = tuple(CONVENTIONS)


def _join(*parts: str) -> str:
    return ", ".join(part for part in parts if part)


def _selector(metric: str, *matchers: str) -> str:
    return f"{metric}{{{_join(*matchers)}}}"


def _relabel(expr: str, source: str, target: str, pattern: str = "(.*)") -> str:
    """Copy label ``source`` into ``target``; an unmatched pattern leaves ``target`` as is."""
    if source == target:
        return expr
    return f'label_replace({expr}, "{target}", "$1", "{source}", "{pattern}")'


def _http_rate(conv: HttpConvention, metric: str, *matchers: str) -> str:
    """Per-series request rates of the watched workloads, relabelled to namespace/workload.

    With a fallback label (OpenTelemetry's ``service_name``), series lacking the primary
    workload label are matched by the fallback and named after it.
    """
    ns = f'{conv.namespace_label}=~"{_NS}"'
    primary = _selector(
        metric, ns, f'{conv.workload_label}=~"{_WL}"', conv.extra_matchers, *matchers
    )
    expr = f"rate({primary}[{_WINDOW}])"
    if conv.workload_fallback_label is not None:
        fallback = _selector(
            metric,
            ns,
            f'{conv.workload_label}=""',
            f'{conv.workload_fallback_label}=~"{_WL}"',
            conv.extra_matchers,
            *matchers,
        )
        expr = f"({expr} or rate({fallback}[{_WINDOW}]))"
        expr = _relabel(expr, conv.workload_fallback_label, "workload", "(.+)")
        expr = _relabel(expr, conv.workload_label, "workload", "(.+)")
    else:
        expr = _relabel(expr, conv.workload_label, "workload")
    return _relabel(expr, conv.namespace_label, "namespace")


def _sum_by(expr: str, keys: str = _KEYS) -> str:
    return f"sum by ({keys}) ({expr})"


def _request_rate(conv: HttpConvention) -> str:
    return _sum_by(_http_rate(conv, conv.requests))


def _error_ratio(conv: HttpConvention) -> str:
    """5xx share of requests; 0 (not absent) when a workload served no error at all."""
    errors = _sum_by(_http_rate(conv, conv.requests, conv.error_matcher))
    total = _sum_by(_http_rate(conv, conv.requests))
    return f"({errors} or 0 * {total}) / {total}"


def _latency(conv: HttpConvention, quantile: float) -> str:
    buckets = _sum_by(_http_rate(conv, conv.buckets), f"{_KEYS}, le")
    query = f"histogram_quantile({quantile:g}, {buckets})"
    if conv.latency_divisor != 1.0:
        query = f"{query} / {conv.latency_divisor:g}"
    return query


_POD_WORKLOAD = (
    "max by (namespace, pod, workload) ("
    + _relabel(
        _selector("kube_pod_owner", 'owner_kind="ReplicaSet"', f'namespace=~"{_NS}"'),
        "owner_name",
        "replicaset",
    )
    + " * on (namespace, replicaset) group_left (workload) "
    + _relabel(
        _selector(
            "kube_replicaset_owner",
            'owner_kind="Deployment"',
            f'namespace=~"{_NS}"',
            f'owner_name=~"{_WL}"',
        ),
        "owner_name",
        "workload",
    )
    + ")"
)
"""Pod -> Deployment, through the pod's ReplicaSet (kube_pod_owner + kube_replicaset_owner)."""


def _per_workload(per_pod: str) -> str:
    """Sum a per-pod vector (labels namespace, pod) up to the pod's Deployment."""
    joined = f"{per_pod} * on (namespace, pod) group_left (workload) {_POD_WORKLOAD}"
    return _sum_by(joined)


def _pod_sum(expr: str) -> str:
    return _sum_by(expr, "namespace, pod")


_CONTAINERS = f'namespace=~"{_NS}", container!="", container!="POD"'

_RESOURCE_TEMPLATES: dict[Signal, str] = {
    Signal.CPU_SATURATION: (
        _per_workload(
            _pod_sum(f"rate(container_cpu_usage_seconds_total{{{_CONTAINERS}}}[{_WINDOW}])")
        )
        + " / "
        + _per_workload(
            _pod_sum(
                _selector(
                    "kube_pod_container_resource_requests", f'namespace=~"{_NS}"', 'resource="cpu"'
                )
            )
        )
    ),
    Signal.MEMORY_SATURATION: (
        _per_workload(_pod_sum(f"container_memory_working_set_bytes{{{_CONTAINERS}}}"))
        + " / "
        + _per_workload(
            _pod_sum(
                _selector(
                    "kube_pod_container_resource_limits", f'namespace=~"{_NS}"', 'resource="memory"'
                )
            )
        )
    ),
    Signal.RESTARTS: _per_workload(
        _pod_sum(_selector("kube_pod_container_status_restarts_total", f'namespace=~"{_NS}"'))
    ),
    Signal.REPLICAS_AVAILABLE: _sum_by(
        _relabel(
            _selector(
                "kube_deployment_status_replicas_available",
                f'namespace=~"{_NS}"',
                f'deployment=~"{_WL}"',
            ),
            "deployment",
            "workload",
        )
    ),
}


def preset_templates(preset: str) -> dict[Signal, str]:
    """Every signal's built-in template for ``preset`` (placeholders not yet filled)."""
    conv = CONVENTIONS[preset]
    return {
        Signal.REQUEST_RATE: _request_rate(conv),
        Signal.ERROR_RATIO: _error_ratio(conv),
        Signal.LATENCY_P50: _latency(conv, 0.5),
        Signal.LATENCY_P99: _latency(conv, 0.99),
        **_RESOURCE_TEMPLATES,
    }


def _override_error(key: str, reason: str) -> ConfigError:
    return ConfigError(SETTINGS_SOURCE, f"prometheus.queries.{key}", reason)


def validate_overrides(overrides: dict[str, str]) -> dict[Signal, str]:
    """Check ``PrometheusSettings.queries``: known signal names, non-empty, known placeholders."""
    checked: dict[Signal, str] = {}
    known = ", ".join(s.value for s in Signal)
    for key, template in overrides.items():
        try:
            signal = Signal(key)
        except ValueError:
            raise _override_error(key, f"unknown signal {key!r}; expected one of {known}") from None
        if not template.strip():
            raise _override_error(key, "the query template is empty")
        unknown = sorted(set(_PLACEHOLDER.findall(template)) - PLACEHOLDERS)
        if unknown:
            allowed = ", ".join(f"${{{name}}}" for name in sorted(PLACEHOLDERS))
            raise _override_error(key, f"unknown placeholder ${{{unknown[0]}}}; allowed: {allowed}")
        checked[signal] = template
    return checked


def templates(settings: PrometheusSettings) -> dict[Signal, str]:
    """The effective template of every signal: the preset's, then the overrides."""
    return {**preset_templates(settings.preset), **validate_overrides(settings.queries)}


def escape_regex(value: str) -> str:
    """Escape RE2 metacharacters so that ``value`` matches only itself."""
    return "".join(f"\\{char}" if char in _RE2_SPECIAL else char for char in value)


def regex_alternation(values: Iterable[str]) -> str:
    """An anchored-by-PromQL alternation of ``values``, escaped for a double-quoted literal."""
    pattern = "|".join(escape_regex(value) for value in sorted(set(values)))
    return pattern.replace("\\", "\\\\").replace('"', '\\"')


def rate_window(step: timedelta) -> str:
    """The ``rate()`` range: four steps (so a window always holds several samples), >= 1m."""
    seconds = max(4 * step.total_seconds(), 60.0)
    return f"{int(round(seconds))}s"


def fill(template: str, values: dict[str, str]) -> str:
    """Replace every ``${name}`` of ``template``; a name without a value is a ConfigError."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise ConfigError(SETTINGS_SOURCE, "prometheus.queries", f"unknown ${{{name}}}")
        return values[name]

    return _PLACEHOLDER.sub(replace, template)


def placeholder_values(
    settings: PrometheusSettings, workloads: Sequence[WorkloadRef]
) -> dict[str, str]:
    """The placeholder values for one batch of watched workloads."""
    if not workloads:
        raise ValueError("no workloads to query: an empty selector would match everything")
    return {
        "namespace_regex": regex_alternation(ref.namespace for ref in workloads),
        "workload_regex": regex_alternation(ref.name for ref in workloads),
        "rate_window": rate_window(settings.step),
    }


def render_query(
    signal: Signal, settings: PrometheusSettings, workloads: Sequence[WorkloadRef]
) -> str:
    """The PromQL that fetches ``signal`` for all ``workloads`` at once.

    The namespace and workload regexes are matched independently, so the result may hold
    extra (namespace, workload) pairs; callers keep only the watched ones.
    """
    return fill(templates(settings)[signal], placeholder_values(settings, workloads))
