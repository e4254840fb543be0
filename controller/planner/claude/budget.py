"""Token budgets for the LLM planner: per incident and per UTC day.

A call is checked before it is made (a call that cannot fit is not made: the planner falls
back with BUDGET_EXHAUSTED) and charged afterwards with the usage the API reported, so a
runaway tool loop or a flood of incidents cannot turn into an unbounded bill (R9, CH-22).
The day is the UTC calendar day of the ``now`` the caller passes in (the injected clock), so
the daily spend resets at UTC midnight and tests can cross midnight without waiting.

With a ``StateStore`` the spend is written through on every charge and read back on start,
so a restart (or a crash loop) cannot reset the daily budget (CH-22).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, date, datetime

from controller.models.proposals import TokenUsage
from controller.settings import LlmSettings
from controller.state.store import StateStore

SPACE = "budget"
DAY_KEY = "day"
INCIDENT_SPACE = "budget.incidents"

MAX_TRACKED_INCIDENTS = 10_000
"""Per-incident spend is kept for this many recent incidents (bounded memory)."""


@dataclass(frozen=True, slots=True)
class BudgetDenial:
    """Why a call may not be made: which budget, what is left, what the call needs."""

    scope: str
    remaining: int
    needed: int

    def __str__(self) -> str:
        return f"{self.scope} token budget: {self.remaining} left, call needs up to {self.needed}"


class TokenBudget:
    """Thread-safe spend tracking with a per-incident and a per-UTC-day limit."""

    def __init__(
        self, *, incident_limit: int, daily_limit: int, store: StateStore | None = None
    ) -> None:
        self._incident_limit = incident_limit
        self._daily_limit = daily_limit
        self._lock = threading.Lock()
        self._incidents: OrderedDict[str, TokenUsage] = OrderedDict()
        self._day: date | None = None
        self._day_spent = 0
        self._store = store
        if store is not None:
            self._load(store)

    @classmethod
    def from_settings(cls, settings: LlmSettings, store: StateStore | None = None) -> TokenBudget:
        """The budget the settings describe (durable when ``store`` is given)."""
        return cls(
            incident_limit=settings.incident_token_budget,
            daily_limit=settings.daily_token_budget,
            store=store,
        )

    def _load(self, store: StateStore) -> None:
        day = store.get(SPACE, DAY_KEY)
        if isinstance(day, dict):
            self._day = date.fromisoformat(str(day["day"]))
            self._day_spent = int(day["spent"])
        for incident_id, usage in store.items(INCIDENT_SPACE)[-MAX_TRACKED_INCIDENTS:]:
            self._incidents[incident_id] = TokenUsage.model_validate(usage)

    def _save(self, incident_id: str, evicted: list[str]) -> None:
        """Write the day's spend and the incident's through (lock held)."""
        if self._store is None or self._day is None:
            return
        self._store.put(SPACE, DAY_KEY, {"day": self._day.isoformat(), "spent": self._day_spent})
        usage = self._incidents.get(incident_id)
        if usage is not None:
            self._store.put(INCIDENT_SPACE, incident_id, usage.model_dump(mode="json"))
        for gone in evicted:
            self._store.delete(INCIDENT_SPACE, gone)

    def check(self, incident_id: str, needed: int, now: datetime) -> BudgetDenial | None:
        """None when a call needing up to ``needed`` tokens fits both budgets."""
        with self._lock:
            self._roll(now)
            spent = self._incidents.get(incident_id, TokenUsage()).total
            left_incident = self._incident_limit - spent
            left_day = self._daily_limit - self._day_spent
        if needed > left_incident:
            return BudgetDenial("incident", max(0, left_incident), needed)
        if needed > left_day:
            return BudgetDenial("daily", max(0, left_day), needed)
        return None

    def charge(self, incident_id: str, usage: TokenUsage, now: datetime) -> None:
        """Add what the API reported for one call."""
        with self._lock:
            self._roll(now)
            self._incidents[incident_id] = self._incidents.get(incident_id, TokenUsage()) + usage
            self._incidents.move_to_end(incident_id)
            evicted = []
            while len(self._incidents) > MAX_TRACKED_INCIDENTS:
                evicted.append(self._incidents.popitem(last=False)[0])
            self._day_spent += usage.total
            self._save(incident_id, evicted)

    def spent(self, incident_id: str) -> TokenUsage:
        """Everything charged to one incident so far."""
        with self._lock:
            return self._incidents.get(incident_id, TokenUsage())

    def spent_today(self, now: datetime) -> int:
        """Tokens charged during the UTC day of ``now``."""
        with self._lock:
            self._roll(now)
            return self._day_spent

    def _roll(self, now: datetime) -> None:
        """Start a new daily count when ``now`` is on a later UTC day (lock held)."""
        today = now.astimezone(UTC).date()
        if self._day is None or today > self._day:
            self._day = today
            self._day_spent = 0
