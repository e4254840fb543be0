"""Workloads and what the controller knows about them: replicas, resources, HPA, revisions."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from controller.models.base import FrozenModel, UtcDatetime

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"


class WorkloadRef(FrozenModel):
    """Identity of a workload. Only Deployments are remediated in this version."""

    namespace: str = Field(pattern=DNS_LABEL, max_length=63)
    name: str = Field(pattern=DNS_SUBDOMAIN, max_length=253)
    kind: str = Field(default="Deployment", pattern=r"^Deployment$")

    @property
    def key(self) -> str:
        """``namespace/name``: unique among the workloads of one incident file."""
        return f"{self.namespace}/{self.name}"

    def __str__(self) -> str:
        return self.key


class ScalingOwner(StrEnum):
    """Who decides ``spec.replicas``. Anything but NONE means: do not write replicas."""

    NONE = "none"
    HPA = "hpa"
    KEDA = "keda"
    ARGO_ROLLOUTS = "argo_rollouts"
    GITOPS = "gitops"


class Resources(FrozenModel):
    """Per-pod requests and limits; saturation signals are relative to these."""

    cpu_request_cores: float | None = Field(default=None, gt=0)
    cpu_limit_cores: float | None = Field(default=None, gt=0)
    memory_request_bytes: int | None = Field(default=None, gt=0)
    memory_limit_bytes: int | None = Field(default=None, gt=0)


class HpaSpec(FrozenModel):
    """A HorizontalPodAutoscaler that owns the workload's replica count."""

    name: str = Field(pattern=DNS_SUBDOMAIN)
    min_replicas: int = Field(ge=1)
    max_replicas: int = Field(ge=1)
    target_cpu_utilization: float | None = Field(
        default=None, gt=0, le=10, description="Ratio of requests; above 1 is valid (150% = 1.5)."
    )

    @model_validator(mode="after")
    def _bounds_ordered(self) -> HpaSpec:
        if self.min_replicas > self.max_replicas:
            raise ValueError("min_replicas must not exceed max_replicas")
        return self


class Revision(FrozenModel):
    """One entry of a Deployment's rollout history (a ReplicaSet revision)."""

    revision: int = Field(ge=1)
    image: str = Field(min_length=1)
    created: UtcDatetime
    change_cause: str = ""


class ReplicaStatus(FrozenModel):
    """Replica counts as the Deployment status reports them."""

    desired: int = Field(ge=0)
    ready: int = Field(ge=0)
    available: int = Field(ge=0)
    updated: int = Field(ge=0)


class SloSpec(FrozenModel):
    """Service-level objectives that detection measures the workload against."""

    availability: float = Field(default=0.999, gt=0, lt=1)
    latency_p99_seconds: float | None = Field(default=None, gt=0)


class WorkloadInventory(FrozenModel):
    """Everything known about one workload, as captured for the incident.

    Capture usually happens at the fault, so ``current_revision`` is the revision that was
    running then. During a replay, recorded deploy events move the simulated cluster's
    current revision at their time (adding unknown revisions to the history).
    """

    ref: WorkloadRef
    service: str | None = Field(
        default=None, description="Service name used in traces; defaults to the workload name."
    )
    replicas: ReplicaStatus
    resources: Resources = Resources()
    hpa: HpaSpec | None = None
    scaling_owner: ScalingOwner = ScalingOwner.NONE
    revisions: tuple[Revision, ...] = Field(default=(), description="Oldest first.")
    current_revision: int | None = Field(default=None, ge=1)
    slo: SloSpec = SloSpec()
    labels: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> WorkloadInventory:
        numbers = [r.revision for r in self.revisions]
        if numbers != sorted(set(numbers)):
            raise ValueError("revisions must be unique and listed oldest first")
        if self.current_revision is not None and self.current_revision not in numbers:
            raise ValueError(f"current_revision {self.current_revision} is not in revisions")
        if self.hpa is not None and self.scaling_owner is ScalingOwner.NONE:
            raise ValueError("a workload with an hpa must have scaling_owner 'hpa'")
        return self

    @property
    def service_name(self) -> str:
        """Name of the workload in traces."""
        return self.service or self.ref.name

    @property
    def current(self) -> Revision | None:
        """The revision currently rolled out, if known."""
        wanted = self.current_revision or (self.revisions[-1].revision if self.revisions else None)
        return next((r for r in self.revisions if r.revision == wanted), None)

    def revision(self, number: int) -> Revision | None:
        """Look up one revision of the history."""
        return next((r for r in self.revisions if r.revision == number), None)


class NamespaceInfo(FrozenModel):
    """A namespace and its labels (policy opts namespaces in by label)."""

    name: str = Field(pattern=DNS_LABEL, max_length=63)
    labels: dict[str, str] = Field(default_factory=dict)
