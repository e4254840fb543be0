"""Terminal approver for ``aiops replay --approvals interactive``.

Shows the request (action, rationale, policy reasons, plan hash prefix, deadline) on an
injected rich ``Console`` and reads the answer through an injected input function, so tests
drive it without a terminal. Anything but an explicit yes is a rejection: end of input or a
timeout (the input function raising ``EOFError``/``TimeoutError``) rejects (fail closed, R3),
and an answer given after the deadline is an expiry.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console

from controller.models.actions import describe
from controller.models.decisions import Approval, ApprovalOutcome, ApprovalRequest
from controller.ports import ApprovalInbox, Clock

MAX_PROMPTS = 5
"""Bound on "details" loops: after this many prompts without yes/no the request is rejected."""

YES = frozenset({"y", "yes"})
NO = frozenset({"n", "no"})
DETAILS = frozenset({"d", "details", "?"})


class ConsoleApprover:
    """``ApprovalChannel`` that asks a person at the terminal."""

    def __init__(
        self,
        *,
        console: Console,
        read: Callable[[str], str],
        user: str,
        clock: Clock,
        inbox: ApprovalInbox,
    ) -> None:
        self._inbox = inbox
        self._console = console
        self._read = read
        self._approver = f"console:{user}"
        self._clock = clock

    def post(self, request: ApprovalRequest) -> None:
        """Ask at the terminal now; the answer goes into the inbox."""
        self._inbox.put(self.decide(request))

    def decide(self, request: ApprovalRequest) -> Approval:
        """Show ``request`` and return the bound answer."""
        self._summary(request)
        outcome, note = self._ask(request)
        now = self._clock.now()
        if outcome is ApprovalOutcome.APPROVED and now > request.expires_at:
            outcome, note = ApprovalOutcome.EXPIRED, "answered after the deadline"
        return Approval.to(request, outcome, self._approver, now, note)

    def _ask(self, request: ApprovalRequest) -> tuple[ApprovalOutcome, str]:
        for _ in range(MAX_PROMPTS):
            try:
                answer = self._read("Approve? [y]es / [n]o / [d]etails: ").strip().lower()
            except (EOFError, TimeoutError) as exc:
                return ApprovalOutcome.REJECTED, f"no answer ({type(exc).__name__})"
            if answer in YES:
                return ApprovalOutcome.APPROVED, ""
            if answer in NO:
                return ApprovalOutcome.REJECTED, "rejected at the console"
            if answer in DETAILS:
                self._details(request)
        return ApprovalOutcome.REJECTED, f"no yes/no after {MAX_PROMPTS} prompts"

    def _summary(self, request: ApprovalRequest) -> None:
        verdict = ", ".join(r.code.value for r in request.reasons) or "needs approval"
        self._console.print(f"[bold]Approval requested[/bold] for incident {request.incident_id}")
        self._console.print(f"  action:  {describe(request.action)}", markup=False)
        self._console.print(f"  verdict: {verdict}", markup=False)
        self._console.print(f"  plan:    {request.plan_hash[:12]}", markup=False)
        self._console.print(f"  expires: {request.expires_at.isoformat()}", markup=False)

    def _details(self, request: ApprovalRequest) -> None:
        self._console.print(request.summary, markup=False)
        for reason in request.reasons:
            self._console.print(f"  - {reason.code.value}: {reason.detail}", markup=False)
        self._console.print(f"  snapshot: {request.snapshot_at.isoformat()}", markup=False)
