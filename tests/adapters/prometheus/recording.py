"""Recorded series for the real Prometheus: a known truth, written as OpenMetrics text.

Three watched workloads in two namespaces (shop/web, shop/cart, pay/api) plus decoys that
the queries must leave out (pay/web collides with the watched names across namespaces,
shop/admin is not watched, cAdvisor's pod-level and pause-container series, Istio's source
reporter, Linkerd's outbound direction, a StatefulSet pod). The same truth is written in the
label conventions of all four presets, and ``expected`` says what each signal must read at
each evaluation step, computed from the truth (not from Prometheus).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

from controller.models.signals import Signal
from controller.models.workloads import WorkloadRef

STEP = 30
HOURS = 3
RATE_WINDOW = 120
"""What queries.rate_window gives for a 30 s step: 4 steps."""
LOOKBACK_DELTA = 300
"""Prometheus' default instant-vector lookback: a stopped gauge is repeated this long."""
OFFSET = 86_400
"""Counters start a day "before" the recording, so rate() is never clamped at zero."""

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0)
"""Latency bucket bounds in seconds (+Inf implied)."""

UNIT_METRIC = "workload:http_request_duration_seconds:p99"
"""A recording-rule style gauge whose unit flips to milliseconds at ``unit_switch``."""


@dataclass(frozen=True)
class Truth:
    """What one workload really did; every recorded series derives from it."""

    namespace: str
    name: str
    watched: bool
    rps: float
    error_share: float
    latency_shares: tuple[float, ...]
    cpu_cores: tuple[float, ...]
    cpu_request: float
    memory_start: float
    memory_growth: float
    memory_limit: float
    restart_every: int | None = None

    @property
    def ref(self) -> WorkloadRef:
        return WorkloadRef(namespace=self.namespace, name=self.name)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def replicaset(self) -> str:
        return f"{self.name}-7d9f5"

    @property
    def pods(self) -> list[str]:
        return [f"{self.replicaset}-p{i}" for i in range(len(self.cpu_cores))]


_SHARES_A = (0.3, 0.35, 0.2, 0.1, 0.045, 0.005)
_SHARES_B = (0.1, 0.2, 0.4, 0.17, 0.12, 0.01)
_SHARES_C = (0.6, 0.25, 0.1, 0.035, 0.013, 0.002)

TRUTHS = (
    Truth("shop", "web", True, 10.0, 0.02, _SHARES_A, (0.2, 0.3), 0.5, 2e8, 1e4, 5.12e8, 600),
    Truth("shop", "cart", True, 4.0, 0.0, _SHARES_B, (0.05, 0.15), 0.25, 1e8, 2e3, 2.56e8),
    Truth("pay", "api", True, 2.5, 0.1, _SHARES_C, (0.4,), 0.5, 3e8, 5e3, 1.024e9, 900),
    Truth("pay", "web", False, 7.0, 0.5, _SHARES_B, (0.9,), 1.0, 9e8, 1e4, 1e9),
    Truth("shop", "admin", False, 1.0, 0.3, _SHARES_A, (0.7,), 1.0, 5e8, 1e4, 1e9),
)
WATCHED = tuple(t for t in TRUTHS if t.watched)
BY_KEY = {t.key: t for t in TRUTHS}


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _cumulative(shares: tuple[float, ...]) -> list[float]:
    total, out = 0.0, []
    for share in shares:
        total += share
        out.append(total)
    out[-1] = 1.0
    return out


def histogram_quantile(q: float, bounds: tuple[float, ...], shares: tuple[float, ...]) -> float:
    """Prometheus' bucketQuantile over cumulative shares (linear within a bucket)."""
    cumulative = _cumulative(shares)
    rank = q * cumulative[-1]
    b = next(i for i, c in enumerate(cumulative) if c >= rank)
    if b == len(bounds):
        return bounds[-1]
    start = 0.0 if b == 0 else bounds[b - 1]
    below = 0.0 if b == 0 else cumulative[b - 1]
    return start + (bounds[b] - start) * (rank - below) / (cumulative[b] - below)


