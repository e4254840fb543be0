"""Approval stand-ins for replay: grant everything, deny everything, or answer as recorded.

Each is an ``ApprovalChannel``: ``post`` drops the answer into the inbox at its time. They
answer instantly except the recorded approver, whose answer carries the time the human gave
it, so the replay waits (and a late answer past the TTL expires into a rejection).
"""

from __future__ import annotations

from collections.abc import Sequence

from controller.models.actions import ActionKind
from controller.models.decisions import Approval, ApprovalOutcome, ApprovalRequest
from controller.models.incident_file import RecordedApproval, RecordedApprovalOutcome
from controller.ports import ApprovalInbox


class GrantAll:
    """Approves every request at once (``--approvals grant``)."""

    approver = "replay:grant"

    def __init__(self, inbox: ApprovalInbox) -> None:
        self._inbox = inbox

    def post(self, request: ApprovalRequest) -> None:
        """Approve immediately."""
        self._inbox.put(self.decide(request))

    def decide(self, request: ApprovalRequest) -> Approval:
        """The approval this stand-in gives."""
        return Approval.to(request, ApprovalOutcome.APPROVED, self.approver, request.requested_at)


class DenyAll:
    """Rejects every request at once (``--approvals deny``)."""

    approver = "replay:deny"

    def __init__(self, inbox: ApprovalInbox) -> None:
        self._inbox = inbox

    def post(self, request: ApprovalRequest) -> None:
        """Reject immediately."""
        self._inbox.put(self.decide(request))

    def decide(self, request: ApprovalRequest) -> Approval:
        """The rejection this stand-in gives."""
        return Approval.to(request, ApprovalOutcome.REJECTED, self.approver, request.requested_at)


class RecordedApprovals:
    """Answers as the humans did during the incident (``--approvals recorded``).

    A request matches the first unused recorded answer for the same workload and action
    kind. The answer arrives at the recorded time (or at once when the human answered before
    the replayed controller asked); past the TTL it expires; no recorded answer expires too.
    """

    def __init__(self, recorded: Sequence[RecordedApproval], inbox: ApprovalInbox) -> None:
        self._unused = sorted(recorded, key=lambda r: r.time)
        self._inbox = inbox

    def post(self, request: ApprovalRequest) -> None:
        """Drop the recorded answer into the inbox at the time the human gave it."""
        self._inbox.put(self.decide(request))

    def decide(self, request: ApprovalRequest) -> Approval:
        """The recorded answer for this workload and kind, or an expiry."""
        match = self._take(request)
        if match is None:
            return Approval.to(
                request,
                ApprovalOutcome.EXPIRED,
                "replay:recorded",
                request.expires_at,
                "no recorded answer for this workload and action kind",
            )
        at = max(match.time, request.requested_at)
        if at > request.expires_at:
            return Approval.to(
                request,
                ApprovalOutcome.EXPIRED,
                match.approver,
                request.expires_at,
                f"recorded answer at {match.time.isoformat()} came after the TTL",
            )
        outcome = (
            ApprovalOutcome.APPROVED
            if match.outcome is RecordedApprovalOutcome.APPROVED
            else ApprovalOutcome.REJECTED
        )
        return Approval.to(request, outcome, match.approver, at, "as recorded")

    def _take(self, request: ApprovalRequest) -> RecordedApproval | None:
        target = request.action.target
        kind = ActionKind(request.action.kind)
        for index, candidate in enumerate(self._unused):
            if candidate.workload == target and candidate.action_kind is kind:
                return self._unused.pop(index)
        return None
