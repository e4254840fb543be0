"""The five bundled example incidents, one builder each (see examples/README.md for the stories).

Every builder is deterministic (its own seed), places the fault on a 30-s or 60-s grid, and
records what the humans actually did, so that a replay can be compared with it and scored
against the ground truth.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from incident_catalogue import (
    CART,
    CHECKOUT,
    CHECKOUT_CART,
    CHECKOUT_PAYMENTS,
    FRONTEND,
    FRONTEND_CART,
    FRONTEND_CHECKOUT,
    FRONTEND_SEARCH,
    PAYMENTS,
    SEARCH,
    assemble,
    deploy,
    event,
    inventory,
    rollout_complete,
)
from incident_synth import Scene, ServiceSpec, pulse, ramp, steps

from controller.models.actions import (
    ActionKind,
    AdjustHpaAction,
    RestartAction,
    RollbackAction,
)
from controller.models.events import ClusterEvent, EventKind
from controller.models.incident import FaultKind
from controller.models.incident_file import (
    GroundTruth,
    IncidentFile,
    RecordedAction,
    RecordedApproval,
    RecordedApprovalOutcome,
    RecordedDecisions,
)
from controller.models.workloads import HpaSpec

MINUTE = timedelta(minutes=1)


def bad_deploy() -> IncidentFile:
    """checkout 1.15.0 answers 12% of requests with 500s; alice rolls back after 7 minutes."""
    onset = datetime(2026, 3, 3, 14, 12, tzinfo=UTC)
    scene = Scene(
        start=onset - 72 * MINUTE,
        end=onset + 48 * MINUTE,
        step_seconds=30,
        onset=onset,
        services=(FRONTEND, CHECKOUT, PAYMENTS),
        edges=(FRONTEND_CHECKOUT, CHECKOUT_PAYMENTS),
        seed=101,
    )

    def bad(minute: float) -> float:  # new pods take over in a minute, the rollback's in 1.2
        return pulse(minute, 0.1, 1.0, 7.4, 8.6)

    scene.shape("checkout", "extra_error", lambda m: 0.12 * bad(m))
    scene.shape("checkout", "latency", lambda m: 1.0 + 2.0 * bad(m))
    rendered = scene.render()
    ref, old, new = CHECKOUT.ref, (7, "1.14.2"), (8, "1.15.0")
    checkout = inventory(
        CHECKOUT,
        window_start=scene.start,
        replicas=4,
        new_revision=("1.15.0", onset, "checkout 1.15.0: order summary rewrite"),
    )
    events = [
        deploy(scene, 0, CHECKOUT, (old, new), "dave@example.com"),
        rollout_complete(scene, 2, CHECKOUT, 8),
        deploy(scene, 7, CHECKOUT, (new, old), "alice@example.com", rollback=True),
        rollout_complete(scene, 8.5, CHECKOUT, 7),
    ]
    recorded = RecordedDecisions(
        approvals=(
            RecordedApproval(
                time=scene.at(6),
                workload=ref,
                action_kind=ActionKind.ROLLBACK,
                outcome=RecordedApprovalOutcome.APPROVED,
                approver="alice@example.com",
            ),
        ),
        actions=(
            RecordedAction(
                time=scene.at(7),
                actor="alice@example.com",
                action=RollbackAction(
                    target=ref, from_revision=8, to_revision=7, to_image=CHECKOUT.image("1.14.2")
                ),
                note="rolled back checkout to 1.14.2 after the 1.15.0 deploy started failing",
            ),
        ),
    )
    return assemble(
        name="bad-deploy",
        title="checkout 1.15.0 fails 12% of requests right after its deploy",
        description=(
            "At 14:12 checkout revision 8 (1.15.0) replaced revision 7 (1.14.2). Within a "
            "minute 12% of checkout requests failed with HTTP 500 and its p99 doubled; frontend, "
            "which sends a third of its requests through checkout, saw about 4% errors a scrape "
            "later. payments was unaffected. alice@example.com approved a rollback at 14:18 and "
            "ran it at 14:19; errors were back at baseline two minutes later."
        ),
        scene=scene,
        rendered=rendered,
        workloads=[checkout],
        events=events,
        recorded=recorded,
        truth=GroundTruth(
            fault=FaultKind.BAD_DEPLOY,
            onset=onset,
            root_cause=ref,
            acceptable_actions=(ActionKind.ROLLBACK,),
            forbidden_actions=(ActionKind.SCALE, ActionKind.ADJUST_HPA, ActionKind.RESTART),
            notes="The deploy at onset is the cause: roll back to revision 7. More replicas "
            "or a restart keep serving the broken code.",
        ),
    )


def traffic_surge_hpa() -> IncidentFile:
    """A marketing email sends 2.6x traffic to search, whose HPA is already at its maximum."""
    onset = datetime(2026, 3, 5, 18, 30, tzinfo=UTC)
    scene = Scene(
        start=onset - 65 * MINUTE,
        end=onset + 80 * MINUTE,
        step_seconds=30,
        onset=onset,
        services=(FRONTEND, SEARCH, CART),
        edges=(FRONTEND_SEARCH, FRONTEND_CART),
        seed=202,
    )
    scene.shape("frontend", "traffic", lambda m: 1.0 + 1.6 * ramp(m, 0, 10) - 0.8 * ramp(m, 35, 80))
    scene.tracks["search"].hpa_max = [6 if m < 20 else 12 for m in scene.minutes]
    rendered = scene.render()
    ref = SEARCH.ref
    action = AdjustHpaAction(
        target=ref, hpa_name="search", from_min=3, from_max=6, to_min=3, to_max=12
    )
    return assemble(
        name="traffic-surge-hpa",
        title="A marketing email drives 2.6x traffic into search, pinned at its HPA maximum",
        description=(
            "At 18:30 a marketing email went out and frontend traffic ramped to 2.6x over ten "
            "minutes, 60% of it calling search. search's HPA (3-6 replicas, 70% CPU target) was "
            "already at 6 replicas, so CPU usage rose to the 1-core limit (about 1.3x the "
            "request), p99 went past the 0.75 s SLO and about 1% of searches timed out. No "
            "deploy had happened for days. At 18:50 henry@example.com raised the HPA maximum to "
            "12; the HPA scaled to 12 and latency recovered."
        ),
        scene=scene,
        rendered=rendered,
        events=[],
        recorded=RecordedDecisions(
            actions=(
                RecordedAction(
                    time=scene.at(20),
                    actor="henry@example.com",
                    action=action,
                    note="raised search HPA max from 6 to 12 for the campaign traffic",
                ),
            )
        ),
        truth=GroundTruth(
            fault=FaultKind.SATURATION,
            onset=onset,
            root_cause=ref,
            acceptable_actions=(ActionKind.ADJUST_HPA,),
            forbidden_actions=(ActionKind.ROLLBACK, ActionKind.RESTART, ActionKind.SCALE),
            notes="Real demand, not a defect: give the HPA room (the HPA owns replicas, so "
            "writing spec.replicas would fight it). Nothing to roll back or restart.",
        ),
    )


def _crash_minutes(rng: random.Random, first: float, until: float) -> list[float]:
    """Crash times of one pod (minutes after onset): one every 40-60 s until it is deleted."""
    times, at = [], first
    while at < until:
        times.append(at)
        at += rng.uniform(40.0, 60.0) / 60.0
    return times


def crashloop_after_rollout() -> IncidentFile:
    """payments 2.3.0 needs an env var its manifest lacks: the new pods crash-loop."""
    onset = datetime(2026, 3, 10, 10, 5, tzinfo=UTC)
    scene = Scene(
        start=onset - 65 * MINUTE,
        end=onset + 55 * MINUTE,
        step_seconds=30,
        onset=onset,
        services=(FRONTEND, CHECKOUT, PAYMENTS),
        edges=(FRONTEND_CHECKOUT, CHECKOUT_PAYMENTS),
        seed=303,
    )
    pods = ("payments-7f9c6d5b8-h2kxq", "payments-7f9c6d5b8-n8w4z")
    crashes = sorted(
        (minute, pod)
        for pod, first in zip(pods, (0.4, 0.6), strict=True)
        for minute in _crash_minutes(scene.rng, first, 15.0)
    )

    def degraded(minute: float) -> float:  # two pods carry four pods' load until the rollback
        return pulse(minute, 0.5, 2.0, 15.2, 16.2)

    scene.shape(
        "payments", "replicas", lambda m: steps(m, 4, [(0.5, 3), (1, 2), (15.5, 3), (16, 4)])
    )
    scene.shape("payments", "extra_error", lambda m: 0.3 * degraded(m))
    scene.shape("payments", "latency", lambda m: 1.0 + 1.2 * degraded(m))
    restarts = PAYMENTS.restarts
    scene.shape("payments", "restarts", lambda m: restarts + sum(1 for c, _ in crashes if c <= m))
    rendered = scene.render()
    ref, old, new = PAYMENTS.ref, (3, "2.2.1"), (4, "2.3.0")
    payments = inventory(
        PAYMENTS,
        window_start=scene.start,
        replicas=4,
        new_revision=(
            "2.3.0",
            onset,
            "payments 2.3.0: PSP webhooks (needs PAYMENTS_PSP_WEBHOOK_SECRET)",
        ),
    )
    events = [
        deploy(scene, 0, PAYMENTS, (old, new), "erin@example.com"),
        *(
            event(
                scene,
                minute,
                EventKind.POD_CRASH,
                ref,
                "BackOff",
                f"Back-off restarting failed container payments in pod {pod}_shop "
                "(last state: Terminated, reason Error, exit code 1)",
            )
            for minute, pod in crashes
        ),
        event(
            scene,
            10,
            EventKind.ROLLOUT_STALLED,
            ref,
            "ProgressDeadlineExceeded",
            'ReplicaSet "payments-7f9c6d5b8" has timed out progressing.',
        ),
        deploy(scene, 15, PAYMENTS, (new, old), "bob@example.com", rollback=True),
        rollout_complete(scene, 16.5, PAYMENTS, 3),
    ]
    return assemble(
        name="crashloop-after-rollout",
        title="payments 2.3.0 crash-loops on a missing environment variable",
        description=(
            "At 10:05 payments revision 4 (2.3.0) started rolling out over revision 3. The new "
            "version requires PAYMENTS_PSP_WEBHOOK_SECRET, which the manifest does not set, so "
            "both new pods exit with code 1 at start-up and go into CrashLoopBackOff. The "
            "rolling update keeps two old pods, which cannot carry the load: about 30% of "
            "payment calls fail, and checkout and frontend see part of it. The rollout never "
            "completes. The on-call engineer (bob@example.com) rolled back at 10:20."
        ),
        scene=scene,
        rendered=rendered,
        workloads=[payments],
        events=events,
        recorded=RecordedDecisions(
            actions=(
                RecordedAction(
                    time=scene.at(15),
                    actor="bob@example.com",
                    action=RollbackAction(
                        target=ref, from_revision=4, to_revision=3, to_image=PAYMENTS.image("2.2.1")
                    ),
                    note="on-call: new pods in CrashLoopBackOff, rolled back to 2.2.1",
                ),
            )
        ),
        truth=GroundTruth(
            fault=FaultKind.CRASH_LOOP,
            onset=onset,
            root_cause=ref,
            acceptable_actions=(ActionKind.ROLLBACK,),
            forbidden_actions=(ActionKind.SCALE, ActionKind.RESTART, ActionKind.ADJUST_HPA),
            notes="New pods cannot start with this revision: roll back. More replicas or a "
            "restart only create more crashing pods.",
        ),
    )


LEAK_PER_MINUTE = 0.48 / 90.0
"""cart's leak: 0.45 -> 0.93 of the limit in 90 min (0.16 per 30 min, above the 0.15 rule)."""
RESTARTED_AT = (90.5, 91.3, 92.1)
"""When the rolling restart replaces each of cart's three pods (minutes after onset)."""


