"""The state store port: the SQLite store and its in-memory twin behave alike, and only the
SQLite one keeps its records across a reopen (a restart)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from controller.errors import PermanentError
from controller.models.actions import ScaleAction
from controller.models.decisions import ActionResult, ActionStatus
from controller.models.proposals import TokenUsage
from controller.planner.claude.budget import TokenBudget
from controller.state.history import StoredHistory
from controller.state.store import InMemoryStateStore, SqliteStateStore, StateStore
from tests.factories import T0, WEB

Factory = Callable[[Path], StateStore]
STORES: list[Factory] = [lambda _: InMemoryStateStore(), lambda p: SqliteStateStore(p / "s.db")]


@pytest.mark.parametrize("make", STORES, ids=["memory", "sqlite"])
def test_records_are_namespaced_ordered_and_copied(make: Factory, tmp_path: Path) -> None:
    store = make(tmp_path)
    store.put("a", "2", {"n": 2})
    store.put("a", "1", {"n": 1})
    store.put("b", "1", "other space")
    assert store.items("a") == [("1", {"n": 1}), ("2", {"n": 2})]
    value = store.get("a", "1")
    assert isinstance(value, dict)
    value["n"] = 99  # a caller's copy, not the stored record
    assert store.get("a", "1") == {"n": 1}
    store.put("a", "1", {"n": 3})
    store.delete("a", "2")
    store.delete("a", "missing")
    assert store.items("a") == [("1", {"n": 3})]
    assert store.get("b", "1") == "other space" and store.get("b", "2") is None


def test_sqlite_store_survives_a_reopen(tmp_path: Path) -> None:
    first = SqliteStateStore(tmp_path / "state.db")
    first.put("tracks", "shop.web.1", {"attempts": 2})
    first.close()
    again = SqliteStateStore(tmp_path / "state.db")
    assert again.items("tracks") == [("shop.web.1", {"attempts": 2})]


def test_unopenable_store_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(PermanentError, match=r"dir\.db: cannot open the state store"):
        SqliteStateStore(tmp_path / "dir.db")


def _applied(key: str, minutes: int) -> ActionResult:
    return ActionResult(
        action=ScaleAction(target=WEB, from_replicas=2, to_replicas=4),
        status=ActionStatus.APPLIED,
        idempotency_key=key,
        plan_hash="h" * 64,
        at=T0 + timedelta(minutes=minutes),
        detail="applied",
    )


def test_history_survives_a_restart_with_the_sqlite_store(tmp_path: Path) -> None:
    history = StoredHistory(SqliteStateStore(tmp_path / "state.db"))
    history.start("k2")
    history.finish(_applied("k2", 5))
    history.start("k1")
    history.finish(_applied("k1", 1))
    history.freeze(WEB, "made things worse")
    again = StoredHistory(SqliteStateStore(tmp_path / "state.db"))
    assert again.started("k1") and again.started("k2") and not again.started("k3")
    assert [p.at for p in again.past_actions()] == [T0 + timedelta(minutes=m) for m in (1, 5)]
    result = again.result("k1")
    assert result is not None and result.status is ActionStatus.APPLIED
    assert again.frozen(WEB) == "made things worse"
    again.unfreeze(WEB)
    assert StoredHistory(SqliteStateStore(tmp_path / "state.db")).frozen(WEB) is None


def test_daily_token_budget_survives_a_restart(tmp_path: Path) -> None:
    budget = TokenBudget(
        incident_limit=1000, daily_limit=1500, store=SqliteStateStore(tmp_path / "s.db")
    )
    budget.charge("i1", TokenUsage(input_tokens=900, output_tokens=100), T0)
    restarted = TokenBudget(
        incident_limit=1000, daily_limit=1500, store=SqliteStateStore(tmp_path / "s.db")
    )
    assert restarted.spent_today(T0) == 1000
    assert restarted.spent("i1").total == 1000
    denial = restarted.check("i2", 600, T0)
    assert denial is not None and denial.scope == "daily" and denial.remaining == 500
    assert restarted.check("i2", 600, T0 + timedelta(days=1)) is None  # a new UTC day


def test_budget_without_a_store_starts_from_zero(tmp_path: Path) -> None:
    TokenBudget(incident_limit=10, daily_limit=10).charge("i", TokenUsage(input_tokens=9), T0)
    assert TokenBudget(incident_limit=10, daily_limit=10).spent_today(T0) == 0
