"""Approval stand-ins for replay: grant everything, deny everything, or answer as recorded.

They answer instantly except the recorded approver, which answers when the human did, so the
replay waits (and a late answer past the TTL expires into a rejection).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from controller.models.actions import ActionKind
from controller.models.decisions import Approval, ApprovalOutcome, ApprovalRequest
from controller.models.incident_file import RecordedApproval, RecordedApprovalOutcome


class GrantAll:
    """Approves every request at once (``--approvals grant``)."""

    approver = "replay:grant"

    def decide(self, request: ApprovalRequest) -> Approval:
        """Approve immediately."""
        return _answer(request, ApprovalOutcome.APPROVED, self.approver, request.requested_at)


class DenyAll:
    """Rejects every request at once (``--approvals deny``)."""

    approver = "replay:deny"

    def decide(self, request: ApprovalRequest) -> Approval:
        """Reject immediately."""
        return _answer(request, ApprovalOutcome.REJECTED, self.approver, request.requested_at)


class RecordedApprovals:
    """Answers as the humans did during the incident (``--approvals recorded``).

    A request matches the first unused recorded answer for the same workload and action
    kind. The answer arrives at the recorded time (or at once when the human answered before
    the replayed controller asked); past the TTL it expires; no recorded answer expires too.
    """

    def __init__(self, recorded: Sequence[RecordedApproval]) -> None:
        self._unused = sorted(recorded, key=lambda r: r.time)

    def decide(self, request: ApprovalRequest) -> Approval:
        """The recorded answer for this workload and kind, or an expiry."""
        match = self._take(request)
        if match is None:
            return _answer(
                request,
                ApprovalOutcome.EXPIRED,
                "replay:recorded",
                request.expires_at,
                "no recorded answer for this workload and action kind",
            )
        at = max(match.time, request.requested_at)
        if at > request.expires_at:
            return _answer(
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
        return _answer(request, outcome, match.approver, at, "as recorded")

    def _take(self, request: ApprovalRequest) -> RecordedApproval | None:
        target = request.action.target
        kind = ActionKind(request.action.kind)
        for index, candidate in enumerate(self._unused):
            if candidate.workload == target and candidate.action_kind is kind:
                return self._unused.pop(index)
        return None


def _answer(
    request: ApprovalRequest,
    outcome: ApprovalOutcome,
    approver: str,
    at: datetime,
    note: str = "",
) -> Approval:
    return Approval(
        plan_hash=request.plan_hash,
        snapshot_at=request.snapshot_at,
        outcome=outcome,
        approver=approver,
        decided_at=at,
        note=note,
    )