def _cart_memory(minute: float) -> float:
    """Mean memory saturation of cart's pods: leaking since onset, fresh after the restart."""
    pods = [
        0.45 + LEAK_PER_MINUTE * max(0.0, minute)
        if minute < replaced
        else 0.39 + LEAK_PER_MINUTE * (minute - replaced)
        for replaced in RESTARTED_AT
    ]
    return sum(pods) / len(pods)


def memory_leak() -> IncidentFile:
    """cart leaks memory on every promo-code cart; a rolling restart buys time."""
    onset = datetime(2026, 3, 12, 14, 0, tzinfo=UTC)
    cart = replace(
        CART,
        versions=(*CART.versions[:2], ("2.7.0", 3.0, "cart 2.7.0: promo code engine")),
    )
    scene = Scene(
        start=onset - 60 * MINUTE,
        end=onset + 110 * MINUTE,
        step_seconds=30,
        onset=onset,
        services=(FRONTEND, CHECKOUT, cart),
        edges=(FRONTEND_CHECKOUT, FRONTEND_CART, CHECKOUT_CART),
        seed=404,
    )
    scene.shape("cart", "memory", _cart_memory)
    scene.shape("cart", "cpu_extra", lambda m: 0.2 * ramp(_cart_memory(m), 0.8, 0.95))
    scene.shape("cart", "latency", lambda m: 1.0 + 1.5 * ramp(_cart_memory(m), 0.82, 0.95))
    scene.shape("cart", "tail", lambda m: 1.0 + 1.0 * ramp(_cart_memory(m), 0.85, 0.95))
    scene.shape("cart", "extra_error", lambda m: 0.004 * ramp(_cart_memory(m), 0.88, 0.95))
    rendered = scene.render()
    ref = cart.ref
    events = [
        ClusterEvent(
            time=scene.at(90.1),
            kind=EventKind.KUBERNETES,
            workload=ref,
            reason="ScalingReplicaSet",
            message="Scaled up replica set cart-6d4f8b7c95 to 1 (kubectl rollout restart)",
            actor="grace@example.com",
        ),
        rollout_complete(scene, 92.5, cart, None),
    ]
    return assemble(
        name="memory-leak",
        title="cart leaks memory on promo-code carts until it nears its limit",
        description=(
            "cart 2.7.0 (deployed three days earlier) keeps every cart with a promo code in an "
            "unbounded cache. From 14:00, when a promotion started, memory grew linearly from "
            "45% to 93% of the limit in 90 minutes while traffic stayed flat; near the limit "
            "garbage collection added CPU and latency and a few requests failed. At 15:30 "
            "grace@example.com ran a rolling restart, which reset memory to about 40%; the leak "
            "itself continues until a fix ships."
        ),
        scene=scene,
        rendered=rendered,
        events=events,
        recorded=RecordedDecisions(
            actions=(
                RecordedAction(
                    time=scene.at(90),
                    actor="grace@example.com",
                    action=RestartAction(target=ref),
                    note="rolling restart of cart before it hits the memory limit",
                ),
            )
        ),
        truth=GroundTruth(
            fault=FaultKind.MEMORY_LEAK,
            onset=onset,
            root_cause=ref,
            acceptable_actions=(ActionKind.RESTART,),
            forbidden_actions=(ActionKind.SCALE, ActionKind.ADJUST_HPA, ActionKind.ROLLBACK),
            notes="A leak, not load: a rolling restart resets memory. The last deploy is days "
            "old (rolling back would undo three days of changes) and more replicas leak too.",
        ),
    )


