"""ClaudePlanner with the REAL anthropic SDK against the loopback fake (CH-01, CH-02, CH-06,
CH-22, tool loop, budgets, no key)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from chaos.faults.fake_llm import (
    Delay,
    FakeMessagesApi,
    HttpError,
    PartialThenStall,
    Reply,
    SubmitPlan,
    ToolCall,
    refused_url,
)
from controller.models.proposals import FallbackReason
from controller.planner.claude.budget import TokenBudget
from controller.planner.claude.client import build_claude_planner, llm_breaker
from controller.resilience import BreakerState, CircuitBreaker
from tests.llm.canaries import unquote
from tests.llm.support import (
    RUNBOOKS,
    WEB,
    FakeMonotonic,
    FixedClock,
    expected_rollback,
    expected_scale,
    make_planner,
    plan_of,
    request,
    rollback_input,
    scale_input,
    settings,
    tools_data,
)


def test_valid_plan_in_one_call() -> None:
    with FakeMessagesApi([SubmitPlan(rollback_input())]) as fake:
        wiring = make_planner(fake.base_url)
        outcome = wiring.planner.propose(request())
    plan = plan_of(outcome)
    assert plan.action == expected_rollback()
    assert (plan.planner.value, plan.runbook_id, plan.incident_id) == ("llm", None, "inc-1")
    assert plan.snapshot_at == request().incident.snapshot_at
    assert (outcome.attempts, outcome.reasks, outcome.tool_calls, fake.attempts) == (1, 0, 0, 1)
    assert len(outcome.exchanges) == 1 and outcome.exchanges[0].incident_id == "inc-1"
    assert outcome.usage.total > 0 and outcome.usage == wiring.budget.spent("inc-1")
    sent = fake.requests[0]
    assert sent.headers.get("x-stainless-retry-count") == "0"
    assert sent.body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert sent.body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert {t["name"] for t in sent.body["tools"]} >= {"submit_plan", "get_metrics"}


def test_tool_use_loop_metrics_then_history_then_submit() -> None:
    replies: list[Reply] = [
        ToolCall("get_metrics", {"workload": "shop/web", "window_seconds": 600}),
        ToolCall("get_rollout_history", {"workload": "shop/web"}),
        SubmitPlan(rollback_input(to_revision=2)),
    ]
    with FakeMessagesApi(replies) as fake:
        outcome = make_planner(fake.base_url).planner.propose(request())
    assert plan_of(outcome).action == expected_rollback(2)
    assert (outcome.tool_calls, outcome.attempts, len(outcome.exchanges)) == (2, 3, 3)
    third = fake.requests[2].body["messages"]
    results = [b for m in third if m["role"] == "user" for b in m["content"] if isinstance(b, dict)]
    history = [b for b in results if b.get("type") == "tool_result" and "revisions" in b["content"]]
    assert history and unquote(history[0]["content"])["current_revision"] == 3
    metrics = [b for b in results if b.get("type") == "tool_result" and b.get("is_error")]
    assert metrics and "no metrics" in metrics[0]["content"]  # no windows in this snapshot


def test_tool_cap_forces_submit_plan_on_the_last_turn() -> None:
    call = ToolCall("get_rollout_history", {"workload": "shop/web"})
    with FakeMessagesApi([call, call, SubmitPlan(rollback_input())]) as fake:
        outcome = make_planner(fake.base_url, settings(max_tool_calls=2)).planner.propose(request())
    assert plan_of(outcome) and outcome.tool_calls == 2
    choices = [r.body["tool_choice"] for r in fake.requests]
    assert choices[:2] == [{"type": "any"}] * 2
    assert choices[2] == {"type": "tool", "name": "submit_plan"}


# --- CH-01: unavailable, rate-limited, spend cap ----------------------------------------------


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (HttpError(529, "overloaded_error"), FallbackReason.OVERLOADED),
        (HttpError(500, "api_error"), FallbackReason.SERVER_ERROR),
        (HttpError(503, "api_error"), FallbackReason.SERVER_ERROR),
    ],
)
def test_transient_errors_are_retried_then_succeed_or_fall_back(failure, reason) -> None:
    with FakeMessagesApi([failure, SubmitPlan(rollback_input())]) as fake:
        wiring = make_planner(fake.base_url)
        recovered = wiring.planner.propose(request())
    assert plan_of(recovered) and recovered.attempts == 2 == fake.attempts
    assert len(wiring.sleeps.waits) == 1
    with FakeMessagesApi(default=failure) as fake:
        outcome = make_planner(fake.base_url).planner.propose(request())
    assert outcome.plan is None and outcome.fallback is reason
    assert outcome.attempts == 3 == fake.attempts  # I8: <= 3 per logical call


def test_refused_connection_is_retried_and_falls_back() -> None:
    wiring = make_planner(refused_url())
    outcome = wiring.planner.propose(request())
    assert outcome.fallback is FallbackReason.CONNECTION and outcome.attempts == 3
    assert len(wiring.sleeps.waits) == 2


def test_429_first_retry_waits_at_least_retry_after() -> None:
    limited = HttpError(429, "rate_limit_error", headers={"retry-after": "2"})
    with FakeMessagesApi([limited, SubmitPlan(rollback_input())]) as fake:
        wiring = make_planner(fake.base_url)
        outcome = wiring.planner.propose(request())
    assert plan_of(outcome) and fake.attempts == 2
    assert wiring.sleeps.waits and wiring.sleeps.waits[0] >= 2.0


def test_429_retry_after_beyond_the_cap_fails_rate_limited_without_retry() -> None:
    limited = HttpError(429, "rate_limit_error", headers={"retry-after": "120"})
    with FakeMessagesApi(default=limited) as fake:
        wiring = make_planner(fake.base_url)
        outcome = wiring.planner.propose(request())
    assert outcome.fallback is FallbackReason.RATE_LIMITED
    assert fake.attempts == 1 and wiring.sleeps.waits == []


@pytest.mark.parametrize(
    "spend_cap",
    [
        HttpError(
            429,
            "rate_limit_error",
            "enforced spend limit reached",
            error_code="enforced_spend_limit_reached",
        ),
        HttpError(
            429,
            "rate_limit_error",
            "You have reached your spend limit",
            headers={"retry-after": "1"},
        ),
        HttpError(400, "billing_error", "credit balance too low"),
    ],
)
def test_spend_cap_is_never_retried(spend_cap) -> None:
    with FakeMessagesApi(default=spend_cap) as fake:
        wiring = make_planner(fake.base_url)
        outcome = wiring.planner.propose(request())
    assert outcome.fallback is FallbackReason.SPEND_CAP
    assert fake.attempts == 1 and wiring.sleeps.waits == []


def test_other_4xx_is_not_retried() -> None:
    with FakeMessagesApi(default=HttpError(400, "invalid_request_error")) as fake:
        outcome = make_planner(fake.base_url).planner.propose(request())
    assert outcome.fallback is FallbackReason.REQUEST_REJECTED and fake.attempts == 1


def test_breaker_opens_after_n_incidents_then_makes_no_request() -> None:
    llm = settings()  # breaker: 2 failures
    mono = FakeMonotonic()
    breaker = llm_breaker(llm, mono)
    with FakeMessagesApi(default=HttpError(529)) as fake:
        wiring = make_planner(fake.base_url, llm, breaker=breaker)
        first = wiring.planner.propose(request("inc-1"))
        second = wiring.planner.propose(request("inc-2"))
        assert fake.attempts == 6 and breaker.state is BreakerState.OPEN
        third = wiring.planner.propose(request("inc-3"))
        assert fake.attempts == 6  # no request at all
    assert [o.fallback for o in (first, second, third)] == [
        FallbackReason.OVERLOADED,
        FallbackReason.OVERLOADED,
        FallbackReason.BREAKER_OPEN,
    ]
    assert third.attempts == 0


def test_half_open_lets_exactly_one_probe_through() -> None:
    llm = settings()
    mono = FakeMonotonic()
    breaker = llm_breaker(llm, mono)
    with FakeMessagesApi(default=HttpError(529)) as fake:
        wiring = make_planner(fake.base_url, llm, breaker=breaker)
        wiring.planner.propose(request("inc-1"))
        wiring.planner.propose(request("inc-2"))
        mono.value += 31  # reset_after passed: half-open
        probe = wiring.planner.propose(request("inc-3"))
        assert probe.attempts == 1 and fake.attempts == 7  # one probe, no retries
        assert breaker.state is BreakerState.OPEN  # the probe failed: open again
        again = wiring.planner.propose(request("inc-4"))
        assert again.fallback is FallbackReason.BREAKER_OPEN and fake.attempts == 7
        mono.value += 31
        fake.script(SubmitPlan(rollback_input()))
        healed = wiring.planner.propose(request("inc-5"))
    assert plan_of(healed) and healed.attempts == 1
    assert state_of(breaker) is BreakerState.CLOSED


def state_of(breaker: CircuitBreaker) -> BreakerState:
    return breaker.state


def test_layering_probe_attempts_equal_retry_attempts() -> None:
    """CH-22: everything fails; one logical call makes exactly settings.retry.attempts."""
    llm = settings(breaker={"failures": 10, "reset_after": "30s"})
    with FakeMessagesApi(default=HttpError(503)) as fake:
        outcome = make_planner(fake.base_url, llm).planner.propose(request())
    assert fake.attempts == llm.retry.attempts == outcome.attempts == 3
    assert all(r.headers.get("x-stainless-retry-count") == "0" for r in fake.requests)


# --- CH-02: slow and hung ---------------------------------------------------------------------


def test_headers_held_past_the_timeout_do_not_outlive_it() -> None:
    llm = settings(call_timeout=timedelta(milliseconds=300))
    with FakeMessagesApi(default=Delay(20, SubmitPlan(rollback_input()))) as fake:
        wiring = make_planner(fake.base_url, llm)
        started = time.monotonic()
        outcome = wiring.planner.propose(request())
        elapsed = time.monotonic() - started
    assert outcome.fallback is FallbackReason.TIMEOUT and outcome.attempts == 3
    assert elapsed <= 3 * (0.3 + 1.0)  # no call outlives its timeout by more than 1 s


def test_a_half_written_tool_call_that_stalls_does_not_outlive_the_timeout() -> None:
    llm = settings(call_timeout=timedelta(milliseconds=300))
    stall = PartialThenStall(SubmitPlan(rollback_input()), keep=120, seconds=20)
    with FakeMessagesApi(default=stall) as fake:
        started = time.monotonic()
        outcome = make_planner(fake.base_url, llm).planner.propose(request())
        elapsed = time.monotonic() - started
    assert outcome.plan is None and outcome.fallback is FallbackReason.TIMEOUT
    assert fake.attempts == outcome.attempts == 3
    assert elapsed <= 3 * (0.3 + 1.0)  # no call outlives its timeout by more than 1 s


def test_a_slow_tool_loop_hits_the_planner_deadline() -> None:
    llm = settings(deadline=timedelta(milliseconds=900), call_timeout=timedelta(seconds=2))
    slow = Delay(0.35, ToolCall("get_rollout_history", {"workload": "shop/web"}))
    with FakeMessagesApi(default=slow) as fake:
        started = time.monotonic()
        outcome = make_planner(fake.base_url, llm).planner.propose(request())
        elapsed = time.monotonic() - started
    assert outcome.fallback is FallbackReason.DEADLINE
    assert elapsed < 0.9 + 1.0 and fake.attempts <= 3


# --- CH-06: flip-flop --------------------------------------------------------------------------


def test_alternating_plans_have_different_hashes() -> None:
    replies = [SubmitPlan(scale_input(8)), SubmitPlan(rollback_input())] * 2
    with FakeMessagesApi(replies) as fake:
        planner = make_planner(fake.base_url).planner
        plans = [plan_of(planner.propose(request())) for _ in range(4)]
    assert plans[0].action == expected_scale(8) and plans[1].action == expected_rollback()
    hashes = [p.plan_hash() for p in plans]
    assert hashes[0] != hashes[1] and hashes[0] == hashes[2] and hashes[1] == hashes[3]


# --- budgets and no key ------------------------------------------------------------------------


def test_incident_budget_stops_the_call_before_it_is_made() -> None:
    llm = settings(incident_token_budget=1000)
    with FakeMessagesApi(default=SubmitPlan(rollback_input())) as fake:
        outcome = make_planner(fake.base_url, llm).planner.propose(request())
    assert outcome.fallback is FallbackReason.BUDGET_EXHAUSTED and fake.attempts == 0
    assert "incident token budget" in outcome.detail


def test_daily_budget_is_charged_and_resets_at_utc_midnight() -> None:
    llm = settings(daily_token_budget=30_000)
    clock = FixedClock(request().now.replace(hour=23, minute=50))
    with FakeMessagesApi(default=SubmitPlan(rollback_input())) as fake:
        wiring = make_planner(fake.base_url, llm, clock=clock)
        outcomes = [wiring.planner.propose(request(f"inc-{n}")) for n in range(4)]
        reasons = [o.fallback for o in outcomes]
        assert FallbackReason.BUDGET_EXHAUSTED in reasons and reasons[0] is None
        spent = wiring.budget.spent_today(clock.now())
        assert spent == sum(o.usage.total for o in outcomes) <= 30_000
        made = fake.attempts
        clock.current += timedelta(minutes=15)  # 00:05 UTC the next day
        after = wiring.planner.propose(request("inc-next-day"))
    assert plan_of(after) and fake.attempts == made + 1


def test_no_key_answers_no_key_without_any_request(caplog) -> None:
    with FakeMessagesApi(default=SubmitPlan(rollback_input())) as fake:
        planner = build_claude_planner(
            settings(base_url=fake.base_url),
            None,
            runbooks=RUNBOOKS,
            tools_data=lambda _r: tools_data(),
            clock=FixedClock(),
        )
        outcomes = [planner.propose(request()) for _ in range(2)]
    assert [o.fallback for o in outcomes] == [FallbackReason.NO_KEY] * 2
    assert fake.attempts == 0 and all(o.usage.total == 0 for o in outcomes)


def test_disabled_answers_disabled() -> None:
    planner = build_claude_planner(
        settings(enabled=False),
        "key",
        runbooks=RUNBOOKS,
        tools_data=lambda _r: tools_data(),
        clock=FixedClock(),
        budget=TokenBudget(incident_limit=1000, daily_limit=1000),
    )
    assert planner.propose(request()).fallback is FallbackReason.DISABLED


def test_planner_keeps_the_workload_target() -> None:
    assert WEB.key == "shop/web"
