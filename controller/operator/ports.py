"""What other parts plug into the operator: leadership, the kill switch, Events, approvals.

Each is a narrow protocol with a stand-in that is clearly named for what it is, so the real
implementations (the Lease elector in ``controller/kube/lease.py``, the cluster kill switch,
the Remediation resource) plug into ``Operator`` through its constructor without any change
to the composition root's logic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import structlog

from controller.kube.client import RateLimitedApiClient
from controller.models.decisions import ApprovalRequest
from controller.ports import ApprovalChannel, ApprovalInbox, Fence, KillSwitch

log = structlog.get_logger("aiops.operator")


class Leadership(Protocol):
    """Whether this replica may write now (a Lease holder that renewed in time)."""

    def is_leader(self) -> bool:
        """True while this replica leads."""
        ...


@runtime_checkable
class Service(Protocol):
    """A plug-in with a thread of its own (the Lease elector): started after the HTTP
    server, stopped after the ledger is sealed (so a lease is released only once no write
    can follow)."""

    def start(self) -> None:
        """Start its work in the background."""
        ...

    def stop(self, timeout: float = 5.0) -> object:
        """Stop within ``timeout`` seconds."""
        ...


class FenceLeadership:
    """``Leadership`` read off a ``Fence``: leading while it hands out a fencing token."""

    def __init__(self, fence: Fence) -> None:
        self._fence = fence

    def is_leader(self) -> bool:
        """True while the fence has a token for this replica's term."""
        return self._fence.token() is not None


class AlwaysLeader:
    """Single-replica stand-in until Lease election lands: this replica always leads."""

    def is_leader(self) -> bool:
        """Always True."""
        return True


class NeverEngagedKillSwitch:
    """Placeholder kill switch: never engaged. Replaced by the cluster kill switch (a watched
    resource, failing closed) through ``Operator(kill_switch=...)`` once it lands; shadow mode
    writes nothing whatever this says."""

    def engaged(self) -> bool:
        """Never engaged."""
        return False


class EventSink(Protocol):
    """Kubernetes Events (or a stand-in): never raises, a failure is logged and counted."""

    def emit(
        self,
        reason: str,
        message: str,
        *,
        warning: bool = False,
        namespace: str | None = None,
        kind: str | None = None,
        name: str | None = None,
    ) -> bool:
        """Record one Event about the operator (default) or the named object; True if sent."""
        ...


def never_engaged(_api: RateLimitedApiClient) -> KillSwitch:
    """The default kill switch factory (see ``NeverEngagedKillSwitch``)."""
    return NeverEngagedKillSwitch()


@dataclass(frozen=True, slots=True)
class PlugIns:
    """Factories for what other issues build; each gets the operator's one API client.

    - ``kill_switch``: e.g. ``lambda api: ClusterKillSwitch(api, settings.kill_switch)``;
    - ``fence``: e.g. ``lambda api: LeaseElector.from_settings(api, settings.leader, ...)``:
      handed to ``KubeWriter(fence=...)``, read for ``/readyz``, ``aiops_leader`` and the
      leader gate, and run as a ``Service`` when it has ``start``/``stop``;
    - ``leadership``: any ``is_leader()`` object, when leadership is not a fence;
    - ``approvals``: the approval channel (Slack, the Remediation resource) over the inbox.
    """

    kill_switch: Callable[[RateLimitedApiClient], KillSwitch] = never_engaged
    fence: Callable[[RateLimitedApiClient], Fence] | None = None
    leadership: Leadership | None = None
    approvals: Callable[[ApprovalInbox, EventSink], ApprovalChannel] | None = None


class PostedApprovals:
    """The live approval channel until Slack and the Remediation resource exist: the request
    is logged and raised as a Kubernetes Event on the target; the answer comes later into the
    inbox (``aiops approve``, the Remediation resource) or the request expires (a rejection)."""

    def __init__(self, inbox: ApprovalInbox, events: EventSink) -> None:
        self.inbox = inbox
        self._events = events

    def post(self, request: ApprovalRequest) -> None:
        """Publish ``request``; never raises."""
        target = request.action.target
        log.warning(
            "approval requested",
            incident_id=request.incident_id,
            plan_hash=request.plan_hash,
            expires_at=request.expires_at.isoformat(),
        )
        message = (
            f"approval needed for plan {request.plan_hash[:12]} of incident "
            f"{request.incident_id}: {request.summary} (until {request.expires_at.isoformat()})"
        )
        self._events.emit(
            "ApprovalRequested",
            message,
            namespace=None if target is None else target.namespace,
            kind=None if target is None else "Deployment",
            name=None if target is None else target.name,
        )