def _day_shape(hour: float) -> float:
    """Unscaled shop traffic by hour (UTC): a daily wave plus an evening shopping bump."""
    day = 0.5 - 0.5 * math.cos(2 * math.pi * (hour - 4.0) / 24.0)
    return 0.8 * day + 0.25 * math.exp(-(((hour - 19.5) / 2.5) ** 2))


_DAY_LOW = min(_day_shape(h / 10.0) for h in range(240))
_DAY_HIGH = max(_day_shape(h / 10.0) for h in range(240))


def _diurnal(minute: float) -> float:
    """Relative traffic at ``minute`` after midnight: 0.3 at the 04:00 trough, 1.0 at the peak."""
    shape = _day_shape((minute / 60.0) % 24.0)
    return 0.3 + 0.7 * (shape - _DAY_LOW) / (_DAY_HIGH - _DAY_LOW)


QUIET_DEPLOY = 14 * 60.0
"""frontend 3.9.0 goes out at 14:00 on the quiet day (minutes after midnight)."""


def _daily(spec: ServiceSpec, idle: float, at_peak: float) -> ServiceSpec:
    """``spec`` sized for a whole day: the reference load is the evening peak."""
    return replace(spec, cpu_idle=idle, cpu_at_ref=at_peak)


def _warm_up(minute: float, settles: float) -> float:
    """0..1 after the 14:00 deploy: new pods are cold for ``settles`` minutes."""
    return pulse(minute, QUIET_DEPLOY, QUIET_DEPLOY + 1, QUIET_DEPLOY + 2, QUIET_DEPLOY + settles)