@dataclass(frozen=True)
class Recording:
    """3 h of 30-s samples ending at ``end`` (a multiple of the step), in epoch seconds."""

    end: int

    @property
    def start(self) -> int:
        return self.end - HOURS * 3600

    @property
    def times(self) -> range:
        return range(self.start, self.end + 1, STEP)

    @property
    def stop(self) -> int:
        """pay/api's replicas gauge has no sample after this time."""
        return self.end - 20 * 60

    @property
    def unit_switch(self) -> int:
        """From here on the unit-metric gauge reports milliseconds."""
        return self.end - 30 * 60

    # -- truth -------------------------------------------------------------------

    def _age(self, t: int) -> float:
        return float(t - self.start + OFFSET)

    def restarts(self, truth: Truth, pod: int, t: int) -> float:
        """Pod 0 restarts every ``restart_every`` s during the last hour; others once."""
        if pod != 0 or truth.restart_every is None:
            return 1.0
        return 2.0 + max(0, t - (self.end - 3600)) // truth.restart_every

    def memory(self, truth: Truth, pod: int, t: int) -> float:
        return truth.memory_start * (pod + 1) + truth.memory_growth * (t - self.start)

    def replicas(self, truth: Truth, t: int) -> float | None:
        """Available replicas; shop/cart dips and reports NaN/Inf, pay/api stops."""
        if truth.key == "pay/api" and t > self.stop:
            return None
        if truth.key == "shop/cart":
            special = {
                self.end - 50 * 60: math.nan,
                self.end - 40 * 60: math.inf,
                self.end - 30 * 60: -math.inf,
                self.end - 25 * 60: math.nan,
            }
            if t in special:
                return special[t]
            if self.end - 90 * 60 <= t < self.end - 60 * 60:
                return 1.0
        return float(len(truth.cpu_cores))

    def unit_value(self, index: int, t: int) -> float:
        seconds = 0.1 * (index + 1)
        return seconds * 1000 if t >= self.unit_switch else seconds

    # -- OpenMetrics ---------------------------------------------------------------

    def lines(self) -> Iterator[str]:
        for index, truth in enumerate(TRUTHS):
            yield from self._http(truth)
            yield from self._pods(truth)
            yield from self._deployment(truth, index)
        yield "# EOF"

    def text(self) -> str:
        return "\n".join(self.lines()) + "\n"

    def _series(
        self, name: str, labels: str, value_at: Callable[[int], float | None]
    ) -> Iterator[str]:
        for t in self.times:
            value = value_at(t)
            if value is not None:
                yield f"{name}{labels} {_number(value)} {t}"

    def _counter(self, name: str, labels: str, rate: float) -> Iterator[str]:
        return self._series(name, labels, lambda t: rate * self._age(t))

    def _http(self, truth: Truth) -> Iterator[str]:
        ok, errors = truth.rps * (1 - truth.error_share), truth.rps * truth.error_share
        ns, wl = truth.namespace, truth.name
        cumulative = _cumulative(truth.latency_shares)
        bounds_s = [_number(b) for b in BUCKETS] + ["+Inf"]
        bounds_ms = [_number(b * 1000) for b in BUCKETS] + ["+Inf"]
        otel = {"k8s_namespace_name": ns, "service_name": wl, "namespace": "observability"}
        if truth.key != "pay/api":  # pay/api has no k8s_deployment_name: service_name fallback
            otel["k8s_deployment_name"] = wl
        istio = {"reporter": "destination", "destination_workload_namespace": ns}
        istio |= {"destination_workload": wl, "namespace": ns}
        linkerd = {"direction": "inbound", "namespace": ns, "deployment": wl}
        for code, rate in (("200", ok), ("503", errors)):
            if rate <= 0:
                continue
            failed = "failure" if code == "503" else "success"
            yield from self._counter(
                "http_requests_total", _labels(namespace=ns, workload=wl, code=code), rate
            )
            yield from self._counter(
                "http_server_request_duration_seconds_count",
                _labels(**otel, http_response_status_code=code),
                rate,
            )
            yield from self._counter(
                "istio_requests_total", _labels(**istio, response_code=code), rate
            )
            yield from self._counter(
                "response_total", _labels(**linkerd, classification=failed, status_code=code), rate
            )
        for share, le_s, le_ms in zip(cumulative, bounds_s, bounds_ms, strict=True):
            rate = truth.rps * share
            yield from self._counter(
                "http_request_duration_seconds_bucket",
                _labels(namespace=ns, workload=wl, le=le_s),
                rate,
            )
            yield from self._counter(
                "http_server_request_duration_seconds_bucket", _labels(**otel, le=le_s), rate
            )
            yield from self._counter(
                "istio_request_duration_milliseconds_bucket", _labels(**istio, le=le_ms), rate
            )
            yield from self._counter(
                "response_latency_ms_bucket", _labels(**linkerd, le=le_ms), rate
            )
        # Decoys: the client side of the same calls (Istio) and outbound calls (Linkerd).
        source = istio | {"reporter": "source", "response_code": "503"}
        yield from self._counter("istio_requests_total", _labels(**source), 1000.0)
        outbound = linkerd | {"direction": "outbound", "classification": "failure"}
        yield from self._counter("response_total", _labels(**outbound), 1000.0)

    def _pods(self, truth: Truth) -> Iterator[str]:
        ns = truth.namespace
        for i, (pod, cores) in enumerate(zip(truth.pods, truth.cpu_cores, strict=True)):
            cpu = "container_cpu_usage_seconds_total"
            yield from self._counter(cpu, _labels(namespace=ns, pod=pod, container="app"), cores)
            yield from self._counter(cpu, _labels(namespace=ns, pod=pod, container="POD"), 50.0)
            yield from self._counter(cpu, _labels(namespace=ns, pod=pod, container=""), 50.0)
            yield from self._series(
                "container_memory_working_set_bytes",
                _labels(namespace=ns, pod=pod, container="app"),
                partial(self.memory, truth, i),
            )
            yield from self._series(
                "container_memory_working_set_bytes",
                _labels(namespace=ns, pod=pod, container=""),
                lambda t: 1e12,
            )
            yield from self._series(
                "kube_pod_container_resource_requests",
                _labels(namespace=ns, pod=pod, container="app", resource="cpu", unit="core"),
                lambda t: truth.cpu_request,
            )
            yield from self._series(
                "kube_pod_container_resource_limits",
                _labels(namespace=ns, pod=pod, container="app", resource="memory", unit="byte"),
                lambda t: truth.memory_limit,
            )
            yield from self._series(
                "kube_pod_container_status_restarts_total",
                _labels(namespace=ns, pod=pod, container="app"),
                partial(self.restarts, truth, i),
            )
            owner = _labels(
                namespace=ns,
                pod=pod,
                owner_kind="ReplicaSet",
                owner_name=truth.replicaset,
                owner_is_controller="true",
            )
            yield from self._series("kube_pod_owner", owner, lambda t: 1.0)
        # A StatefulSet pod in the same namespace: its CPU belongs to no Deployment.
        db = f"{truth.name}-db-0"
        yield from self._counter(
            "container_cpu_usage_seconds_total", _labels(namespace=ns, pod=db, container="db"), 9.0
        )
        yield from self._series(
            "kube_pod_owner",
            _labels(namespace=ns, pod=db, owner_kind="StatefulSet", owner_name=f"{truth.name}-db"),
            lambda t: 1.0,
        )

    def _deployment(self, truth: Truth, index: int) -> Iterator[str]:
        ns = truth.namespace
        yield from self._series(
            "kube_replicaset_owner",
            _labels(
                namespace=ns,
                replicaset=truth.replicaset,
                owner_kind="Deployment",
                owner_name=truth.name,
                owner_is_controller="true",
            ),
            lambda t: 1.0,
        )
        yield from self._series(
            "kube_deployment_status_replicas_available",
            _labels(namespace=ns, deployment=truth.name),
            lambda t: self.replicas(truth, t),
        )
        yield from self._series(
            UNIT_METRIC,
            _labels(namespace=ns, workload=truth.name),
            lambda t: self.unit_value(index, t),
        )

    # -- what each signal must read -----------------------------------------------

    def expected(self, truth: Truth, signal: Signal) -> dict[float, float]:
        """Signal value per evaluation step (30-s grid), NaN/Inf already dropped."""
        rated = [t for t in self.times if t >= self.start + RATE_WINDOW]
        constant = self._constant(truth, signal)
        if constant is not None:
            return {float(t): constant for t in rated}
        if signal is Signal.MEMORY_SATURATION:
            limit = truth.memory_limit * len(truth.pods)
            return {
                float(t): sum(self.memory(truth, i, t) for i in range(len(truth.pods))) / limit
                for t in self.times
            }
        if signal is Signal.RESTARTS:
            return {
                float(t): sum(self.restarts(truth, i, t) for i in range(len(truth.pods)))
                for t in self.times
            }
        return self._replicas_expected(truth)

    def _constant(self, truth: Truth, signal: Signal) -> float | None:
        if signal is Signal.REQUEST_RATE:
            return truth.rps
        if signal is Signal.ERROR_RATIO:
            return truth.error_share
        if signal is Signal.LATENCY_P50:
            return histogram_quantile(0.5, BUCKETS, truth.latency_shares)
        if signal is Signal.LATENCY_P99:
            return histogram_quantile(0.99, BUCKETS, truth.latency_shares)
        if signal is Signal.CPU_SATURATION:
            return sum(truth.cpu_cores) / (truth.cpu_request * len(truth.cpu_cores))
        return None

    def _replicas_expected(self, truth: Truth) -> dict[float, float]:
        """The gauge at each step; a stopped gauge repeats for LOOKBACK_DELTA, as PromQL does."""
        out: dict[float, float] = {}
        last_at, last = -math.inf, math.nan
        for t in self.times:
            value = self.replicas(truth, t)
            if value is not None:
                last_at, last = t, value
            if t - last_at <= LOOKBACK_DELTA and math.isfinite(last):
                out[float(t)] = last
        return out
