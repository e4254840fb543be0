"""The three operator modes and what each changes: the policy the guard reads, the writer.

- ``shadow`` (default): decide and record, write nothing. The writer is ``ShadowWriter``
  (no PATCH leaves the process, not even a dry run) and the policy runs in ``dry_run`` mode,
  so every decision says "nothing will be changed". Two locks on one door, on purpose: a
  policy file that says ``enforce`` cannot make a shadow operator write.
- ``propose``: every mutating action needs a human. The policy's approval rules are widened
  to every allowed kind; everything else (denials, clamps, caps) is the policy's own.
- ``auto``: the policy as written: act within it, ask where it asks.

The transform is pure and re-applied on every reload, so a hot-reloaded policy can never
drop out of the mode the operator was started in.
"""

from __future__ import annotations

from enum import StrEnum

from controller.guardrails.loader import LoadedPolicy, policy_hash
from controller.guardrails.policy import PolicyMode


class OperatorMode(StrEnum):
    """``aiops run --mode``."""

    SHADOW = "shadow"
    PROPOSE = "propose"
    AUTO = "auto"

    @property
    def writes(self) -> bool:
        """Whether this mode may change the cluster at all."""
        return self is not OperatorMode.SHADOW


def policy_for_mode(loaded: LoadedPolicy, mode: OperatorMode) -> LoadedPolicy:
    """The policy the guard uses in ``mode`` (re-hashed: the hash names what is enforced)."""
    spec = loaded.policy.spec
    if mode is OperatorMode.SHADOW:
        if spec.mode is PolicyMode.DRY_RUN:
            return loaded
        spec = spec.model_copy(update={"mode": PolicyMode.DRY_RUN})
    elif mode is OperatorMode.PROPOSE:
        approval = spec.approval.model_copy(update={"kinds": spec.actions.allowed})
        spec = spec.model_copy(update={"approval": approval})
    else:
        return loaded
    policy = loaded.policy.model_copy(update={"spec": spec})
    return loaded.model_copy(update={"policy": policy, "hash": policy_hash(policy)})