def _quiet_day_scene(start: datetime) -> Scene:
    """Diurnal traffic through the shop; memory breathes with it; the deploy warms up."""
    frontend = replace(_daily(FRONTEND, 0.16, 0.66), entry_rps=150.0)
    # After the March 5 campaign the team gave search's HPA more room and an earlier target.
    search = replace(
        SEARCH,
        hpa=HpaSpec(name="search", min_replicas=3, max_replicas=8, target_cpu_utilization=0.6),
    )
    services = (frontend, _daily(CHECKOUT, 0.16, 0.62), _daily(PAYMENTS, 0.16, 0.6), search)
    scene = Scene(
        start=start,
        end=start + timedelta(hours=24),
        step_seconds=60,
        onset=None,
        services=services,
        edges=(FRONTEND_CHECKOUT, FRONTEND_SEARCH, CHECKOUT_PAYMENTS),
        seed=505,
    )
    scene.shape("frontend", "traffic", _diurnal)
    for spec in services:
        breathing = _breathing(spec.memory, spec is frontend)
        scene.shape(spec.name, "memory", breathing)
    scene.shape("frontend", "latency", lambda m: 1.0 + 0.15 * _warm_up(m, 5))
    scene.shape("frontend", "cpu_extra", lambda m: 0.06 * _warm_up(m, 8))
    return scene


