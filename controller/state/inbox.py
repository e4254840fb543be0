"""``StoredInbox``: approval answers that arrive later, from any channel, kept durably.

A channel (console, replay script, Slack, the Remediation resource) publishes a request and
later drops the human's answer here. The driver takes an answer for the plan hash its thread
waits on once the answer's time has come; the graph then judges it (``judge_reply``: plan
hash, snapshot, expiry, approver), so every channel shares one validation path. The first
answer per plan hash wins: a duplicate click is ignored, never counted twice.
"""

from __future__ import annotations

from datetime import datetime

from controller.models.decisions import Approval
from controller.state.store import InMemoryStateStore, StateStore

ANSWERS = "approvals.answers"
POSTED = "approvals.posted"


class StoredInbox:
    """The ``ApprovalInbox`` port over a ``StateStore``."""

    def __init__(self, store: StateStore | None = None) -> None:
        self.store: StateStore = InMemoryStateStore() if store is None else store

    def put(self, answer: Approval) -> bool:
        """Keep ``answer`` unless one for the same plan hash is already there."""
        if self.store.get(ANSWERS, answer.plan_hash) is not None:
            return False
        self.store.put(ANSWERS, answer.plan_hash, answer.model_dump(mode="json"))
        return True

    def peek(self, plan_hash: str) -> Approval | None:
        """The answer kept for ``plan_hash`` (due or not)."""
        raw = self.store.get(ANSWERS, plan_hash)
        return None if raw is None else Approval.model_validate(raw)

    def take(self, plan_hash: str, now: datetime) -> Approval | None:
        """The answer for ``plan_hash`` once its time has come; it is used once."""
        answer = self.peek(plan_hash)
        if answer is None or answer.decided_at > now:
            return None
        self.store.delete(ANSWERS, plan_hash)
        return answer

    def posted(self, thread_id: str) -> bool:
        """Whether the request of ``thread_id`` was already published (post once)."""
        return self.store.get(POSTED, thread_id) is not None

    def mark_posted(self, thread_id: str, plan_hash: str) -> None:
        """Remember that the request of ``thread_id`` went out."""
        self.store.put(POSTED, thread_id, plan_hash)
