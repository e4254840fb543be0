"""Root-cause ranking: traces, metric onsets and changes point at the workload that started it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pytest

from controller.detection.localize import rank_root_causes, with_candidates
from controller.models.events import ClusterEvent
from controller.models.incident import Incident, RootCauseCandidate
from controller.models.traces import TraceSnapshot
from controller.models.workloads import WorkloadRef
from tests.unit.localization.localization_helpers import (
    CHECKOUT,
    FRONTEND,
    PAYMENTS,
    SERVICES,
    deploy,
    history,
    incident,
    t,
)

CHAIN = [("frontend", "checkout"), ("checkout", "payments")]
NOW = t("10:10:00")
# payments fails first; checkout's own spans fail 90 s later, frontend's 30 s after that.
CASCADE = history(
    CHAIN,
    edge_errors={("checkout", "payments"): "10:05:30", ("frontend", "checkout"): "10:07:00"},
    service_errors={"payments": "10:05:30", "checkout": "10:07:00", "frontend": "10:07:30"},
)


@dataclass
class Case:
    """Incidents plus evidence, and the candidates expected for each incident, top first."""

    id: str
    incidents: list[Incident]
    expected: dict[str, list[WorkloadRef]]
    traces: list[TraceSnapshot] = field(default_factory=list)
    events: dict[str, list[ClusterEvent]] = field(default_factory=dict)
    services: Mapping[str, str] = field(default_factory=lambda: SERVICES)


CASES = [
    Case(
        # checkout's metric onset is even earlier than payments': the traces still win.
        "chain-traces-payments-first",
        [
            incident(FRONTEND, "10:07:30"),
            incident(CHECKOUT, "10:05:30"),
            incident(PAYMENTS, "10:06:00"),
        ],
        {
            "shop.frontend": [PAYMENTS, CHECKOUT, FRONTEND],
            "shop.checkout": [PAYMENTS, CHECKOUT, FRONTEND],
            "shop.payments": [PAYMENTS, CHECKOUT, FRONTEND],
        },
        traces=CASCADE,
    ),
    Case(
        # payments has no incident (yet): it is a candidate as the callee of affected callers.
        "chain-traces-callee-without-incident",
        [incident(FRONTEND, "10:07:30"), incident(CHECKOUT, "10:07:00")],
        {
            "shop.frontend": [PAYMENTS, CHECKOUT, FRONTEND],
            "shop.checkout": [PAYMENTS, CHECKOUT, FRONTEND],
        },
        traces=CASCADE,
    ),
    Case(
        "metrics-only-earliest-onset-and-deploy",
        [
            incident(FRONTEND, "10:07:00"),
            incident(CHECKOUT, "10:06:00"),
            incident(PAYMENTS, "10:05:00"),
        ],
        {
            "shop.frontend": [PAYMENTS, CHECKOUT, FRONTEND],
            "shop.checkout": [PAYMENTS, CHECKOUT, FRONTEND],
            "shop.payments": [PAYMENTS, CHECKOUT, FRONTEND],
        },
        events={PAYMENTS.key: [deploy(PAYMENTS, "10:03:00")]},
    ),
    Case(
        # a deploy weighs more than being a minute earlier.
        "metrics-only-deploy-beats-slightly-earlier-onset",
        [incident(CHECKOUT, "10:04:00"), incident(PAYMENTS, "10:05:00")],
        {
            "shop.checkout": [PAYMENTS, CHECKOUT],
            "shop.payments": [PAYMENTS, CHECKOUT],
        },
        events={PAYMENTS.key: [deploy(PAYMENTS, "10:03:00")]},
    ),
    Case(
        # a deploy long before the onset (beyond the 30 min change window) is no suspect.
        "metrics-only-old-deploy-does-not-count",
        [incident(CHECKOUT, "10:04:00"), incident(PAYMENTS, "10:05:00")],
        {
            "shop.checkout": [CHECKOUT, PAYMENTS],
            "shop.payments": [CHECKOUT, PAYMENTS],
        },
        events={PAYMENTS.key: [deploy(PAYMENTS, "09:20:00")]},
    ),
    Case(
        "caller-deploy-healthy-callee",
        [incident(CHECKOUT, "10:05:00")],
        {"shop.checkout": [CHECKOUT, PAYMENTS]},
        traces=history([("checkout", "payments")], service_errors={"checkout": "10:05:00"}),
        events={CHECKOUT.key: [deploy(CHECKOUT, "10:04:00")]},
    ),
    Case(
        # p99 on the edge rises (no errors): latency counts like errors.
        "latency-rise-on-edge",
        [incident(CHECKOUT, "10:06:00")],
        {"shop.checkout": [PAYMENTS, CHECKOUT]},
        traces=history(
            [("checkout", "payments")], edge_latency={("checkout", "payments"): "10:05:00"}
        ),
    ),
    Case(
        # of two callees, the one whose calls rose first wins.
        "first-of-two-callees",
        [incident(CHECKOUT, "10:07:00")],
        {
            "shop.checkout": [
                PAYMENTS,
                WorkloadRef(namespace="shop", name="stock"),
                CHECKOUT,
            ]
        },
        traces=history(
            [("checkout", "payments"), ("checkout", "stock")],
            edge_errors={("checkout", "payments"): "10:04:00", ("checkout", "stock"): "10:06:30"},
        ),
        services={**SERVICES, "shop/stock": "stock"},
    ),
    Case(
        # traces show two separate call graphs: a deploy in the other one is not a suspect.
        "unrelated-call-graphs",
        [
            incident(CHECKOUT, "10:06:00"),
            incident(WorkloadRef(namespace="blog", name="web"), "10:05:00"),
        ],
        {
            "shop.checkout": [PAYMENTS, CHECKOUT],
            "blog.web": [
                WorkloadRef(namespace="blog", name="web"),
                WorkloadRef(namespace="blog", name="db"),
            ],
        },
        traces=history(
            [("checkout", "payments"), ("web", "db")],
            edge_errors={("checkout", "payments"): "10:05:30"},
        ),
        events={"blog/web": [deploy(WorkloadRef(namespace="blog", name="web"), "10:04:00")]},
        services={**SERVICES, "blog/web": "web", "blog/db": "db"},
    ),
]


def ranked(case: Case) -> dict[str, tuple[RootCauseCandidate, ...]]:
    return rank_root_causes(case.incidents, case.traces, case.services, case.events, NOW)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_ranking(case: Case) -> None:
    result = ranked(case)
    assert {key: [c.workload for c in cands] for key, cands in result.items()} == case.expected
    for candidates in result.values():
        scores = [c.score for c in candidates]
        assert scores == sorted(scores, reverse=True)
        assert all(0 <= s <= 1 and c.reasons for s, c in zip(scores, candidates, strict=True))


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_ranking_ignores_input_order(case: Case) -> None:
    reversed_case = Case(
        case.id,
        list(reversed(case.incidents)),
        case.expected,
        list(reversed(case.traces)),
        case.events,
        dict(reversed(list(case.services.items()))),
    )
    assert ranked(reversed_case) == ranked(case)


def reasons_of(result: Mapping[str, Sequence[RootCauseCandidate]], ref: WorkloadRef) -> str:
    top = next(c for c in result["shop.frontend"] if c.workload == ref)
    return " | ".join(top.reasons)


def test_reasons_quote_the_numbers() -> None:
    result = ranked(CASES[0])
    payments = reasons_of(result, PAYMENTS)
    assert (
        "checkout -> payments error ratio 0.1% -> 31% from 10:05:30, "
        "90 s before checkout's own rise"
    ) in payments
    assert "first rise in the traces at 10:05:30" in payments
    checkout = reasons_of(result, CHECKOUT)
    assert "rose at 10:07:00, 90 s after shop/payments (10:05:30)" in checkout
    assert "checkout's own outgoing calls rose too" in checkout
    assert "incident onset 10:05:30, the earliest of 3 related incidents" in checkout


def test_change_reason_names_the_deploy() -> None:
    result = ranked(CASES[2])
    top = result["shop.frontend"][0]
    assert top.workload == PAYMENTS
    assert any(r.startswith("change: deploy to revision 7 (from 6)") for r in top.reasons)


def test_healthy_callee_says_nothing_points_there() -> None:
    (_, payments) = ranked(CASES[5])["shop.checkout"]
    assert payments.score == 0
    assert payments.reasons == ("called by checkout; no rise, onset or change points here",)


@pytest.mark.parametrize(
    ("cut", "expected_top"),
    [
        ("10:10:00", PAYMENTS),  # everything seen
        ("10:05:00", CHECKOUT),  # payments' rise (10:05:30) is still in the future
    ],
)
def test_nothing_after_now_is_read(cut: str, expected_top: WorkloadRef) -> None:
    case = Case(
        "cut",
        [incident(CHECKOUT, "10:04:00")],
        {},
        traces=history(
            [("checkout", "payments")], edge_errors={("checkout", "payments"): "10:05:30"}
        ),
        events={PAYMENTS.key: [deploy(PAYMENTS, "10:06:00")]},
    )
    result = rank_root_causes(case.incidents, case.traces, SERVICES, case.events, t(cut))
    assert result["shop.checkout"][0].workload == expected_top


def test_equal_evidence_is_ordered_by_workload_key() -> None:
    incidents = [incident(PAYMENTS, "10:05:00"), incident(CHECKOUT, "10:05:00")]
    result = rank_root_causes(incidents, [], SERVICES, {}, NOW)
    for candidates in result.values():
        assert [c.workload for c in candidates] == [CHECKOUT, PAYMENTS]
        assert candidates[0].score == candidates[1].score


def test_no_incidents_no_ranking() -> None:
    assert rank_root_causes([], history(CHAIN), SERVICES, {}, NOW) == {}


def test_with_candidates_attaches_the_ranking() -> None:
    case = CASES[0]
    result = ranked(case)
    first = case.incidents[0]
    updated = with_candidates(first, result[first.id])
    assert updated.candidates[0].workload == PAYMENTS
    assert updated.model_copy(update={"candidates": ()}) == first


def _scaled(snapshots: list[TraceSnapshot], spans: int) -> list[TraceSnapshot]:
    """The same history with every window holding ``spans`` spans."""
    return [
        s.model_copy(
            update={
                "edges": tuple(
                    e.model_copy(update={"stats": e.stats.model_copy(update={"spans": spans})})
                    for e in s.edges
                )
            }
        )
        for s in snapshots
    ]


RISING = history([("checkout", "payments")], edge_errors={("checkout", "payments"): "10:05:30"})


@pytest.mark.parametrize(
    ("traces", "expected_top"),
    [
        (RISING, PAYMENTS),
        (RISING[-1:], CHECKOUT),  # one snapshot: no baseline, no rise
        (_scaled(RISING, 9), CHECKOUT),  # fewer than 10 spans a window: noise
        (_scaled(RISING, 10), PAYMENTS),
    ],
    ids=["history", "single-snapshot", "too-few-spans", "just-enough-spans"],
)
def test_a_rise_needs_history_and_spans(
    traces: list[TraceSnapshot], expected_top: WorkloadRef
) -> None:
    result = rank_root_causes([incident(CHECKOUT, "10:06:00")], traces, SERVICES, {}, NOW)
    assert result["shop.checkout"][0].workload == expected_top
