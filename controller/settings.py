"""The one typed settings root: ``Settings`` (env prefix ``AIOPS_``, nested delimiter ``__``).

Values come from, in rising priority: defaults here, an optional YAML file (``--config`` or
``AIOPS_CONFIG``), then environment variables such as ``AIOPS_DETECTION__LATENCY_FOR=5m``.
Settings are passed explicitly; nothing reads ``os.environ`` at import time.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from controller.errors import ConfigError
from controller.models.base import Duration
from controller.models.incident import Severity
from controller.models.signals import Signal
from controller.yamlfile import YamlSpec, load_yaml_file, require_mapping

SETTINGS_YAML = YamlSpec(what="settings file", error=ConfigError)
"""Settings files: YAML 1.2 read strictly (controller.yamlfile), at most 1 MiB."""


class _Group(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class BurnWindow(_Group):
    """One multi-window burn-rate alert: both windows must burn faster than ``factor``."""

    long: Duration
    short: Duration
    factor: float = Field(gt=0, description="Burn rate (multiples of the error budget).")
    severity: Severity = Severity.PAGE


def _default_burn_windows() -> tuple[BurnWindow, ...]:
    # The SRE Workbook's paging pair: 2% of a 30-day budget in 1h, 5% in 6h.
    return (
        BurnWindow(long=timedelta(hours=1), short=timedelta(minutes=5), factor=14.4),
        BurnWindow(long=timedelta(hours=6), short=timedelta(minutes=30), factor=6.0),
    )


class DetectionSettings(_Group):
    """Thresholds of the deterministic detectors. Durations accept ``"5m"`` style strings."""

    burn_windows: tuple[BurnWindow, ...] = Field(default_factory=_default_burn_windows)
    min_request_rate: float = Field(
        default=0.05, ge=0, description="req/s below which error ratios are too noisy to judge."
    )
    latency_p99_seconds: float = Field(
        default=1.0, gt=0, description="p99 threshold when the workload's SLO sets none."
    )
    latency_for: Duration = Field(default=timedelta(minutes=3), description="Persistence.")
    clear_ratio: float = Field(
        default=0.8, gt=0, lt=1, description="Hysteresis: clear below threshold x clear_ratio."
    )
    clear_for: Duration = Field(default=timedelta(minutes=5), description="Time below to clear.")
    cpu_saturation: float = Field(default=0.9, gt=0, description="usage / request.")
    memory_saturation: float = Field(default=0.9, gt=0, le=1, description="usage / limit.")
    saturation_for: Duration = timedelta(minutes=5)
    memory_leak_window: Duration = Field(default=timedelta(minutes=30))
    memory_leak_min_growth: float = Field(
        default=0.15, gt=0, le=1, description="Growth (fraction of the limit) over the window."
    )
    memory_leak_horizon: Duration = Field(
        default=timedelta(hours=2), description="Fire when the trend reaches the limit within."
    )
    crash_loop_restarts: int = Field(default=3, ge=1)
    crash_loop_window: Duration = timedelta(minutes=10)
    restart_burst_restarts: int = Field(default=5, ge=1)
    restart_burst_window: Duration = timedelta(minutes=2)
    stuck_rollout_deadline: Duration = timedelta(minutes=10)
    change_window: Duration = Field(
        default=timedelta(minutes=30), description="A change this close before onset is a suspect."
    )
    over_provisioned_below: float = Field(default=0.2, gt=0, lt=1, description="cpu usage/request.")
    over_provisioned_for: Duration = timedelta(hours=2)
    stale_after: Duration = Field(
        default=timedelta(seconds=90), description="A signal with no newer sample is no_data."
    )
    required_signals: tuple[Signal, ...] = Field(
        default=(
            Signal.REQUEST_RATE,
            Signal.ERROR_RATIO,
            Signal.LATENCY_P99,
            Signal.CPU_SATURATION,
            Signal.MEMORY_SATURATION,
            Signal.RESTARTS,
        ),
        description="Signals whose absence makes a workload blind.",
    )


class RetrySettings(_Group):
    """The one retry layer of an adapter (R9): bounded, jittered, honouring Retry-After."""

    attempts: int = Field(
        default=3, ge=1, le=10, description="Tries per logical call, first included."
    )
    initial_backoff: Duration = Field(default=timedelta(milliseconds=500))
    max_backoff: Duration = Field(default=timedelta(seconds=10))
    max_retry_after: Duration = Field(
        default=timedelta(seconds=30), description="A longer Retry-After fails the call instead."
    )


class BreakerSettings(_Group):
    """Circuit breaker: open after repeated failures, half-open with one probe."""

    failures: int = Field(default=5, ge=1, description="Consecutive failures that open it.")
    reset_after: Duration = Field(
        default=timedelta(seconds=30), description="Open time before one probe is let through."
    )


class PrometheusSettings(_Group):
    """Where and how to query metrics."""

    url: str | None = Field(default=None, description="Base URL, e.g. http://prometheus:9090.")
    preset: Literal["kube-state-metrics", "otel-http", "istio", "linkerd"] = Field(
        default="kube-state-metrics", description="Label conventions of the PromQL templates."
    )
    queries: dict[str, str] = Field(
        default_factory=dict, description="Per-signal PromQL template overrides."
    )
    timeout: Duration = Field(
        default=timedelta(seconds=10), description="Per query: the whole answer, body included."
    )
    # A first tick of 10,000 workloads x 6 h at 30 s is ~160 MB of JSON per signal; 512 MiB
    # leaves room for that and stops a template that matches millions of series.
    max_response_bytes: int = Field(
        default=512 * 1024 * 1024,
        ge=1024,
        description="Largest answer read (decoded bytes); a larger one is an error, not read.",
    )
    step: Duration = Field(default=timedelta(seconds=30), description="Range query resolution.")
    lookback: Duration = Field(
        default=timedelta(hours=6), description="History kept per series (longest detector window)."
    )
    retry: RetrySettings = RetrySettings()
    breaker: BreakerSettings = BreakerSettings()
    headers: dict[str, str] = Field(default_factory=dict, description="Extra HTTP headers.")
    verify_tls: bool = True


class TracesSettings(_Group):
    """The OTLP/HTTP receiver and its bounded aggregation."""

    host: str = Field(default="127.0.0.1", description="Listen address (0.0.0.0 in cluster).")
    port: int = Field(default=4318, ge=0, le=65535, description="OTLP/HTTP default port.")
    window: Duration = Field(default=timedelta(minutes=5), description="Sliding window.")
    bucket: Duration = Field(default=timedelta(seconds=10), description="Window granularity.")
    max_services: int = Field(default=500, ge=1)
    max_edges: int = Field(default=2000, ge=1)
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    # Without a shared budget, max_connections x max_body_bytes (2 GiB) could be in flight.
    max_inflight_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1024,
        description="Decoded body bytes held by all exports at once; past it 503 + Retry-After.",
    )
    max_pending_spans: int = Field(
        default=100_000, ge=0, description="Client spans kept to join with server spans."
    )
    # Connection limits (observers/traces/connections.py). A head is well under 1 KiB, so 10 s
    # only ever cuts a stalled client, and matches the SDK exporters' own 10 s export deadline.
    header_timeout: Duration = Field(
        default=timedelta(seconds=10),
        gt=timedelta(0),
        description="Whole request head, from connect (or its first byte on a reused one).",
    )
    # 8 MiB (max_body_bytes) in 30 s needs only ~280 KB/s; exporters give up sooner by default.
    body_timeout: Duration = Field(
        default=timedelta(seconds=30),
        gt=timedelta(0),
        description="Whole request body, from the end of the head; then HTTP 408 and close.",
    )
    # Above the SDK batch interval (5 s), so a steady exporter keeps its connection rather than
    # racing the close; low enough that idle connections do not sit on the cap's slots.
    idle_timeout: Duration = Field(
        default=timedelta(seconds=15),
        gt=timedelta(0),
        description="Keep-alive: an idle connection closes (uvicorn: whole seconds, rounded up).",
    )
    # Senders are a Collector (a few connections) or SDKs (one each); 256 stays well inside
    # the default 1024 open-file limit next to the controller's own sockets.
    max_connections: int = Field(
        default=256, ge=1, description="Open connections; one more is answered 503 and closed."
    )

    @model_validator(mode="after")
    def _budget_takes_one_body(self) -> TracesSettings:
        """A budget below one body would answer a large export 503 on every retry."""
        if self.max_inflight_bytes < self.max_body_bytes:
            raise ValueError(
                f"max_inflight_bytes ({self.max_inflight_bytes}) must be at least "
                f"max_body_bytes ({self.max_body_bytes})"
            )
        return self


class KubeSettings(_Group):
    """The Kubernetes API and the watch cache."""

    kubeconfig: str | None = Field(default=None, description="None: in-cluster config.")
    context: str | None = None
    namespaces: tuple[str, ...] = Field(
        default=(), description="Namespaces to watch; empty: every namespace."
    )
    resync: Duration = Field(default=timedelta(minutes=10), description="Periodic re-list.")
    watch_timeout: Duration = Field(
        default=timedelta(minutes=5), description="Server-side watch timeout before re-watch."
    )
    request_timeout: Duration = Field(default=timedelta(seconds=10))
    qps: float = Field(default=5.0, gt=0, description="Client-side request rate limit.")


class LeaderSettings(_Group):
    """Leader election over a ``coordination.k8s.io/v1`` Lease (``controller.kube.lease``).

    Followers wait ``lease_duration`` after they last saw the Lease change before taking it;
    the leader writes only within ``renew_deadline`` of its last successful renewal, so the
    difference (5 s by default) is the margin for clock-rate drift and a write in flight.
    """

    lease_name: str = Field(default="aiops-controller", min_length=1, max_length=253)
    namespace: str | None = Field(
        default=None, description="None: POD_NAMESPACE, else the service account's namespace."
    )
    lease_duration: Duration = Field(
        default=timedelta(seconds=15), description="How long followers wait on a silent lease."
    )
    renew_deadline: Duration = Field(
        default=timedelta(seconds=10), description="Writes stop this long after the last renew."
    )
    retry_period: Duration = Field(
        default=timedelta(seconds=2), description="Interval between acquire or renew tries."
    )
    identity: str | None = Field(default=None, description="None: POD_NAME, else the hostname.")

    @model_validator(mode="after")
    def _ordered(self) -> LeaderSettings:
        # client-go's rules: the margin must be positive and leave room for retries.
        if self.lease_duration <= self.renew_deadline:
            raise ValueError("leader.lease_duration must be greater than leader.renew_deadline")
        if self.renew_deadline <= self.retry_period * 1.2:
            raise ValueError("leader.renew_deadline must exceed 1.2 x leader.retry_period")
        if self.retry_period < timedelta(milliseconds=1):
            raise ValueError("leader.retry_period must be at least 1ms")
        return self


class ModeSettings(_Group):
    """When the controller stops trusting what it sees."""

    metrics_stale_after: Duration = Field(
        default=timedelta(seconds=90), description="No successful query for this long: blind."
    )
    traces_stale_after: Duration = Field(
        default=timedelta(minutes=5), description="No export for this long: degraded."
    )
    fleet_fraction: float = Field(
        default=0.3, gt=0, le=1, description="Share of workloads breaching at once: freeze."
    )
    fleet_count: int = Field(default=5, ge=1, description="Number breaching at once: freeze.")
    step_change_factor: float = Field(
        default=10.0, gt=1, description="An SLI jumping by this factor fleet-wide: freeze."
    )
    recovery_window: Duration = Field(
        default=timedelta(minutes=5), description="Fresh data needed after blind before acting."
    )


class LlmSettings(_Group):
    """The LLM planner (Claude through the Messages API). The key comes from
    ``ANTHROPIC_API_KEY`` (read once at start-up by the composition root); without one the
    controller plans with runbooks only and says so once."""

    enabled: bool = Field(default=True, description="False: runbook planner only.")
    model: str = Field(default="claude-sonnet-4-5", min_length=1)
    base_url: str | None = Field(default=None, description="Override the API endpoint.")
    max_tokens: int = Field(default=2048, ge=256, le=16384, description="Per reply.")
    call_timeout: Duration = Field(default=timedelta(seconds=30), description="Per HTTP call.")
    deadline: Duration = Field(
        default=timedelta(seconds=90), description="Whole planning of one incident."
    )
    retry: RetrySettings = Field(
        default_factory=lambda: RetrySettings(attempts=3),
        description="The one retry layer (the SDK's own retries are off).",
    )
    breaker: BreakerSettings = BreakerSettings()
    max_tool_calls: int = Field(default=6, ge=0, le=50, description="Per incident.")
    incident_token_budget: int = Field(default=60_000, ge=1000, description="Per incident.")
    daily_token_budget: int = Field(default=2_000_000, ge=1000, description="Per UTC day.")
    max_reply_bytes: int = Field(default=64 * 1024, ge=1024, description="Larger is invalid.")
    telemetry_max_chars: int = Field(
        default=4000,
        ge=200,
        description=(
            "Characters of untrusted text in the prompt: per string, and per telemetry list "
            "(events, span attributes, log lines: the newest that fit); tool results get "
            "twice this, at least 1000."
        ),
    )


class ApprovalSettings(_Group):
    """Human approval timing."""

    ttl: Duration = Field(default=timedelta(minutes=15), description="Unanswered means rejected.")


class ReplaySettings(_Group):
    """Replay engine defaults."""

    tick: Duration | None = Field(
        default=None, description="Simulated loop interval; default: the incident's step."
    )


class OperatorSettings(_Group):
    """``aiops run``: the live operator's tick, HTTP server, state, mounted files and shutdown."""

    tick_interval: Duration = Field(
        default=timedelta(seconds=15),
        gt=timedelta(0),
        description="Wall-clock loop interval; a late tick skips ahead, never piles up.",
    )
    host: str = Field(default="127.0.0.1", description="HTTP listen address (0.0.0.0 in cluster).")
    port: int = Field(
        default=8080, ge=0, le=65535, description="One port: probes, /metrics, OTLP, Slack."
    )
    state_dir: Path = Field(
        default=Path("aiops-state"), description="State store, checkpoints and the ledger."
    )
    incident_dir: Path | None = Field(
        default=None, description="Incident files for replay; default: <state_dir>/incidents."
    )
    incident_lookback: Duration = Field(
        default=timedelta(minutes=30), description="Incident files start this long before onset."
    )
    policy: Path | None = Field(default=None, description="Mounted policy file; None: bundled.")
    runbooks: Path | None = Field(default=None, description="Mounted runbook folder.")
    reload: bool = Field(default=True, description="Poll policy and runbooks for changes.")
    reload_every: Duration = Field(
        default=timedelta(seconds=5), description="At most one poll of the mounted files per this."
    )
    grace_period: Duration = Field(
        default=timedelta(seconds=25),
        gt=timedelta(0),
        description="Shutdown budget; below the pod's terminationGracePeriodSeconds (30).",
    )
    sync_timeout: Duration = Field(
        default=timedelta(seconds=60), description="Start-up wait for the cache to sync."
    )
    ready_tick_age: Duration | None = Field(
        default=None, description="/readyz fails after this long without a tick; 3 ticks."
    )
    namespace: str = Field(
        default="aiops-system", description="Where the operator's own Events go (POD_NAMESPACE)."
    )
    tracing_endpoint: str | None = Field(
        default=None, description="OTLP/HTTP base URL for the operator's spans (else OTEL_*)."
    )


