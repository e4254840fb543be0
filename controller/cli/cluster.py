"""Shared plumbing of the commands that write one object to the cluster as a person.

``aiops freeze|unfreeze`` (the kill switch) and ``aiops approve|reject`` (a Remediation's
answer) connect with the kubeconfig (``--kubeconfig``, else ``$KUBECONFIG``, else
``~/.kube/config``), take the person's identity from its context's user, and report on one
line. Exit codes, documented in docs/remediations.md and docs/kill-switch.md:

- 0: written;
- 1: refused by the cluster or by the object's state (RBAC 403, schema 422, not pending,
  already answered, expired);
- 2: a user mistake (no such Remediation, an unusable kubeconfig or settings file, a flag);
- 3: the API server could not be reached or kept failing (nothing may have been written).

Heavy imports (the Kubernetes client, the models) happen inside the functions, when a
command runs, so that ``aiops --help`` stays light.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.cli.common import fail
from controller.cli.flags import ClusterFlags

if TYPE_CHECKING:
    from controller.kube.objects import ObjectCalls
    from controller.settings import Settings


@dataclass(frozen=True)
class Session:
    """A connection as one person: the requests, their identity and the settings."""

    calls: ObjectCalls
    user: str
    namespace: str
    """The kubeconfig context's namespace (``default`` when it names none)."""
    settings: Settings
    close: Callable[[], None]


def kubeconfig_path(flag: Path | None) -> str:
    """``--kubeconfig``, else the first file of ``$KUBECONFIG``, else ``~/.kube/config``."""
    if flag is not None:
        return str(flag)
    listed = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    return listed[0] if listed else str(Path.home() / ".kube" / "config")


def connect(flags: ClusterFlags) -> Session:
    """Settings, the kubeconfig's client and user (``ConfigError`` when unusable)."""
    from controller.kube.client import Timeouts, build_api_client
    from controller.kube.objects import ObjectCalls, kubeconfig_identity
    from controller.logging import configure_logging
    from controller.settings import RetrySettings, load_settings

    settings = load_settings(flags.config)
    configure_logging(settings.log)  # to stderr, warnings and up by default
    path = kubeconfig_path(flags.kubeconfig)
    user, namespace = kubeconfig_identity(path, flags.context)
    kube = settings.kube.model_copy(update={"kubeconfig": path, "context": flags.context})
    client = build_api_client(kube)
    calls = ObjectCalls(
        client, timeouts=Timeouts.from_settings(kube), retry=RetrySettings(attempts=3)
    )
    return Session(
        calls=calls, user=user, namespace=namespace, settings=settings, close=client.close
    )


def run_as_person(flags: ClusterFlags, work: Callable[[Session], Any]) -> None:
    """Connect, run ``work``, close; every failure becomes one line and its exit code."""
    from controller.errors import InputError, PermanentError, TemporaryError
    from controller.kube.remediations import AnswerRefused

    try:
        session = connect(flags)
    except InputError as exc:
        fail(exc.one_line())
    try:
        work(session)
    except InputError as exc:
        fail(exc.one_line())
    except AnswerRefused as exc:
        fail(f"refused: {exc}", code=1)
    except PermanentError as exc:  # 403 (RBAC says no), 422 (the schema says no), 4xx
        fail(f"refused by the cluster: {exc}", code=1)
    except TemporaryError as exc:  # unreachable, 5xx, timeouts, a lost race three times
        fail(f"cluster unavailable: {exc}", code=3)
    finally:
        session.close()
