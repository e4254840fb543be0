"""The cluster-wide kill switch: a ConfigMap the operator reads right before every write (R14).

``ClusterKillSwitch`` is the ``KillSwitch`` port over one ConfigMap (by default
``aiops/aiops-controller-kill-switch``)::

    data:
      engaged: "true"        # or "false"; anything else counts as engaged
      reason: "black friday, hands off"
      by: "kube:alice"
      at: "2026-03-10T12:00:00Z"

Why a ConfigMap: every cluster serves it, RBAC can grant the operator ``get`` on exactly
this one object (``resourceNames``) and a human ``patch`` on it, and ``kubectl`` can flip
it when the ``aiops`` CLI is not at hand. Reading it needs the Kubernetes API only, the one
dependency every write needs anyway: the LLM, Slack and Prometheus play no part (A7).

Fail closed: ``engaged()`` is True whenever the switch cannot be read (timeout, 5xx, 403),
is missing (a deleted switch must not mean "go"; ``aiops unfreeze`` creates it disengaged,
the Helm chart ships it) or is malformed. A read is a live GET with a short timeout and no
retry, memoised for ``cache_for`` (default 1 s, below one tick), so the actuator's check
right before a write sees a switch flipped a moment ago. ``freeze``/``unfreeze`` are the
write side used by ``aiops freeze``/``aiops unfreeze``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from kubernetes.client import ApiClient

from controller.errors import AiopsError
from controller.kube.client import Timeouts
from controller.kube.errors import ConflictError
from controller.kube.objects import ObjectCalls
from controller.settings import KillSwitchSettings

log = structlog.get_logger("aiops.kube.killswitch")
Obj = dict[str, Any]

ENGAGED_KEY = "engaged"
MAX_WRITE_ATTEMPTS = 3
"""Read-modify-write rounds of ``freeze``/``unfreeze`` when another writer races (409)."""


@dataclass(frozen=True, slots=True)
class SwitchState:
    """What the switch says: engaged or not, who set it and why, or why it is unreadable."""

    engaged: bool
    readable: bool
    reason: str = ""
    by: str = ""
    at: str = ""
    problem: str = ""

    def describe(self) -> str:
        """One line for logs, mode reasons and the CLI."""
        if self.problem:
            return f"kill switch treated as engaged (fail closed): {self.problem}"
        if not self.engaged:
            return "kill switch disengaged"
        who = f" by {self.by}" if self.by else ""
        when = f" at {self.at}" if self.at else ""
        why = f": {self.reason}" if self.reason else ""
        return f"kill switch engaged{who}{when}{why}"


def state_of(config_map: Obj | None, where: str) -> SwitchState:
    """Judge the ConfigMap as read (None: it does not exist). Pure; fails closed."""
    if config_map is None:
        return SwitchState(True, False, problem=f"ConfigMap {where} not found")
    data = config_map.get("data")
    if not isinstance(data, dict):
        return SwitchState(True, False, problem=f"ConfigMap {where} has no data")
    value = data.get(ENGAGED_KEY)
    fields = {k: str(data.get(k) or "")[:500] for k in ("reason", "by", "at")}
    if value == "true":
        return SwitchState(True, True, **fields)
    if value == "false":
        return SwitchState(False, True, **fields)
    shown = "missing" if value is None else repr(str(value)[:40])
    problem = f'ConfigMap {where} data.{ENGAGED_KEY} is {shown}, not "true" or "false"'
    return SwitchState(True, False, problem=problem, **fields)


class ClusterKillSwitch:
    """The ``KillSwitch`` port over the ConfigMap of ``settings``; thread-safe."""

    def __init__(
        self,
        api_client: ApiClient,
        settings: KillSwitchSettings,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        seconds = settings.request_timeout.total_seconds()
        self._calls = ObjectCalls(api_client, timeouts=Timeouts(seconds, seconds))
        self._namespace, self._name = settings.namespace, settings.name
        self._cache_for = settings.cache_for.total_seconds()
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._last: SwitchState | None = None
        self._read_at = 0.0

    @property
    def where(self) -> str:
        """``namespace/name`` of the ConfigMap."""
        return f"{self._namespace}/{self._name}"

    def engaged(self) -> bool:
        """True when no mutation may happen: engaged, missing, unreadable or malformed."""
        return self.state().engaged

    def state(self) -> SwitchState:
        """The switch as read at most ``cache_for`` ago (a live GET otherwise)."""
        with self._lock:
            fresh = self._last is not None and (self._monotonic() - self._read_at < self._cache_for)
            if fresh and self._last is not None:
                return self._last
        return self.refresh()

    def refresh(self) -> SwitchState:
        """Read the ConfigMap now; any failure to read is an engaged switch."""
        try:
            found = self._calls.get_config_map(self._namespace, self._name)
            state = state_of(found, self.where)
        except AiopsError as exc:
            state = SwitchState(True, False, problem=f"cannot read ConfigMap {self.where}: {exc}")
        with self._lock:
            previous, self._last, self._read_at = self._last, state, self._monotonic()
        if previous is None or previous != state:
            if state.engaged:
                log.warning("kill switch engaged", switch=self.where, state=state.describe())
            else:
                log.info("kill switch disengaged", switch=self.where)
        return state


# ----- the write side (aiops freeze / aiops unfreeze) -------------------------------------------


def _body(name: str, namespace: str, data: dict[str, str]) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/name": "aiops-controller"},
        },
        "data": data,
    }


def set_switch(
    calls: ObjectCalls,
    settings: KillSwitchSettings,
    *,
    engaged: bool,
    reason: str,
    by: str,
    now: datetime,
) -> SwitchState:
    """Engage or release the switch; create the ConfigMap when it is missing.

    A conditional write (the resourceVersion just read), so two operators racing never lose
    an engage: a 409 re-reads and writes again, at most ``MAX_WRITE_ATTEMPTS`` times.

    Raises:
        AiopsError: the API refused or could not be reached (the caller reports it).
    """
    data = {
        ENGAGED_KEY: "true" if engaged else "false",
        "reason": reason,
        "by": by,
        "at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    namespace, name = settings.namespace, settings.name
    where = f"{namespace}/{name}"
    for attempt in range(1, MAX_WRITE_ATTEMPTS + 1):
        current = calls.get_config_map(namespace, name)
        try:
            if current is None:
                stored = calls.create_config_map(namespace, _body(name, namespace, data))
            else:
                version = (current.get("metadata") or {}).get("resourceVersion")
                patch = {"metadata": {"resourceVersion": version}, "data": data}
                stored = calls.patch_config_map(namespace, name, patch)
        except ConflictError:
            if attempt == MAX_WRITE_ATTEMPTS:
                raise
            continue
        log.info("kill switch written", switch=where, engaged=engaged, by=by)
        return state_of(stored, where)
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises
