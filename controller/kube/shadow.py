"""``ShadowWriter``: the same protocol as ``KubeWriter``, and it changes nothing.

It reads live and decides exactly as the real writer does (same preconditions, same
refusals, same planned patches), then records the would-be writes as data
(``records``: ``WriteRecord`` with ``applied=False``) and logs them; no PATCH leaves the
process, not even a server-side dry run. ``records_only`` tells the reconciling actuator to
report the outcome as a dry run rather than as applied.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from datetime import datetime

import structlog
from kubernetes.client import ApiClient

from controller.kube.calls import DEFAULT_RETRY
from controller.kube.writer import Adapters, WritePlanner, kube_calls, live_of
from controller.kube.writes import WriteRecord
from controller.models.actions import Action
from controller.ports import LiveWorkload
from controller.settings import KubeSettings, RetrySettings

log = structlog.get_logger("aiops.kube.writer")


class ShadowWriter:
    """ClusterWriter that records what ``KubeWriter`` would write, and writes nothing."""

    records_only = True
    """Read by the actuator: an ``apply`` here is a dry run, never an applied change."""

    def __init__(
        self,
        api_client: ApiClient,
        *,
        settings: KubeSettings | None = None,
        retry: RetrySettings = DEFAULT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
        allow_gitops: bool = False,
        keep: int = 256,
        adapters: Adapters = (),
    ) -> None:
        self.planner = WritePlanner(
            kube_calls(api_client, settings, retry, sleep),
            allow_gitops=allow_gitops,
            adapters=adapters,
        )
        self.records: deque[WriteRecord] = deque(maxlen=max(1, keep))
        """The newest ``keep`` would-be writes, oldest first."""

    def apply(
        self, action: Action, *, resource_version: str, idempotency_key: str, now: datetime
    ) -> LiveWorkload:
        """Decide like the real writer, record the patches, return the workload unchanged."""
        view = self.planner.read(action)
        planned = self.planner.decide(action, view, resource_version, idempotency_key, now)
        live = live_of(view)
        if planned is None:
            log.info("kube write not needed", workload=view.label, action=action.kind,
                     idempotency_key=idempotency_key, shadow=True)  # fmt: skip
            return live
        record = WriteRecord(
            idempotency_key, action.kind, view.label, now, planned.pre_state, planned.writes,
            applied=False, resource_version_before=view.resource_version,
        )  # fmt: skip
        self.records.append(record)
        log.info("kube write recorded, not sent", shadow=True, **record.as_json())
        return live
