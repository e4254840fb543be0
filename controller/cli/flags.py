"""The flags of ``aiops replay``, ``aiops capture`` and ``aiops run`` as plain values.

Both the command modules (``replay``, ``capture``: Typer signatures, nothing heavy) and the
modules that do the work (``replay_run``, ``capture_run``, imported when a command runs) read
these, so neither command module and its runner import each other. The two mode flags are
enums of their own, spelled like ``controller.replay.inputs``'s (a test keeps them equal):
importing that module loads the models, the settings and the policy engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class ReportFormat(StrEnum):
    """Output formats of ``aiops replay``."""

    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"
    HTML = "html"


class ApprovalsFlag(StrEnum):
    """``--approvals``: the values of ``controller.replay.inputs.ApprovalsMode``."""

    RECORDED = "recorded"
    GRANT = "grant"
    DENY = "deny"
    INTERACTIVE = "interactive"


class PlannerFlag(StrEnum):
    """``--planner``: the values of ``controller.replay.inputs.PlannerMode``."""

    RUNBOOK = "runbook"
    LLM = "llm"
    RECORDED = "recorded"


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    """The flags of one ``aiops replay``, as given."""

    incident: Path
    policy: Path | None
    runbooks: Path | None
    approvals: ApprovalsFlag | None
    output_format: ReportFormat
    output: Path | None
    ledger: Path | None
    config: Path | None
    planner: PlannerFlag
    record_to: Path | None
    metrics: Path | None


@dataclass(frozen=True, slots=True)
class CaptureFlags:
    """The flags of one ``aiops capture``, as given."""

    prometheus: str
    namespace: str
    since: str
    until: str
    output: Path
    workloads: tuple[str, ...]
    otlp_dump: Path | None
    kubeconfig: Path | None
    context: str | None
    step: str
    name: str | None
    title: str
    truth: Path | None
    config: Path | None


class ModeFlag(StrEnum):
    """``aiops run --mode``: the values of ``controller.operator.modes.OperatorMode``."""

    SHADOW = "shadow"
    PROPOSE = "propose"
    AUTO = "auto"


@dataclass(frozen=True, slots=True)
class RunFlags:
    """The flags of one ``aiops run``, as given."""

    mode: ModeFlag
    kubeconfig: Path | None
    context: str | None
    config: Path | None
    policy: Path | None
    runbooks: Path | None
    prometheus: str | None
    state_dir: Path | None
    incident_dir: Path | None
    host: str | None
    port: int | None
    tick: str | None
    namespace: str | None
    pod: str | None


@dataclass(frozen=True, slots=True)
class ClusterFlags:
    """How ``aiops freeze|unfreeze|approve|reject`` reach the cluster, as given."""

    kubeconfig: Path | None
    context: str | None
    config: Path | None
