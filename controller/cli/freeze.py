"""``aiops freeze --reason TEXT`` and ``aiops unfreeze``: the cluster-wide kill switch (R14).

They write the kill-switch ConfigMap (``kill_switch.namespace``/``kill_switch.name`` of the
settings: ``aiops/aiops-controller-kill-switch`` by default; created when missing) with
``engaged``, ``reason``, ``by`` (the kubeconfig user) and ``at``. Every operator replica
reads it right before each write, so writes stop within the tick; a switch that cannot be
read counts as engaged. Exit codes: see ``controller.cli.cluster``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from controller.cli.cluster import Session, run_as_person
from controller.cli.common import fail
from controller.cli.flags import ClusterFlags

KubeconfigOption = Annotated[
    Path | None, typer.Option(help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config).")
]
ContextOption = Annotated[str | None, typer.Option(help="kubeconfig context.")]
ConfigOption = Annotated[
    Path | None, typer.Option(envvar="AIOPS_CONFIG", help="Settings YAML (kill_switch.*).")
]


def _write(session: Session, *, engaged: bool, reason: str) -> None:
    from datetime import UTC, datetime

    from controller.kube.killswitch import set_switch

    settings = session.settings.kill_switch
    state = set_switch(session.calls, settings, engaged=engaged, reason=reason,
                       by=f"kube:{session.user}", now=datetime.now(UTC))  # fmt: skip
    where = f"{settings.namespace}/{settings.name}"
    typer.echo(f"{where}: {state.describe()}")


def freeze(
    reason: Annotated[str, typer.Option(help="Why (shown to everyone who looks).")],
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    config: ConfigOption = None,
) -> None:
    """Engage the kill switch: every aiops-controller replica stops writing within a tick."""
    if not reason.strip():
        fail("--reason: must not be empty")
    flags = ClusterFlags(kubeconfig=kubeconfig, context=context, config=config)
    run_as_person(flags, lambda s: _write(s, engaged=True, reason=reason.strip()))


def unfreeze(
    reason: Annotated[str, typer.Option(help="Why it is safe again.")] = "released",
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    config: ConfigOption = None,
) -> None:
    """Release the kill switch (the controller acts again after a full recovery window)."""
    flags = ClusterFlags(kubeconfig=kubeconfig, context=context, config=config)
    run_as_person(flags, lambda s: _write(s, engaged=False, reason=reason.strip() or "released"))