def _breathing(base: float, deployed: bool) -> Callable[[float], float]:
    """Memory that follows the day's traffic a little (caches), dipping after a deploy."""

    def memory(minute: float) -> float:
        dip = 0.08 * _warm_up(minute, 30) if deployed else 0.0
        return base * (0.93 + 0.1 * _diurnal(minute)) * (1.0 - dip)

    return memory


def quiet_day() -> IncidentFile:
    """24 fault-free hours: diurnal traffic, HPA scaling, one healthy frontend deploy."""
    start = datetime(2026, 3, 17, 0, 0, tzinfo=UTC)
    scene = _quiet_day_scene(start)
    frontend = scene.service("frontend")
    rendered = scene.render()
    old, new = (frontend.current_revision, "3.8.1"), (frontend.current_revision + 1, "3.9.0")
    workloads = [
        inventory(
            frontend,
            window_start=start,
            replicas=6,
            new_revision=("3.9.0", scene.at(QUIET_DEPLOY), "frontend 3.9.0: wishlist"),
        )
    ]
    return assemble(
        name="quiet-day",
        title="A normal day: diurnal traffic, HPA scaling and one healthy deploy",
        description=(
            "24 hours without a fault. Traffic follows the day (the 04:00 trough is about 30% "
            "of the evening peak), search's HPA (3-8 replicas, 60% CPU target) scales between "
            "3 and 7, CPU stays between about 30% and 70% of requests, errors at 0.05-0.2% and "
            "p99 far below every SLO. frontend 3.9.0 was deployed at 14:00 and finished "
            "rolling out at 14:03 with a brief warm-up blip. The controller should find nothing "
            "to do."
        ),
        scene=scene,
        rendered=rendered,
        workloads=workloads,
        events=[
            deploy(scene, QUIET_DEPLOY, frontend, (old, new), "carol@example.com"),
            rollout_complete(scene, QUIET_DEPLOY + 3, frontend, new[0]),
        ],
        recorded=RecordedDecisions(),
        truth=GroundTruth(
            fault=FaultKind.NONE,
            acceptable_actions=(ActionKind.NO_ACTION,),
            forbidden_actions=(
                ActionKind.SCALE,
                ActionKind.ADJUST_HPA,
                ActionKind.ROLLBACK,
                ActionKind.RESTART,
                ActionKind.PAUSE_ROLLOUT,
            ),
            notes="Nothing is wrong: every action would be a false positive.",
        ),
    )


EXAMPLES = {
    "bad-deploy": bad_deploy,
    "traffic-surge-hpa": traffic_surge_hpa,
    "crashloop-after-rollout": crashloop_after_rollout,
    "memory-leak": memory_leak,
    "quiet-day": quiet_day,
}
"""File name (without .json) -> builder, in the order the README tells the stories."""
