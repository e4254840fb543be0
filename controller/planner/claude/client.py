"""The Claude planner: the PlanProposer that asks the Messages API through ``anthropic``.

One incident is one bounded conversation (SAFETY.md R2, R9, R13, CH-01..CH-03, CH-22):

* the SDK's own retries are off (``max_retries=0``); each model turn is one logical call
  retried by ``resilience.retry_call`` only (at most ``settings.retry.attempts`` HTTP attempts,
  I8), with the SDK's exceptions translated first: 529/500-504/connection/timeouts are
  temporary, 429 waits at least its ``retry-after`` (longer than ``max_retry_after`` fails
  RATE_LIMITED), a spend limit is never retried, other 4xx are permanent;
* a circuit breaker wraps each logical call; when it is open no request is made at all, and
  half-open lets exactly one single-attempt probe through;
* a deadline covers the whole tool-use loop, per-call timeouts shrink to what is left of it,
  and the token budget is checked before every call and charged after it;
* the model may call read-only tools at most ``max_tool_calls`` times, then must call
  ``submit_plan``; an invalid submission gets exactly one re-ask quoting the rejection.

``propose`` never raises for a planner failure: the outcome names the fallback reason, and the
graph uses the runbook plan. The one exception is an ``InputError`` raised by an injected
transport (a replay whose recording is missing): that must stop the replay, not fall back.

The SDK's exceptions are translated in ``api_errors``; this module and that one are the only
importers of ``anthropic``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anthropic
import structlog

from controller.errors import AiopsError, InputError, is_retryable
from controller.models.actions import Plan
from controller.models.incident_file import LlmExchange
from controller.models.proposals import (
    FallbackReason,
    ProposalOutcome,
    ProposalRequest,
    TokenUsage,
)
from controller.planner.claude import output as llm_output
from controller.planner.claude import prompts, tools
from controller.planner.claude.api_errors import CallError, error_body, translate
from controller.planner.claude.budget import TokenBudget
from controller.planner.claude.output import (
    SUBMIT_TOOL,
    Rejection,
    parse_submission,
    submission_schema,
    tool_inputs,
)
from controller.planner.runbook.catalog import Runbook
from controller.ports import Clock, PlanProposer
from controller.resilience import BreakerState, CircuitBreaker, CircuitOpenError, retry_call
from controller.settings import LlmSettings

log = structlog.get_logger(__name__)

INCIDENT_HEADER = "x-aiops-incident"
"""Tags each request with its incident id, so a recorded transport can answer per incident."""
MAX_EXTRA_TURNS = 3
"""Turns allowed beyond the tool calls: the submission, one re-ask, one forced submission."""
_SUBMIT_DEFINITION = {
    "name": SUBMIT_TOOL,
    "description": "Submit the one remediation plan for this incident (exactly once).",
    "input_schema": submission_schema(),
}


class _Fallback(AiopsError):
    """Ends one proposal with a fallback reason (internal control flow)."""

    def __init__(self, reason: FallbackReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class DeadlineExceeded(AiopsError):
    """The planner deadline leaves no time for the next call or wait (never retried)."""


def llm_breaker(
    settings: LlmSettings, clock: Callable[[], float] = time.monotonic
) -> CircuitBreaker:
    """The breaker for the planner: retryable failures and deadline overruns count."""
    return CircuitBreaker(
        settings.breaker,
        clock,
        counts=lambda exc: is_retryable(exc) or isinstance(exc, DeadlineExceeded),
    )


@dataclass
class _Run:
    """Mutable bookkeeping of one proposal (never shared between incidents)."""

    request: ProposalRequest
    deadline: float
    usage: TokenUsage = TokenUsage()
    attempts: int = 0
    tool_calls: int = 0
    reasks: int = 0
    last_rejection: str = ""
    exchanges: list[LlmExchange] = field(default_factory=list)

    def outcome(self, plan: Plan | None, fallback: _Fallback | None = None) -> ProposalOutcome:
        return ProposalOutcome(
            plan=plan,
            fallback=None if fallback is None else fallback.reason,
            detail="" if fallback is None else fallback.detail,
            usage=self.usage,
            attempts=self.attempts,
            tool_calls=self.tool_calls,
            reasks=self.reasks,
            exchanges=tuple(self.exchanges),
        )


class ClaudePlanner:
    """PlanProposer over an injected ``anthropic.Anthropic`` client (``max_retries=0``)."""

    def __init__(
        self,
        client: anthropic.Anthropic,
        *,
        settings: LlmSettings,
        runbooks: Sequence[Runbook],
        tools_data: tools.ToolsDataProvider,
        breaker: CircuitBreaker,
        budget: TokenBudget,
        clock: Clock,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._settings = settings
        self._runbooks = tuple(runbooks)
        self._tools_data = tools_data
        self._breaker = breaker
        self._budget = budget
        self._clock = clock
        self._sleep = sleep
        self._monotonic = monotonic
        self._tools = tools.cached([*tools.tool_definitions(), _SUBMIT_DEFINITION])
        self._system = prompts.system_blocks(self._runbooks)
        self.rejections = 0
        """Rejected model replies so far (CH-03 counts them against the faults injected)."""

    def close(self) -> None:
        """Release the SDK's HTTP connections (keep-alive sockets) on shutdown."""
        self._client.close()

    def propose(self, request: ProposalRequest) -> ProposalOutcome:
        """A plan from the model, or the reason there is none (never raises for failures)."""
        run = _Run(request, self._monotonic() + self._settings.deadline.total_seconds())
        try:
            plan = self._converse(run)
        except _Fallback as stop:
            log.info(
                "llm planner fell back",
                incident_id=request.incident.id,
                reason=stop.reason.value,
                detail=stop.detail,
                attempts=run.attempts,
            )
            return run.outcome(None, stop)
        log.info("llm plan proposed", incident_id=request.incident.id, plan_hash=plan.plan_hash())
        return run.outcome(plan)

    # --- the conversation -----------------------------------------------------------------

    def _converse(self, run: _Run) -> Plan:
        request = run.request
        data = self._tools_data(request)
        text = prompts.incident_message(
            request, data.telemetry, limit=self._settings.telemetry_max_chars
        )
        messages: list[dict[str, Any]] = [{"role": "user", "content": text}]
        force = self._settings.max_tool_calls == 0
        for _ in range(self._settings.max_tool_calls + MAX_EXTRA_TURNS):
            body = self._call(run, messages, force)
            calls = tool_inputs(body)
            content = body.get("content") or []
            if llm_output.is_submission_turn(body, calls):
                plan = self._judge(run, body)
                if plan is not None:
                    return plan
                force = True
                continue_with = self._reask_blocks(calls, run.last_rejection, data)
            else:
                continue_with = self._run_tools(run, calls, data)
                force = run.tool_calls >= self._settings.max_tool_calls
            llm_output.extend(
                messages, llm_output.echo(content, self._settings.max_reply_bytes), continue_with
            )
        raise _Fallback(FallbackReason.INVALID_OUTPUT, "no plan within the allowed turns")

    def _judge(self, run: _Run, body: dict[str, Any]) -> Plan | None:
        """The plan of a submission turn; None after a rejection that earns the one re-ask."""
        request = run.request
        result = parse_submission(
            body,
            request.incident,
            request.runbook_plan,
            request.now,
            inventory=request.inventory,
            max_bytes=self._settings.max_reply_bytes,
        )
        if not isinstance(result, Rejection):
            return result
        self.rejections += 1
        log.info(
            "llm output rejected",
            incident_id=request.incident.id,
            reason=result.reason.value,
            detail=result.detail,
            reasks=run.reasks,
        )
        if run.reasks >= 1:
            raise _Fallback(result.reason, f"rejected after one re-ask: {result.detail}")
        run.reasks += 1
        run.last_rejection = result.detail
        return None

    def _reask_blocks(
        self, calls: Sequence[Mapping[str, Any]], detail: str, data: tools.ToolsData
    ) -> list[dict[str, Any]]:
        """Error results for every tool call of the rejected reply, then the re-ask text.

        The rejection may quote the model's own output, so it goes out as untrusted data.
        """
        secrets, limit = data.telemetry.secrets, self._settings.telemetry_max_chars
        rejected = prompts.rejection_text(detail, secrets, limit)
        blocks: list[dict[str, Any]] = [
            llm_output.tool_result(str(call.get("id", "")), rejected, True) for call in calls
        ]
        blocks.append({"type": "text", "text": prompts.reask_text(detail, secrets, limit)})
        return blocks

    def _run_tools(
        self, run: _Run, calls: Sequence[Mapping[str, Any]], data: tools.ToolsData
    ) -> list[dict[str, Any]]:
        """Execute the read-only calls within the per-incident cap."""
        blocks = []
        for call in calls:
            call_id = str(call.get("id", ""))
            if run.tool_calls >= self._settings.max_tool_calls:
                blocks.append(llm_output.tool_result(call_id, prompts.TOOL_BUDGET_USED, True))
                continue
            run.tool_calls += 1
            result = tools.execute(
                str(call.get("name", "")),
                call.get("input"),
                data,
                limit=max(1000, self._settings.telemetry_max_chars * 2),
            )
            blocks.append(llm_output.tool_result(call_id, result.content, result.is_error))
        return blocks

    # --- one logical call -----------------------------------------------------------------

    def _call(self, run: _Run, messages: list[dict[str, Any]], force: bool) -> dict[str, Any]:
        """One model turn through breaker, budget, deadline and the one retry layer."""
        params = self._params(messages, force)
        incident_id = run.request.incident.id
        needed = len(json.dumps(params)) // 3 + self._settings.max_tokens
        denial = self._budget.check(incident_id, needed, self._clock.now())
        if denial is not None:
            raise _Fallback(FallbackReason.BUDGET_EXHAUSTED, str(denial))
        retry = self._settings.retry
        if self._breaker.state is BreakerState.HALF_OPEN:
            retry = retry.model_copy(update={"attempts": 1})  # the probe is one request

        def attempt() -> dict[str, Any]:
            return self._attempt(run, params)

        try:
            return self._breaker.call(
                lambda: retry_call(
                    attempt, settings=retry, name="anthropic.messages", sleep=self._sleeper(run)
                )
            )
        except CircuitOpenError as exc:
            raise _Fallback(FallbackReason.BREAKER_OPEN, f"circuit open: {exc}") from exc
        except DeadlineExceeded as exc:
            raise _Fallback(FallbackReason.DEADLINE, str(exc)) from exc
        except CallError as exc:
            raise _Fallback(exc.reason, str(exc)) from exc

    def _params(self, messages: list[dict[str, Any]], force: bool) -> dict[str, Any]:
        choice = {"type": "tool", "name": SUBMIT_TOOL} if force else {"type": "any"}
        return {
            "model": self._settings.model,
            "max_tokens": self._settings.max_tokens,
            "system": self._system,
            "tools": self._tools,
            "tool_choice": choice,
            "messages": [dict(m) for m in messages],
        }

    def _sleeper(self, run: _Run) -> Callable[[float], None]:
        def sleep(seconds: float) -> None:
            if self._monotonic() + seconds > run.deadline:
                raise DeadlineExceeded(f"a {seconds:.1f}s retry wait would pass the deadline")
            self._sleep(seconds)

        return sleep

    def _attempt(self, run: _Run, params: dict[str, Any]) -> dict[str, Any]:
        """One HTTP round trip, recorded and charged; SDK errors leave translated."""
        remaining = run.deadline - self._monotonic()
        if remaining <= 0:
            raise DeadlineExceeded("the planner deadline has passed")
        timeout = min(self._settings.call_timeout.total_seconds(), remaining)
        incident_id = run.request.incident.id
        run.attempts += 1
        try:
            raw = self._client.messages.with_raw_response.create(
                **params, timeout=timeout, extra_headers={INCIDENT_HEADER: incident_id}
            )
            body = raw.http_response.json()
        except anthropic.APIError as exc:
            self._record(run, params, error_body(exc), {})
            translated = translate(exc)
            if isinstance(translated, InputError):
                raise translated from exc
            if run.deadline - self._monotonic() <= 0:
                raise DeadlineExceeded(f"deadline passed during the call: {exc}") from exc
            raise translated from exc
        usage = llm_output.usage(body)
        self._record(run, params, body, usage.model_dump())
        run.usage = run.usage + usage
        self._budget.charge(incident_id, usage, self._clock.now())
        return body if isinstance(body, dict) else {}

    def _record(self, run: _Run, params: dict[str, Any], body: Any, usage: dict[str, int]) -> None:
        run.exchanges.append(
            LlmExchange(
                time=self._clock.now(),
                incident_id=run.request.incident.id,
                model=self._settings.model,
                request=params,
                response=body if isinstance(body, dict) else {"unexpected": body},
                usage=usage,
            )
        )


