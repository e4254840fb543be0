"""Rolling restart and pause/resume of a Deployment's rollout.

- **Restart** writes what ``kubectl rollout restart`` writes, the pod-template annotation
  ``kubectl.kubernetes.io/restartedAt`` (RFC 3339), plus ``aiops.dev/restart-token``: the
  step's idempotency key, which is how a re-run sees that this restart already happened
  (``LiveWorkload.restart_token``).
- **Pause/resume** sets ``spec.paused`` (``kubectl rollout pause|resume``). A PauseRollout
  that names a revision requires the Deployment to still be at it.

Both are strategic merge patches (kubectl's patch type for these), conditional on the
Deployment's resourceVersion, with the receipt annotations on the Deployment.
"""

from __future__ import annotations

from datetime import datetime

from controller.kube.errors import PreconditionFailed
from controller.kube.fields import mapping
from controller.kube.rollback import deployment_revision
from controller.kube.writes import (
    RESTART_TOKEN_ANNOTATION,
    RESTARTED_AT_ANNOTATION,
    STRATEGIC_MERGE_PATCH,
    Planned,
    PlannedWrite,
    Resource,
    WorkloadView,
    metadata_patch,
    receipt_annotations,
    rfc3339,
)
from controller.models.actions import PauseRolloutAction, RestartAction


def _template_annotations(view: WorkloadView) -> dict[str, object]:
    template = mapping(mapping(view.deployment.get("spec")).get("template"))
    return dict(mapping(mapping(template.get("metadata")).get("annotations")))


def plan_restart(
    action: RestartAction, view: WorkloadView, key: str, now: datetime
) -> Planned | None:
    """The restart patch; None when this step's restart is already in the template."""
    notes = _template_annotations(view)
    if notes.get(RESTART_TOKEN_ANNOTATION) == key:
        return None
    pre = {"restartedAt": notes.get(RESTARTED_AT_ANNOTATION)}
    body = metadata_patch(view.resource_version, receipt_annotations(key, action.kind, pre))
    stamp = {RESTARTED_AT_ANNOTATION: rfc3339(now), RESTART_TOKEN_ANNOTATION: key}
    body["spec"] = {"template": {"metadata": {"annotations": stamp}}}
    write = PlannedWrite(
        Resource.DEPLOYMENT, view.namespace, view.name, body, STRATEGIC_MERGE_PATCH
    )
    return Planned((write,), pre)


def plan_paused(
    view: WorkloadView, key: str, *, paused: bool, kind: str, revision: int | None = None
) -> Planned | None:
    """The ``spec.paused`` patch; None when the rollout already is (un)paused."""
    current = bool(mapping(view.deployment.get("spec")).get("paused"))
    if current is paused:
        return None
    live = deployment_revision(view.deployment)
    if revision is not None and live != revision:
        raise PreconditionFailed(
            f"{view.label} is at revision {live}, not the revision {revision} the plan named: "
            "nothing written, re-plan"
        )
    pre = {"paused": current}
    body = metadata_patch(view.resource_version, receipt_annotations(key, kind, pre))
    body["spec"] = {"paused": paused}
    write = PlannedWrite(
        Resource.DEPLOYMENT, view.namespace, view.name, body, STRATEGIC_MERGE_PATCH
    )
    return Planned((write,), pre)


def plan_pause(action: PauseRolloutAction, view: WorkloadView, key: str) -> Planned | None:
    """Pause the rollout (``spec.paused: true``)."""
    return plan_paused(view, key, paused=True, kind=action.kind, revision=action.revision)