class KillSwitchSettings(_Group):
    """The cluster-wide kill switch (a ConfigMap) and the Remediation answers (R14, R3)."""

    namespace: str = Field(
        default="aiops", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63,
        description="Namespace of the kill-switch ConfigMap (the operator's).",
    )  # fmt: skip
    name: str = Field(
        default="aiops-controller-kill-switch", min_length=1, max_length=253,
        description="ConfigMap whose data.engaged == 'true' stops every write.",
    )  # fmt: skip
    cache_for: Duration = Field(
        default=timedelta(seconds=1), ge=timedelta(0), le=timedelta(seconds=10),
        description="A read this recent answers engaged() without a new GET (below one tick).",
    )  # fmt: skip
    request_timeout: Duration = Field(
        default=timedelta(seconds=2), gt=timedelta(0),
        description="One GET of the switch; no answer in time means engaged (fail closed).",
    )  # fmt: skip


class LogSettings(_Group):
    """Structured logging."""

    format: Literal["console", "json"] = "console"
    level: Literal["debug", "info", "warning", "error"] = "warning"


class Settings(BaseSettings):
    """Root of all controller configuration."""

    model_config = SettingsConfigDict(
        env_prefix="AIOPS_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    detection: DetectionSettings = DetectionSettings()
    prometheus: PrometheusSettings = PrometheusSettings()
    traces: TracesSettings = TracesSettings()
    kube: KubeSettings = KubeSettings()
    leader: LeaderSettings = LeaderSettings()
    modes: ModeSettings = ModeSettings()
    llm: LlmSettings = LlmSettings()
    approvals: ApprovalSettings = ApprovalSettings()
    kill_switch: KillSwitchSettings = KillSwitchSettings()
    replay: ReplaySettings = ReplaySettings()
    operator: OperatorSettings = OperatorSettings()
    log: LogSettings = LogSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment beats the YAML file (passed as init values), which beats defaults."""
        return (env_settings, init_settings)


def _location(error: Any) -> str:
    return ".".join(str(part) for part in error["loc"]) or "(root)"


def load_settings(config_file: Path | None = None) -> Settings:
    """Build settings from an optional YAML file plus the environment; raise ConfigError."""
    source = str(config_file) if config_file else "environment (AIOPS_*)"
    values: dict[str, Any] = {}
    if config_file is not None:  # an empty file (or only comments) means the defaults
        document = load_yaml_file(config_file, SETTINGS_YAML)
        values = require_mapping(document, source, SETTINGS_YAML, allow_empty=True)
    try:
        return Settings(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(source, _location(first), first["msg"]) from exc
