"""``aiops approve NAME --reason TEXT`` and ``aiops reject NAME --reason TEXT``.

They write the answer into the Remediation's ``spec.answer`` (decision, reason, the
kubeconfig user as ``by``, the time), conditionally on the version just read. RBAC on
``remediations`` decides who may; the controller then judges the answer exactly like one
from any other channel (plan hash, snapshot, deadline, ``approvers``) and records the
outcome in ``status.approval``. A Remediation that is not pending, already answered or past
its deadline is refused here with the reason (exit 1). Exit codes: ``controller.cli.cluster``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from controller.cli.cluster import Session, run_as_person
from controller.cli.common import fail
from controller.cli.flags import ClusterFlags
from controller.cli.freeze import ConfigOption, ContextOption, KubeconfigOption

NameArgument = Annotated[str, typer.Argument(help="The Remediation (kubectl get remediations).")]
ReasonOption = Annotated[str, typer.Option(help="Why (kept with the answer and the ledger).")]
NamespaceOption = Annotated[
    str | None,
    typer.Option(
        "--namespace",
        "-n",
        help="The Remediation's namespace (the target's); default: the kubeconfig context's.",
    ),
]


def _answer(
    session: Session, namespace: str | None, name: str, *, approve: bool, reason: str
) -> None:
    from datetime import UTC, datetime

    from controller.kube.remediations import answer_remediation

    namespace = namespace or session.namespace

    answer_remediation(session.calls, namespace, name, approve=approve, reason=reason,
                       by=session.user, now=datetime.now(UTC))  # fmt: skip
    verb = "approved" if approve else "rejected"
    typer.echo(f"{namespace}/{name}: {verb} by kube:{session.user}; the controller judges it")


def _run(
    name: str, reason: str, namespace: str | None, flags: ClusterFlags, *, approve: bool
) -> None:
    if not reason.strip():
        fail("--reason: must not be empty")
    run_as_person(flags, lambda s: _answer(s, namespace, name, approve=approve,
                                           reason=reason.strip()))  # fmt: skip


def approve(
    name: NameArgument,
    reason: ReasonOption,
    namespace: NamespaceOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    config: ConfigOption = None,
) -> None:
    """Approve a pending Remediation (exactly its plan hash and snapshot, before expiry)."""
    flags = ClusterFlags(kubeconfig=kubeconfig, context=context, config=config)
    _run(name, reason, namespace, flags, approve=True)


def reject(
    name: NameArgument,
    reason: ReasonOption,
    namespace: NamespaceOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    config: ConfigOption = None,
) -> None:
    """Reject a pending Remediation: nothing is done, and the incident goes to a human."""
    flags = ClusterFlags(kubeconfig=kubeconfig, context=context, config=config)
    _run(name, reason, namespace, flags, approve=False)
