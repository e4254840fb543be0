"""``KubeWriter``: the ``ClusterWriter`` that changes a real cluster, one action at a time.

The reconciling actuator (``controller.actuators.reconcile``) has already checked the kill
switch, re-read the workload, returned early when it is already there and checked the
plan's preconditions; it calls ``apply`` with the resourceVersion it read. ``apply`` then:

1. **reads live** (GET, never the cache): the Deployment and what decides the write (HPAs,
   KEDA ScaledObjects, Argo Rollouts, ReplicaSets), listing page by page;
2. **checks**: the Deployment is still at the version the actuator read and the action's
   own preconditions hold (replicas, HPA bounds, the diagnosed revision): otherwise
   ``PreconditionFailed`` (a ``TemporaryError``: re-read, re-plan); no other owner would
   undo the write (``ownership.refusal``): otherwise ``WriteRefused`` (permanent);
3. **plans** the patches (``scale``, ``rollback``, ``restart``; a scale or bounds change
   that names an ``adapter`` goes to the KEDA ScaledObject or the Argo Rollout instead, and
   only when ``adapters`` allows it): conditional on ``metadata.resourceVersion``, carrying
   the idempotency key and the pre-state;
4. **dry-runs** every patch server-side (``dryRun=All``): a 422 or 409 stops it before any
   effect;
5. **writes** for real with ``fieldManager=aiops-controller``;
6. **records** a ``WriteRecord`` (``records``) and logs it, and returns the workload as
   the write left it.

With a ``fence`` (``controller.ports.Fence``, the ``LeaseElector``), only the leader writes:
its fencing token is asked for before the dry run and again right before every PATCH (a
``NotLeaderError`` otherwise, and nothing is sent), it is stamped on every object written
(``aiops.dev/fencing-token``; ``last_token`` for the caller's ledger), and an object that
already carries a newer term's token is not written at all (this replica was deposed).

Every request goes through ``KubeCalls`` (one retry layer, Retry-After honoured, bounded;
the client's QPS limiter). A real write that met a conflict on a retry after an ambiguous
failure (a 5xx or a reset, when the first attempt may have landed) is re-read: when our
receipt is there, the write had landed and ``apply`` succeeds; otherwise the conflict is
raised.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

import structlog
from kubernetes.client import ApiClient

from controller.errors import AiopsError
from controller.kube.calls import DEFAULT_RETRY, KubeCalls
from controller.kube.client import Timeouts
from controller.kube.errors import (
    ConflictError,
    KubePermanentError,
    PreconditionFailed,
    WriteRefused,
)
from controller.kube.fields import annotations_of, mapping, name_of
from controller.kube.inventory import workload_inventory
from controller.kube.lease import (
    FENCING_TOKEN_ANNOTATION,
    FencingToken,
    NotLeaderError,
    newer_term,
)
from controller.kube.observer import live_workload
from controller.kube.ownership import refusal
from controller.kube.restart import plan_pause, plan_paused, plan_restart
from controller.kube.rollback import plan_rollback
from controller.kube.scale import (
    absorb_adapted,
    adapted_object,
    adapter_of,
    plan_adapted,
    plan_hpa,
    plan_scale,
    written_version,
)
from controller.kube.writes import (
    FIELD_MANAGER,
    LAST_ACTION_ANNOTATION,
    Planned,
    PlannedWrite,
    Resource,
    WorkloadView,
    WriteRecord,
)
from controller.models.actions import (
    Action,
    AdjustHpaAction,
    PauseRolloutAction,
    RestartAction,
    RollbackAction,
    ScaleAction,
    ScalingAdapter,
)
from controller.models.workloads import WorkloadRef
from controller.ports import Fence, LiveWorkload
from controller.settings import KubeSettings, RetrySettings

log = structlog.get_logger("aiops.kube.writer")
Obj = dict[str, Any]
Adapters = Collection[ScalingAdapter | str] | Callable[[], Collection[ScalingAdapter | str]]
"""Allowed scaling adapters, or where to read them (the active policy's list)."""


def _target(action: Action) -> WorkloadRef:
    if action.target is None:
        raise ValueError(f"{action.kind} has no target")
    return action.target


def selector_of(deployment: Mapping[str, Any]) -> str:
    """``app=checkout,tier=web``: the Deployment's ``matchLabels`` as a label selector."""
    labels = mapping(mapping(mapping(deployment.get("spec")).get("selector")).get("matchLabels"))
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


class WritePlanner:
    """Reads, checks and plans one action's writes (shared by the real and shadow writers).

    ``adapters``: the scaling adapters (KEDA, Argo Rollouts) the policy names in
    ``spec.scaling.adapters``, or a function returning them (read at every decision, so a
    hot-reloaded policy applies at once); an action through any other adapter is refused
    (R16). The guardrails check the same list: both gates must agree before anything moves.
    """

    def __init__(
        self, calls: KubeCalls, *, allow_gitops: bool = False, adapters: Adapters = ()
    ) -> None:
        self.calls = calls
        self.allow_gitops = allow_gitops
        self._adapters = adapters

    @property
    def adapters(self) -> frozenset[ScalingAdapter]:
        """The adapters allowed right now."""
        named = self._adapters() if callable(self._adapters) else self._adapters
        return frozenset(ScalingAdapter(name) for name in named)

    def read(self, action: Action) -> WorkloadView:
        """The live objects the action's write depends on."""
        ref = _target(action)
        deployment = self.calls.get_deployment(ref.namespace, ref.name)
        if deployment is None:
            raise PreconditionFailed(f"{ref} no longer exists: nothing written")
        ns = ref.namespace
        rollouts = self.calls.list_custom("argoproj.io", "v1alpha1", "rollouts", ns)
        scaled: list[Obj] = []
        hpas: list[Obj] = []
        replicasets: list[Obj] = []
        if isinstance(action, ScaleAction | AdjustHpaAction):
            scaled = self.calls.list_custom("keda.sh", "v1alpha1", "scaledobjects", ns)
        if isinstance(action, ScaleAction):
            hpas = self.calls.list_hpas(ns)
        if isinstance(action, AdjustHpaAction):
            hpa = self.calls.get_hpa(ns, action.hpa_name)
            hpas = [hpa] if hpa is not None else []
        if isinstance(action, RollbackAction):
            replicasets = self.calls.list_replicasets(ns, selector_of(deployment))
        return WorkloadView(
            deployment, tuple(replicasets), tuple(hpas), tuple(scaled), tuple(rollouts)
        )

    def decide(
        self, action: Action, view: WorkloadView, resource_version: str, key: str, now: datetime
    ) -> Planned | None:
        """The writes ``action`` needs on ``view`` (None: already there); raises when none may."""
        if view.resource_version != resource_version:
            raise PreconditionFailed(
                f"conflict: {view.label} is at resourceVersion {view.resource_version}, not "
                f"{resource_version} as read: re-read and re-plan"
            )
        reason = refusal(
            action,
            view.deployment,
            hpas=view.hpas,
            scaled_objects=view.scaled_objects,
            rollouts=view.rollouts,
            allow_gitops=self.allow_gitops,
            adapters=self.adapters,
        )
        if reason is not None:
            log.info("kube write refused", workload=view.label, action=action.kind, reason=reason)
            raise WriteRefused(reason)
        return _plan(action, view, key, now)


def _plan(action: Action, view: WorkloadView, key: str, now: datetime) -> Planned | None:
    if isinstance(action, ScaleAction | AdjustHpaAction) and adapter_of(action) is not None:
        return plan_adapted(action, view, key)  # the ScaledObject or the Rollout (R16)
    if isinstance(action, ScaleAction):
        return plan_scale(action, view, key)
    if isinstance(action, AdjustHpaAction):
        return plan_hpa(action, view, key)
    if isinstance(action, RollbackAction):
        return plan_rollback(action, view, key)
    if isinstance(action, RestartAction):
        return plan_restart(action, view, key, now)
    if isinstance(action, PauseRolloutAction):
        return plan_pause(action, view, key)
    raise ValueError(f"{action.kind} does not change the cluster")


def live_of(view: WorkloadView) -> LiveWorkload:
    """The workload as ``view`` shows it (pods are not read: resources from the template)."""
    try:
        inventory = workload_inventory(
            view.deployment, view.replicasets, (), view.hpas, view.scaled_objects,
            rollouts=view.rollouts,
        )  # fmt: skip
    except ValueError as exc:
        why = f"{view.label}: cannot model the workload: {exc}"
        raise KubePermanentError(why, status=0) from exc
    return live_workload(view.deployment, inventory)


def kube_calls(
    api_client: ApiClient,
    settings: KubeSettings | None,
    retry: RetrySettings,
    sleep: Callable[[float], None],
    field_manager: str = FIELD_MANAGER,
) -> KubeCalls:
    """The one request layer both writers read (and the real one writes) through."""
    timeouts = Timeouts.from_settings(settings or KubeSettings())
    return KubeCalls(
        api_client, timeouts=timeouts, retry=retry, sleep=sleep, field_manager=field_manager
    )


class KubeWriter:
    """ClusterWriter over the official client: dry run, then conditional, recorded writes."""

    def __init__(
        self,
        api_client: ApiClient,
        *,
        settings: KubeSettings | None = None,
        retry: RetrySettings = DEFAULT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
        allow_gitops: bool = False,
        field_manager: str = FIELD_MANAGER,
        keep: int = 256,
        fence: Fence | None = None,
        adapters: Adapters = (),
    ) -> None:
        self.fence = fence
        """Leadership, asked before every PATCH; None: a single replica, no election."""
        self.last_token: str | None = None
        """The fencing token the newest applied write carried (for the ledger)."""
        self.calls = kube_calls(api_client, settings, retry, sleep, field_manager)
        self.planner = WritePlanner(self.calls, allow_gitops=allow_gitops, adapters=adapters)
        self.records: deque[WriteRecord] = deque(maxlen=max(1, keep))
        """The newest ``keep`` writes, oldest first (pre-state included, for reverts)."""

    def apply(
        self, action: Action, *, resource_version: str, idempotency_key: str, now: datetime
    ) -> LiveWorkload:
        """Apply ``action``; TemporaryError on a conflict, PermanentError when refused."""
        view = self.planner.read(action)
        planned = self.planner.decide(action, view, resource_version, idempotency_key, now)
        live = live_of(view)  # a workload we could not model must fail before any write
        if planned is None:
            log.info("kube write not needed", workload=view.label, action=action.kind,
                     idempotency_key=idempotency_key)  # fmt: skip
            return live
        token = self._fenced(view, planned)
        planned = _stamped(planned, token)
        for write in planned.writes:
            self._send(write, token, dry_run=True)
        after, notes = self._write(action, planned, view, idempotency_key, token)
        self.last_token = token
        self._record(action.kind, idempotency_key, now, planned, view, after, notes)
        return live_of(after)

    def _record(
        self,
        kind: str,
        key: str,
        now: datetime,
        planned: Planned,
        before: WorkloadView,
        after: WorkloadView,
        notes: list[str],
    ) -> None:
        version = written_version(after, planned.writes[0]) or after.resource_version
        record = WriteRecord(
            key, kind, before.label, now, planned.pre_state, planned.writes, applied=True,
            resource_version_before=before.resource_version, resource_version_after=version,
            notes=tuple(notes),
        )  # fmt: skip
        self.records.append(record)
        log.info("kube write applied", fencing_token=self.last_token, **record.as_json())

    def _fenced(self, view: WorkloadView, planned: Planned) -> str | None:
        """The token to write under (None without a fence); NotLeaderError if we may not."""
        if self.fence is None:
            return None
        token = _token_of(self.fence, None)
        term = FencingToken.parse(token)
        for obj in _written_objects(view, planned):
            newer = newer_term(obj, term) if term is not None else None
            if newer is not None:
                raise NotLeaderError(
                    f"{view.label} was written under term {newer}, newer than ours ({token}): "
                    "deposed, nothing written"
                )
        return token

    def _send(self, write: PlannedWrite, token: str | None, *, dry_run: bool) -> Obj:
        """One PATCH, the fence asked right before it (and the term unchanged since)."""
        if self.fence is not None:
            _token_of(self.fence, token)
        return self.calls.patch(write, dry_run=dry_run)

    def _write(
        self, action: Action, planned: Planned, view: WorkloadView, key: str, token: str | None
    ) -> tuple[WorkloadView, list[str]]:
        """Send the planned writes for real; the objects as they left them, and notes."""
        notes: list[str] = []
        for write in planned.writes:
            if write.receipt:
                view = self._receipt(write, view, notes, token)
                continue
            answer, earlier = self._effect(action, write, key, token)
            if earlier:
                notes.append("an earlier attempt had landed; its retry met the conflict")
            view = _absorb(view, answer)
        return view, notes

    def _receipt(
        self, write: PlannedWrite, view: WorkloadView, notes: list[str], token: str | None
    ) -> WorkloadView:
        try:
            answer = self._send(write.at_version(view.resource_version), token, dry_run=False)
        except AiopsError as exc:  # the effect landed; only its receipt is missing
            notes.append(f"receipt not written: {exc}")
            log.info("kube write receipt failed", workload=view.label, error=str(exc))
            return view
        return _absorb(view, answer)

    def _effect(
        self, action: Action, write: PlannedWrite, key: str, token: str | None
    ) -> tuple[Obj, bool]:
        """The real write's answer, and whether an earlier, ambiguous attempt had landed."""
        try:
            return self._send(write, token, dry_run=False), False
        except ConflictError:
            landed = self._landed(action, key)
            if landed is None:
                raise
            return landed, True

    def _landed(self, action: Action, key: str) -> Obj | None:
        """The written object, re-read, when it shows this step's write; else None."""
        obj = self._written_object(action)
        if obj is None:
            return None
        if annotations_of(obj).get(LAST_ACTION_ANNOTATION) == key:
            return obj
        replicas = mapping(obj.get("spec")).get("replicas")
        if isinstance(action, ScaleAction) and replicas == action.to_replicas:
            return obj  # the scale landed; its receipt comes next
        return None

    def _written_object(self, action: Action) -> Obj | None:
        ref = _target(action)
        if isinstance(action, ScaleAction | AdjustHpaAction) and adapter_of(action) is not None:
            return adapted_object(self.calls, action)
        if isinstance(action, AdjustHpaAction):
            return self.calls.get_hpa(ref.namespace, action.hpa_name)
        return self.calls.get_deployment(ref.namespace, ref.name)

    def applied(self, action: Action, key: str) -> bool:
        """Whether the object ``action`` writes carries ``key`` as its last action (R17).

        The reconciling actuator asks this when the live state does not show the action's
        effect by itself (a rollback the deployment controller renumbered).
        """
        obj = self._written_object(action)
        return obj is not None and annotations_of(obj).get(LAST_ACTION_ANNOTATION) == key

    def resume_rollout(
        self, ref: WorkloadRef, *, resource_version: str, idempotency_key: str, now: datetime
    ) -> LiveWorkload:
        """Set ``spec.paused: false`` (no Action kind exists for it: a human's break glass)."""
        pause = PauseRolloutAction(target=ref)
        view = self.planner.read(pause)
        self.planner.decide(pause, view, resource_version, idempotency_key, now)
        planned = plan_paused(view, idempotency_key, paused=False, kind="resume_rollout")
        if planned is None:
            return live_of(view)
        token = self._fenced(view, planned)
        planned = _stamped(planned, token)
        for write in planned.writes:
            self._send(write, token, dry_run=True)
        after = _absorb(view, self._send(planned.writes[0], token, dry_run=False))
        self.last_token = token
        self._record("resume_rollout", idempotency_key, now, planned, view, after, [])
        return live_of(after)


def _token_of(fence: Fence, expected: str | None) -> str:
    """The fence's token now; NotLeaderError when there is none or the term changed."""
    token = fence.token()
    if token is None:
        raise NotLeaderError("not the leader, or its lease may be expiring: nothing written")
    if expected is not None and token != expected:
        raise NotLeaderError(f"leadership moved from term {expected} to {token} mid-action")
    return token


def _written_objects(view: WorkloadView, planned: Planned) -> list[Mapping[str, Any]]:
    """The live objects ``planned`` changes: the Deployment (its Scale too), or the HPA,
    ScaledObject or Rollout a write names."""
    others = {
        Resource.HPA: view.hpas,
        Resource.SCALEDOBJECT: view.scaled_objects,
        Resource.ROLLOUT: view.rollouts,
    }
    found: list[Mapping[str, Any]] = []
    for write in planned.writes:
        if write.resource in others:
            found.extend(o for o in others[write.resource] if name_of(o) == write.name)
        else:
            found.append(view.deployment)
    return found


def _stamped(planned: Planned, token: str | None) -> Planned:
    """``planned`` with the fencing token among the annotations of every object it writes
    (a Scale carries none: its receipt on the Deployment does)."""
    if token is None:
        return planned
    writes = []
    for write in planned.writes:
        if write.resource is not Resource.SCALE:
            meta = dict(write.body.get("metadata") or {})
            meta["annotations"] = {**(meta.get("annotations") or {}),
                                   FENCING_TOKEN_ANNOTATION: token}  # fmt: skip
            write = replace(write, body={**write.body, "metadata": meta})
        writes.append(write)
    return replace(planned, writes=tuple(writes))


def _absorb(view: WorkloadView, answer: Obj) -> WorkloadView:
    """``view`` with the object a write answered: a Deployment, an HPA, or a Scale."""
    kind = answer.get("kind")
    if kind == "Deployment":
        return replace(view, deployment=answer)
    if kind == "HorizontalPodAutoscaler":
        others = tuple(h for h in view.hpas if name_of(h) != name_of(answer))
        return replace(view, hpas=(*others, answer))
    if kind == "Scale":
        spec = {**mapping(view.deployment.get("spec")), **mapping(answer.get("spec"))}
        version = mapping(answer.get("metadata")).get("resourceVersion") or view.resource_version
        metadata = {**mapping(view.deployment.get("metadata")), "resourceVersion": version}
        return replace(view, deployment={**view.deployment, "spec": spec, "metadata": metadata})
    return absorb_adapted(view, answer)  # a ScaledObject or a Rollout
