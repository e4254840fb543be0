"""What a simulated cluster is made of: workloads, their HPAs and the scripted faults.

A scenario is plain data (a YAML 1.2 file read by ``controller.yamlfile``, or the models built
in code), validated strictly: an unknown field or a fault naming an unknown workload fails
on load with the file, the place and the reason, instead of silently simulating something
else. Fault times (``at``, ``until``) are offsets from the scenario's start, the moment the
simulation goes live; the warm-up history before it never holds a fault.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, model_validator

from controller.errors import InputError
from controller.incident_loader import first_error
from controller.models.base import Duration, FrozenModel
from controller.yamlfile import (
    YamlDocument,
    YamlSpec,
    load_yaml_file,
    parse_yaml,
    require_mapping,
)

SCENARIO_YAML = YamlSpec(what="simulator scenario")
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
MIB = 1024 * 1024


class HpaSpec(FrozenModel):
    """A HorizontalPodAutoscaler (autoscaling/v2, CPU utilisation) seeded for the workload."""

    min_replicas: int = Field(default=1, ge=1)
    max_replicas: int = Field(ge=1)
    target_cpu_utilization: int = Field(default=80, ge=1, le=1000, description="Percent.")

    @model_validator(mode="after")
    def _bounds(self) -> HpaSpec:
        if self.max_replicas < self.min_replicas:
            raise ValueError("max_replicas must be at least min_replicas")
        return self


class WorkloadSpec(FrozenModel):
    """One Deployment and how its pods behave under load.

    ``capacity_rps`` is what one ready replica serves at full utilisation, where it uses its
    whole CPU limit (serving is CPU-bound); utilisation is served load over total capacity,
    and latency grows with it (``model.latency_quantile``).
    ``image_error_ratios`` names images that are bad on their own (a test that deploys a bad
    image itself); a ``bad_deploy`` fault adds its image there too.
    """

    namespace: str = Field(pattern=DNS_LABEL, max_length=63)
    name: str = Field(pattern=DNS_LABEL, max_length=63)
    replicas: int = Field(default=2, ge=0)
    image: str = Field(min_length=1)
    container: str = Field(default="app", pattern=DNS_LABEL)
    load_rps: float = Field(default=50.0, ge=0)
    capacity_rps: float = Field(default=40.0, gt=0, description="Per ready replica.")
    base_latency_seconds: float = Field(default=0.02, ge=0)
    queue_latency_seconds: float = Field(
        default=0.01, gt=0, description="Mean queueing delay at zero load; / (1 - utilisation)."
    )
    error_ratio: float = Field(default=0.001, ge=0, le=1)
    image_error_ratios: dict[str, float] = Field(default_factory=dict)
    cpu_request_cores: float = Field(default=0.5, gt=0)
    cpu_limit_cores: float = Field(default=1.0, gt=0)
    cpu_idle_cores: float = Field(default=0.02, ge=0)
    memory_request_bytes: int = Field(default=256 * MIB, gt=0)
    memory_limit_bytes: int = Field(default=512 * MIB, gt=0)
    memory_base_bytes: int = Field(default=160 * MIB, ge=0)
    startup_seconds: float = Field(default=0.0, ge=0, description="Pod created -> ready.")
    calls: tuple[str, ...] = Field(default=(), description="Workload names it calls per request.")
    hpa: HpaSpec | None = None

    @property
    def key(self) -> str:
        """``namespace/name``, how faults and the simulator name the workload."""
        return f"{self.namespace}/{self.name}"

    @model_validator(mode="after")
    def _consistent(self) -> WorkloadSpec:
        if self.memory_base_bytes >= self.memory_limit_bytes:
            raise ValueError("memory_base_bytes must be below memory_limit_bytes")
        if any(not 0 <= ratio <= 1 for ratio in self.image_error_ratios.values()):
            raise ValueError("image_error_ratios must be between 0 and 1")
        return self


class _Fault(FrozenModel):
    at: Duration = Field(description="Offset from the scenario start.")
    workload: str = Field(pattern=r"^[a-z0-9-]+/[a-z0-9-]+$", description="namespace/name")


class BadDeploy(_Fault):
    """A pipeline rolls out ``image``, whose requests fail with ``error_ratio`` (HTTP 500)."""

    kind: Literal["bad_deploy"] = "bad_deploy"
    image: str = Field(min_length=1)
    error_ratio: float = Field(default=0.3, ge=0, le=1)


class TrafficSurge(_Fault):
    """Offered load times ``factor`` from ``at`` until ``until`` (open-ended without)."""

    kind: Literal["traffic_surge"] = "traffic_surge"
    factor: float = Field(default=3.0, gt=0)
    until: Duration | None = None


class MemoryLeak(_Fault):
    """Each container leaks ``bytes_per_second`` from max(its start, ``at``); a restart (new
    pods) clears it, reaching the limit is an OOM kill (restart count + 1). With ``image``
    only pods of that image leak (the leak ships with a release; a rollback cures it)."""

    kind: Literal["memory_leak"] = "memory_leak"
    bytes_per_second: float = Field(default=4 * MIB, gt=0)
    image: str | None = None


class CpuSaturation(_Fault):
    """Every pod burns ``cores`` more (a hot loop), which also takes that share of the
    CPU limit away from serving: capacity per replica shrinks and latency climbs."""

    kind: Literal["cpu_saturation"] = "cpu_saturation"
    cores: float = Field(default=0.8, gt=0)
    until: Duration | None = None


Fault = Annotated[
    BadDeploy | TrafficSurge | MemoryLeak | CpuSaturation, Field(discriminator="kind")
]


class Scenario(FrozenModel):
    """Workloads, faults and the pacing of one simulation."""

    name: str = "scenario"
    namespaces: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Labels per namespace (``aiops.dev/remediate: enabled`` opts one in).",
    )
    workloads: tuple[WorkloadSpec, ...] = Field(min_length=1)
    faults: tuple[Fault, ...] = ()
    step: Duration = Field(default=timedelta(seconds=1), description="Longest integration step.")
    history: Duration = Field(
        default=timedelta(0), description="Warm-up history before the start, fast-forwarded."
    )
    warmup_step: Duration = Field(
        default=timedelta(seconds=5), description="Simulated time one warm-up scrape moves on."
    )
    hpa_sync: Duration = Field(default=timedelta(seconds=5), description="HPA controller period.")
    hpa_downscale_window: Duration = Field(default=timedelta(seconds=30))
    seed: int = 0

    @model_validator(mode="after")
    def _known(self) -> Scenario:
        keys = [w.key for w in self.workloads]
        if len(set(keys)) != len(keys):
            raise ValueError("workload names must be unique per namespace")
        for fault in self.faults:
            if fault.workload not in keys:
                raise ValueError(f"fault {fault.kind} names unknown workload {fault.workload}")
        for spec in self.workloads:
            unknown = [c for c in spec.calls if f"{spec.namespace}/{c}" not in keys]
            if unknown:
                raise ValueError(f"{spec.key} calls unknown workload {unknown[0]}")
        if self.step <= timedelta(0) or self.warmup_step <= timedelta(0):
            raise ValueError("step and warmup_step must be positive")
        return self

    def workload(self, key: str) -> WorkloadSpec:
        """The spec of ``namespace/name`` (KeyError when unknown)."""
        for spec in self.workloads:
            if spec.key == key:
                return spec
        raise KeyError(key)


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """A scenario from YAML text; InputError naming the place and the reason when invalid."""
    return _validated(parse_yaml(text, source, SCENARIO_YAML), source)


def load_scenario(path: Path) -> Scenario:
    """A scenario from a YAML file (at most 1 MiB, YAML 1.2, read strictly)."""
    return _validated(load_yaml_file(path, SCENARIO_YAML), path)


def _validated(document: YamlDocument, source: str | Path) -> Scenario:
    data = require_mapping(document, str(source), SCENARIO_YAML)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        _, reason = first_error(exc)
        loc = [part for part in exc.errors()[0]["loc"] if not str(part).startswith("function-")]
        raise InputError(source, document.where(loc), reason) from exc
