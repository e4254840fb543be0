"""Small pieces of the composition root: clocks, loaders, the leader gate, the GC hook.

Kept apart from ``root`` so that file reads as the order things start and stop in.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import structlog

from controller.errors import RunbookError, TemporaryError
from controller.guardrails.loader import LoadedPolicy, load_policy
from controller.models.actions import Action
from controller.operator.modes import OperatorMode, policy_for_mode
from controller.operator.ports import Leadership
from controller.planner.runbook.catalog import Runbook, load_runbooks
from controller.ports import ClusterWriter, LiveWorkload
from controller.runtime import tune_collector

log = structlog.get_logger("aiops.operator")


class WallClock:
    """The live ``Clock``: timezone-aware UTC now."""

    def now(self) -> datetime:
        """Now, UTC."""
        return datetime.now(UTC)


def policy_loader(mode: OperatorMode) -> Callable[[Path], LoadedPolicy]:
    """Load a policy file and apply the mode to it (the mode survives every reload)."""

    def load(path: Path) -> LoadedPolicy:
        return policy_for_mode(load_policy(path), mode)

    return load


def load_runbook_folder(path: Path) -> tuple[Runbook, ...]:
    """Every runbook in ``path``; an empty folder is an error, as ``aiops runbooks check``."""
    books = load_runbooks(path)
    if not books:
        raise RunbookError(path, "", "no runbooks found (expected *.md files with front-matter)")
    return books


class LeaderGatedWriter:
    """A ``ClusterWriter`` that refuses to write unless ``leadership`` says this replica
    leads, checked right before each write. A second line behind the Lease's own fencing:
    a standby that was handed a stale plan cannot write either."""

    def __init__(self, inner: ClusterWriter, leadership: Leadership) -> None:
        self.inner = inner
        self._leadership = leadership

    def apply(
        self, action: Action, *, resource_version: str, idempotency_key: str, now: datetime
    ) -> LiveWorkload:
        """Write through ``inner`` while leading; TemporaryError (re-plan later) otherwise."""
        if not self._leadership.is_leader():
            raise TemporaryError("not the leader: this replica observes and never writes")
        return self.inner.apply(
            action, resource_version=resource_version, idempotency_key=idempotency_key, now=now
        )

    def applied(self, action: Action, key: str) -> bool:
        """Receipts pass through (the real writer reads them off the object)."""
        check = getattr(self.inner, "applied", None)
        return bool(check(action, key)) if callable(check) else False


def tune_gc() -> tuple[int, int, int]:
    """Tune the collector once the long-lived objects exist (``controller.runtime``): the
    watch cache, policies and the series store are then frozen out of every collection.
    Returns the thresholds it replaced."""
    previous = tune_collector()
    log.info("gc tuned", thresholds=gc.get_threshold(), frozen=gc.get_freeze_count())
    return previous
