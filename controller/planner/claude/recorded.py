"""Replaying recorded LLM exchanges with no network: ``aiops replay`` of an LLM-planned incident.

``RecordedTransport`` is an ``httpx2.BaseTransport`` (the transport type of the anthropic SDK's
supported ``http_client`` injection; the SDK rejects plain ``httpx`` objects): it answers the
SDK's requests, in order, from an incident file's ``llm_exchanges`` for the request's incident
id. Recorded failures replay as failures (same status, or a connection error), so the retry
layer and the fallback behave as they did. A request beyond the recording raises
``RecordingMissingError``, which the planner lets propagate: a missing recording stops the
replay; it never turns into a live call or a silent fallback.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import httpx2

from controller.errors import InputError
from controller.models.incident_file import LlmExchange
from controller.planner.claude.budget import TokenBudget
from controller.planner.claude.client import (
    INCIDENT_HEADER,
    ClaudePlanner,
    build_client,
    llm_breaker,
)
from controller.planner.claude.tools import ToolsDataProvider
from controller.planner.runbook.catalog import Runbook
from controller.ports import Clock
from controller.settings import LlmSettings

SOURCE = "incident file llm_exchanges"
REPLAY_KEY = "recorded-replay-no-network"


class RecordingMissingError(InputError):
    """The replay asked for an exchange the incident file does not hold."""

    kind = "incident"


class RecordedTransport(httpx2.BaseTransport):
    """Answers requests from recorded exchanges, per incident id, in recorded order."""

    def __init__(self, exchanges: Sequence[LlmExchange]) -> None:
        self._by_incident: dict[str, list[LlmExchange]] = defaultdict(list)
        for exchange in exchanges:
            self._by_incident[exchange.incident_id or ""].append(exchange)
        self._cursor: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        """The next recorded response of the request's incident, or RecordingMissingError."""
        incident_id = request.headers.get(INCIDENT_HEADER, "")
        with self._lock:
            index = self._cursor[incident_id]
            recorded = self._by_incident.get(incident_id, [])
            if index >= len(recorded):
                raise RecordingMissingError(
                    SOURCE,
                    f"{incident_id or '(no incident id)'}[{index}]",
                    f"no recorded exchange: the recording holds {len(recorded)} for this incident",
                )
            self._cursor[incident_id] = index + 1
        return _response(recorded[index].response, request)

    def remaining(self, incident_id: str) -> int:
        """Recorded exchanges of ``incident_id`` not replayed yet."""
        with self._lock:
            return len(self._by_incident.get(incident_id, [])) - self._cursor[incident_id]


def _response(recorded: dict[str, Any], request: httpx2.Request) -> httpx2.Response:
    """The recorded body with its status; status 0 is a failure without response."""
    body = {k: v for k, v in recorded.items() if k != "_http"}
    http = recorded.get("_http")
    status = int(http.get("status", 200)) if isinstance(http, dict) else 200
    if status == 0:
        error = body.get("error")
        kind = error.get("type") if isinstance(error, dict) else None
        if kind == "timeout_error":
            raise httpx2.ReadTimeout("recorded timeout", request=request)
        raise httpx2.ConnectError("recorded connection failure", request=request)
    headers = {"content-type": "application/json"}
    if isinstance(http, dict) and "retry_after" in http:
        headers["retry-after"] = str(http["retry_after"])
    content = json.dumps(body).encode("utf-8")
    return httpx2.Response(status, headers=headers, content=content, request=request)


def build_recorded_planner(
    exchanges: Sequence[LlmExchange],
    settings: LlmSettings,
    runbooks: Sequence[Runbook],
    *,
    tools_data: ToolsDataProvider,
    clock: Clock,
    sleep: Callable[[float], None] = lambda _seconds: None,
) -> ClaudePlanner:
    """A ClaudePlanner over the recording: same prompts and parsing, no network at all.

    Retry waits are skipped (``sleep`` does nothing) and the budget is unlimited: a replay
    reproduces what the recorded run decided, it does not spend.
    """
    transport = RecordedTransport(exchanges)
    http_client = httpx2.Client(transport=transport, base_url="http://recorded.invalid")
    replay_settings = settings.model_copy(update={"base_url": "http://recorded.invalid"})
    unlimited = TokenBudget(incident_limit=2**62, daily_limit=2**62)
    return ClaudePlanner(
        build_client(replay_settings, REPLAY_KEY, http_client=http_client),
        settings=replay_settings,
        runbooks=runbooks,
        tools_data=tools_data,
        breaker=llm_breaker(replay_settings),
        budget=unlimited,
        clock=clock,
        sleep=sleep,
    )
