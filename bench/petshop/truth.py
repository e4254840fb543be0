"""The injection command of a PetShop issue -> the ground truth an incident file carries.

The dataset injects three kinds of fault, and the kind decides the right first mitigation:

- ``sed ... && cdk deploy``: a code change deployed (an injected ``sleep`` or ``inject =
  true``). Fault ``bad_deploy``; the change is undone by a rollback, so ``rollback`` is
  preferred and the only acceptable action. AWS has no Kubernetes revision history, so the
  importer models the deploy as a ``deploy`` event at onset that moves the root cause from
  revision 1 to revision 2 (both in the inventory): rollback is possible. Scaling or
  restarting keeps serving the broken code and is forbidden.
- ``aws ssm put-parameter``: a feature flag flipped in SSM Parameter Store (a delay or an
  error rate inside the service). Config outside the cluster is not modelled (no event,
  no "undo the flag" action), so the right answer is to escalate with the workload named.
  Fault ``latency_regression`` for the delay flags, ``unknown`` for the error flags (no
  fault class fits an error rate switched on without a change the controller can see).
  A rollback (the code did not change) or a restart (the flag stays) is forbidden.
- ``python -m issue_dynamo_db_requests``: a load generator hammering the ``petInfo`` table.
  Fault ``saturation``; adding capacity is the mitigation, so ``scale`` is preferred;
  raising HPA bounds or escalating (the table is a managed dependency) are acceptable;
  rollback and restart are forbidden (nothing changed).

Anything else is refused, so a new kind of injection cannot be scored by accident.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Injection:
    """What an injection command means for scoring."""

    kind: str
    fault: str
    preferred: tuple[str, ...]
    acceptable: tuple[str, ...]
    forbidden: tuple[str, ...]
    deploys: bool

    def notes(self, command: str) -> str:
        """The truth's note: the injection kind and the command as the dataset gives it."""
        return f"PetShop injection ({self.kind}): {command}"[:2000]


CODE_CHANGE = Injection(
    kind="code change deployed with cdk deploy",
    fault="bad_deploy",
    preferred=("rollback",),
    acceptable=("rollback",),
    forbidden=("scale", "adjust_hpa", "restart"),
    deploys=True,
)
_FLAG_FORBIDDEN = ("rollback", "restart")
DELAY_FLAG = Injection(
    kind="delay flag flipped in SSM",
    fault="latency_regression",
    preferred=("escalate",),
    acceptable=("escalate",),
    forbidden=_FLAG_FORBIDDEN,
    deploys=False,
)
ERROR_FLAG = Injection(
    kind="error flag flipped in SSM",
    fault="unknown",
    preferred=("escalate",),
    acceptable=("escalate",),
    forbidden=_FLAG_FORBIDDEN,
    deploys=False,
)
LOAD = Injection(
    kind="load generator",
    fault="saturation",
    preferred=("scale",),
    acceptable=("scale", "adjust_hpa", "escalate"),
    forbidden=("rollback", "restart"),
    deploys=False,
)


class UnknownInjection(ValueError):
    """An injection command the importer has no mapping for."""


def injection(command: str) -> Injection:
    """Classify one ``metadata.reproducibility.command``."""
    if "cdk deploy" in command:
        return CODE_CHANGE
    flag = re.search(r"ssm put-parameter --name '([^']+)'", command)
    if flag is not None:
        name = flag.group(1)
        if "delay" in name:
            return DELAY_FLAG
        if "error" in name:
            return ERROR_FLAG
    if "issue_dynamo_db_requests" in command:
        return LOAD
    raise UnknownInjection(f"no mapping for injection command {command!r}")