# --- factories --------------------------------------------------------------------------------


class _FixedOutcomePlanner:
    """A planner that makes no request and always answers the same fallback."""

    def __init__(self, reason: FallbackReason, detail: str) -> None:
        self._reason = reason
        self._detail = detail

    def propose(self, request: ProposalRequest) -> ProposalOutcome:
        """The fixed fallback, at no cost."""
        return ProposalOutcome(fallback=self._reason, detail=self._detail)


def build_client(
    settings: LlmSettings, api_key: str, *, http_client: Any | None = None
) -> anthropic.Anthropic:
    """The SDK client: its own retries off (one retry layer), the per-call timeout set."""
    return anthropic.Anthropic(
        api_key=api_key,
        base_url=settings.base_url,
        max_retries=0,
        timeout=settings.call_timeout.total_seconds(),
        http_client=http_client,
    )


def build_claude_planner(
    settings: LlmSettings,
    api_key: str | None,
    *,
    runbooks: Sequence[Runbook],
    tools_data: tools.ToolsDataProvider,
    clock: Clock,
    budget: TokenBudget | None = None,
    breaker: CircuitBreaker | None = None,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    http_client: Any | None = None,
) -> PlanProposer:
    """The planner the settings ask for; without a key one that answers NO_KEY offline."""
    if not settings.enabled:
        return _FixedOutcomePlanner(FallbackReason.DISABLED, "LLM planner disabled by settings")
    if not api_key:
        log.warning("no ANTHROPIC_API_KEY: planning with runbooks only")
        return _FixedOutcomePlanner(FallbackReason.NO_KEY, "no ANTHROPIC_API_KEY configured")
    return ClaudePlanner(
        build_client(settings, api_key, http_client=http_client),
        settings=settings,
        runbooks=runbooks,
        tools_data=tools_data,
        breaker=breaker or llm_breaker(settings, monotonic),
        budget=budget or TokenBudget.from_settings(settings),
        clock=clock,
        sleep=sleep,
        monotonic=monotonic,
    )
