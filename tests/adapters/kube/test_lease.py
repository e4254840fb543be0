"""Leader election and fencing: real ``kubernetes`` clients over HTTP against the loopback fake.

Each replica has its own client (User-Agent) and injected monotonic clock: time moves only
when a test says so, nothing sleeps more than a few ms, every loop is bounded. The fake's
request log is the ground truth of who wrote what.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controller.kube.client import RateLimitedApiClient, build_api_client
from controller.kube.lease import (
    FENCING_TOKEN_ANNOTATION,
    FencingToken,
    LeaseElector,
    NotLeaderError,
    Timings,
)
from controller.kube.lease_api import micro_time, resolve_identity, resolve_namespace
from controller.kube.writer import KubeWriter
from controller.models.actions import AdjustHpaAction, ScaleAction
from controller.ports import Fence
from controller.settings import LeaderSettings
from controller.sim.kube_api import CORE_PLURALS, FakeKubeApi, Fault, RecordedRequest
from tests.adapters.kube import manifests
from tests.adapters.kube.conftest import fast_settings, wait_until
from tests.adapters.kube.writing import CHECKOUT, KEY, NOW, RETRY, notes_of, seed, stored

NS, LEASE = "aiops", "aiops-controller"
TIMINGS = Timings(lease_duration=15.0, renew_deadline=10.0, retry_period=2.0)
WALL = datetime(2026, 3, 10, 12, tzinfo=UTC)
SCALE = ScaleAction(target=CHECKOUT, from_replicas=4, to_replicas=6)
# What the API server's MicroTime parser (RFC3339Micro) takes: six digits, always.
RFC3339_MICRO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|\+00:00)")
TOKEN = "pod-a/0"


@dataclass
class Clock:
    """A monotonic clock that moves only when told to."""

    t: float = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class Replica:
    """One controller replica: its client, clock and elector."""

    client: RateLimitedApiClient
    clock: Clock
    elector: LeaseElector

    def step(self) -> bool:
        """One election step; whether this replica may write afterwards."""
        return self.elector.step().leading

    def writer(self) -> KubeWriter:
        """A KubeWriter fenced by this replica's elector."""
        return KubeWriter(self.client, settings=fast_settings(), retry=RETRY,
                          sleep=lambda _s: None, fence=self.elector)  # fmt: skip


@pytest.fixture
def api() -> Iterator[FakeKubeApi]:
    fake = FakeKubeApi(served=set(CORE_PLURALS) | {"leases"}).start()
    fake.put("namespaces", manifests.namespace(NS))
    yield fake
    fake.stop()
    assert fake.internal_errors == [], "the fake itself failed while serving"


@pytest.fixture
def replicas(api: FakeKubeApi) -> Iterator[Callable[..., Replica]]:
    made: list[Replica] = []

    def make(
        name: str, *, skew: timedelta = timedelta(0), timings: Timings = TIMINGS, real: bool = False
    ) -> Replica:
        client = build_api_client(fast_settings(), host=api.url)
        client.user_agent = f"replica-{name}"
        clock = Clock()
        timed: dict[str, Any] = {} if real else {  # real: the default monotonic and wall clocks
            "clock": clock, "wall": lambda: WALL + timedelta(seconds=clock.t) + skew
        }  # fmt: skip
        elector = LeaseElector(client, name=LEASE, namespace=NS, identity=name, timings=timings,
                               request_timeout=2.0, **timed)  # fmt: skip
        replica = Replica(client, clock, elector)
        made.append(replica)
        return replica

    yield make
    for replica in made:
        replica.elector.stop(timeout=5.0, release=False)
        replica.client.close()


def lease(api: FakeKubeApi) -> dict[str, Any]:
    found = api.get("leases", NS, LEASE)
    assert found is not None, "no Lease"
    return dict(found["spec"])


def sent_by(api: FakeKubeApi, name: str) -> list[RecordedRequest]:
    """Requests from one replica (by its User-Agent), oldest first."""
    return [r for r in api.requests if r.user_agent == f"replica-{name}"]


def patches_by(api: FakeKubeApi, name: str) -> list[RecordedRequest]:
    """PATCH requests (dry runs included) from one replica."""
    return [r for r in sent_by(api, name) if r.method == "PATCH"]


def apply(writer: KubeWriter, api: FakeKubeApi, action: Any, key: str = KEY) -> None:
    """``writer.apply`` at the Deployment's current resourceVersion."""
    version = stored(api)["metadata"]["resourceVersion"]
    writer.apply(action, resource_version=version, idempotency_key=key, now=NOW)


def elect(replica: Replica) -> None:
    """Make ``replica`` the first leader: a missing Lease is created after a lease duration."""
    assert not replica.step()
    replica.clock.advance(TIMINGS.lease_duration)
    assert replica.step()


def tick(*replicas: Replica, seconds: float = 2.0) -> None:
    """Advance every replica's clock, then step each once (a retry period of a fleet)."""
    for replica in replicas:
        replica.clock.advance(seconds)
    for replica in replicas:
        replica.step()


def test_one_replica_creates_the_lease_and_leads(api: FakeKubeApi, replicas: Any):
    a = replicas("pod-a")
    assert not a.step()  # absent: it may have just been deleted under a leader still writing
    a.clock.advance(TIMINGS.lease_duration - 0.001)
    assert not a.step()
    a.clock.advance(0.001)
    assert a.step()
    assert a.elector.token() == "pod-a/0"
    spec = lease(api)
    assert spec["holderIdentity"] == "pod-a" and spec["leaseTransitions"] == 0
    assert spec["leaseDurationSeconds"] == 15
    assert spec["renewTime"] == spec["acquireTime"]
    assert RFC3339_MICRO.fullmatch(spec["renewTime"]), spec["renewTime"]
    assert [(r.method, r.status) for r in sent_by(api, "pod-a")] == [("GET", 404)] * 3 + [
        ("POST", 201)
    ]

    before = api.get("leases", NS, LEASE)["metadata"]["resourceVersion"]  # type: ignore[index]
    tick(a)
    put = sent_by(api, "pod-a")[-1]
    assert (put.method, put.status) == ("PUT", 200)
    assert put.body["metadata"]["resourceVersion"] == before  # a conditional renewal
    assert lease(api)["renewTime"] > lease(api)["acquireTime"]
    assert a.elector.token() == "pod-a/0"  # same term
    assert a.elector.state().valid_for == pytest.approx(TIMINGS.renew_deadline)


def test_a_second_replica_contends_and_stays_follower(api: FakeKubeApi, replicas: Any):
    a, b = replicas("pod-a"), replicas("pod-b")
    elect(a)
    assert not b.step()
    for _ in range(12):  # 24 s of a renewing every retry period: longer than the lease
        tick(a, b)
        assert a.elector.token() == "pod-a/0"
        assert b.elector.token() is None
        assert b.elector.state().holder == "pod-a"
    assert lease(api)["holderIdentity"] == "pod-a"
    assert not [r for r in sent_by(api, "pod-b") if r.method in ("PUT", "POST")]


def test_two_candidates_racing_for_a_new_lease_elect_one(api: FakeKubeApi, replicas: Any):
    a, b = replicas("pod-a"), replicas("pod-b")
    tick(a, b, seconds=0)  # both see it absent and wait a lease duration to create it
    a.clock.advance(TIMINGS.lease_duration)
    b.clock.advance(TIMINGS.lease_duration)
    api.inject(Fault.slow(0.2, methods={"POST"}, times=1))  # a's create is in flight ...
    racing = threading.Thread(target=a.step)
    racing.start()
    assert wait_until(lambda: any(r.method == "POST" for r in sent_by(api, "pod-a")), 2.0)
    b.step()  # ... while b reads "absent" too and creates first
    racing.join(5.0)
    assert not racing.is_alive()
    leaders = [r.elector.identity for r in (a, b) if r.elector.token() is not None]
    assert leaders == ["pod-b"]
    assert [r.status for r in sent_by(api, "pod-a") if r.method == "POST"] == [409]


def test_follower_takes_over_only_after_expiry_from_when_it_saw_the_change(
    api: FakeKubeApi, replicas: Any
):
    a, b = replicas("pod-a"), replicas("pod-b")
    elect(a)
    tick(a, b)  # b sees a's renewal now (its clock: t0)
    t0, renewed = b.clock.t, a.clock.t
    # a stops renewing (a paused process): from here on only b steps.
    a.clock.t = renewed + TIMINGS.renew_deadline - 0.001
    assert a.elector.token() == "pod-a/0"
    a.clock.t = renewed + TIMINGS.renew_deadline
    assert a.elector.token() is None  # renew_deadline after its last renewal was sent

    for at in (2.0, 6.0, 10.0, 14.999):
        b.clock.t = t0 + at
        assert not b.step(), f"took over {at}s after the last change it saw"
    b.clock.t = t0 + TIMINGS.lease_duration
    assert b.step()
    assert b.elector.token() == "pod-b/1"
    assert lease(api)["holderIdentity"] == "pod-b" and lease(api)["leaseTransitions"] == 1


def test_transitions_increment_with_every_change_of_holder(api: FakeKubeApi, replicas: Any):
    a, b = replicas("pod-a"), replicas("pod-b")
    seen = []
    elect(a)
    for leader, follower in ((a, b), (b, a), (a, b)):
        tick(leader)
        assert leader.elector.token() is not None
        follower.step()
        assert follower.elector.token() is None
        seen.append((lease(api)["holderIdentity"], lease(api)["leaseTransitions"]))
        assert leader.elector.release()  # hands over at once: no waiting for expiry
        assert leader.elector.token() is None
    assert seen == [("pod-a", 0), ("pod-b", 1), ("pod-a", 2)]
    assert lease(api)["holderIdentity"] == ""


def test_a_restarted_replica_with_the_same_name_waits_out_its_old_term(
    api: FakeKubeApi, replicas: Any
):
    old = replicas("pod-a")
    elect(old)
    new = replicas("pod-a")  # same identity, no memory of the term (a restart, a clash)
    assert not new.step()
    new.clock.advance(TIMINGS.lease_duration)
    assert new.step()
    assert new.elector.token() == "pod-a/1"  # a new term, so a new token
    tick(old)
    assert old.elector.token() is None


def test_a_deleted_lease_stops_its_holder_and_is_recreated_only_after_a_lease_duration(
    api: FakeKubeApi, replicas: Any
):
    a, b = replicas("pod-a"), replicas("pod-b")
    elect(a)
    tick(a, b)
    api.delete("leases", NS, LEASE)
    tick(a, b)  # both see it gone (at b's t0); a stops writing at once
    t0 = b.clock.t
    assert a.elector.token() is None
    assert api.get("leases", NS, LEASE) is None  # nobody recreated it yet
    b.clock.t = t0 + TIMINGS.lease_duration - 0.5
    assert not b.step()
    b.clock.t = t0 + TIMINGS.lease_duration
    assert b.step()
    assert b.elector.token() == "pod-b/1"  # numbered past the highest term it saw


def test_the_leaders_writes_carry_its_fencing_token(api: FakeKubeApi, replicas: Any):
    seed(api)
    a = replicas("pod-a")
    elect(a)
    writer = a.writer()
    apply(writer, api, SCALE)  # a Scale carries no annotations: its receipt does
    assert stored(api)["spec"]["replicas"] == 6
    assert notes_of(stored(api))[FENCING_TOKEN_ANNOTATION] == "pod-a/0"
    api.put("horizontalpodautoscalers", manifests.hpa())
    api.log.clear()
    apply(writer, api, AdjustHpaAction(target=CHECKOUT, hpa_name="checkout", from_min=2,
                                       from_max=10, to_min=4, to_max=12))  # fmt: skip
    hpa = stored(api, "horizontalpodautoscalers")
    assert hpa["spec"]["maxReplicas"] == 12
    assert notes_of(hpa)[FENCING_TOKEN_ANNOTATION] == "pod-a/0"
    sent = patches_by(api, "pod-a")
    assert [r.dry_run for r in sent] == [True, False]
    assert {r.body["metadata"]["annotations"][FENCING_TOKEN_ANNOTATION] for r in sent} == {TOKEN}
    assert writer.last_token == "pod-a/0"  # for the ledger, as is the record's body
    body = writer.records[-1].as_json()["writes"][0]["body"]
    assert body["metadata"]["annotations"][FENCING_TOKEN_ANNOTATION] == "pod-a/0"


def test_a_follower_observes_but_never_writes(api: FakeKubeApi, replicas: Any):
    seed(api)
    a, b = replicas("pod-a"), replicas("pod-b")
    elect(a)
    b.step()
    before = stored(api)
    with pytest.raises(NotLeaderError):
        apply(b.writer(), api, SCALE)
    assert patches_by(api, "pod-b") == []  # not even a dry run
    assert [r.method for r in sent_by(api, "pod-b") if r.path.endswith("/checkout")] == ["GET"]
    assert stored(api) == before


def test_a_deposed_leaders_write_is_refused_before_it_reaches_the_api(
    api: FakeKubeApi, replicas: Any
):
    seed(api)
    a, b = replicas("pod-a"), replicas("pod-b")
    elect(a)
    tick(a, b)
    writer = a.writer()  # built while a led
    b.clock.advance(TIMINGS.lease_duration)
    a.clock.advance(TIMINGS.lease_duration)  # a was paused as long: it never renewed
    assert b.step()
    with pytest.raises(NotLeaderError, match="not the leader"):
        apply(writer, api, SCALE)
    assert patches_by(api, "pod-a") == []
    assert stored(api)["spec"]["replicas"] == 4


def test_a_leader_whose_clock_stood_still_is_stopped_by_the_newer_token(
    api: FakeKubeApi, replicas: Any
):
    """CLOCK_MONOTONIC does not count a suspended VM: a resumed leader believes its lease
    is fresh. The object written by the newer term carries that term's token, and the
    deposed leader reads it live before writing."""
    seed(api)
    a, b = replicas("pod-a"), replicas("pod-b")
    elect(a)
    tick(a, b)
    b.clock.advance(TIMINGS.lease_duration)  # a was suspended, its clock did not move
    assert b.step()
    apply(b.writer(), api, SCALE)
    assert notes_of(stored(api))[FENCING_TOKEN_ANNOTATION] == "pod-b/1"

    assert a.elector.token() == "pod-a/0"  # a still believes it leads
    back = ScaleAction(target=CHECKOUT, from_replicas=6, to_replicas=4)
    with pytest.raises(NotLeaderError, match="newer than ours"):
        apply(a.writer(), api, back, "other-key")
    assert patches_by(api, "pod-a") == []
    assert stored(api)["spec"]["replicas"] == 6
    tick(a)
    assert a.elector.token() is None  # and its next step sees b's lease


@dataclass
class StubFence:
    """A fence that answers from a list, one token per call (the term ending mid-action)."""

    tokens: list[str | None]

    def token(self) -> str | None:
        return self.tokens.pop(0) if self.tokens else None


def test_the_fence_is_asked_before_every_patch_and_stops_a_write_mid_action(api: FakeKubeApi):
    seed(api)
    fence: Fence = StubFence(["pod-a/0", "pod-a/0", "pod-a/0", None])
    with build_api_client(fast_settings(), host=api.url) as client:
        writer = KubeWriter(client, settings=fast_settings(), retry=RETRY, fence=fence)
        with pytest.raises(NotLeaderError):
            apply(writer, api, SCALE)
    # asked at the start, before the scale's and the receipt's dry runs; gone for the scale
    assert [r.dry_run for r in api.mutations()] == [True, True]
    assert stored(api)["spec"]["replicas"] == 4


@pytest.mark.parametrize(
    "fault",
    [
        Fault.too_many_requests(retry_after=1, path_contains="/leases"),
        Fault.server_error(500, path_contains="/leases"),
        Fault.server_error(503, retry_after=1, path_contains="/leases"),
        Fault.reset(path_contains="/leases"),
        Fault.server_error(500, methods={"PUT"}, path_contains="/leases"),
    ],
    ids=["429", "500", "503", "reset", "500-on-put-only"],
)
def test_api_faults_while_renewing_make_the_leader_step_down_in_time(
    api: FakeKubeApi, replicas: Any, fault: Fault
):
    a, b = replicas("pod-a"), replicas("pod-b")
    elect(a)
    tick(a, b)
    renewed, seen = a.clock.t, b.clock.t
    api.inject(fault)
    for _ in range(4):  # failed renewals at +2 .. +8 s: still within the deadline
        tick(a, b)
        assert a.elector.token() == "pod-a/0"
    tick(a, b)  # +10 s: the deadline passed without a renewal
    assert a.clock.t - renewed == TIMINGS.renew_deadline
    assert a.elector.token() is None
    assert fault.fired > 0
    api.faults.clear()
    b.clock.t = seen + TIMINGS.lease_duration - 0.5
    assert not b.step()  # a stopped writing 5 s before b may even start
    b.clock.t = seen + TIMINGS.lease_duration
    assert b.step()
    tick(a)
    assert a.elector.token() is None and a.elector.state().holder == "pod-b"


def test_a_renewal_counts_from_when_it_was_sent_not_answered(api: FakeKubeApi, replicas: Any):
    a = replicas("pod-a")
    elect(a)
    a.clock.advance(8.0)
    sent_at = a.clock.t
    api.inject(Fault.slow(0.3, methods={"PUT"}, path_contains="/leases", times=1))
    renewing = threading.Thread(target=a.step)
    renewing.start()
    assert wait_until(lambda: api.requests[-1].method == "PUT", 2.0)
    a.clock.advance(2.5)  # the renewal hangs past the old deadline ...
    assert a.elector.token() is None  # ... and the fence does not wait for it
    renewing.join(5.0)
    assert not renewing.is_alive()
    assert a.elector.token() == "pod-a/0"  # it landed: counted from when it was sent
    assert a.elector.state().valid_for == pytest.approx(sent_at + 10.0 - a.clock.t)


def test_a_conflict_on_renewal_stops_writes_until_the_next_renewal(api: FakeKubeApi, replicas: Any):
    a = replicas("pod-a")
    elect(a)
    api.inject(Fault.concurrent_write("leases", NS, LEASE, methods={"PUT"}, times=1))
    tick(a)  # someone touched the Lease between our read and our write: 409
    assert [r.status for r in sent_by(api, "pod-a")][-1] == 409
    assert a.elector.token() is None
    tick(a)  # still ours (same holder, same term): renewed, same token
    assert a.elector.token() == "pod-a/0"


@pytest.mark.parametrize(
    "skew", [timedelta(minutes=10), timedelta(minutes=-10)], ids=["ahead", "behind"]
)
def test_skewed_wall_clocks_change_nothing(api: FakeKubeApi, replicas: Any, skew: timedelta):
    """Followers never compare ``renewTime`` with their own wall clock (client-go's rule):
    ahead by 10 minutes, b would see a's lease long expired; behind, never expiring."""
    a, b = replicas("pod-a"), replicas("pod-b", skew=skew)
    elect(a)
    for _ in range(10):
        tick(a, b)
        assert b.elector.token() is None  # a renews: b follows, whatever its wall clock
    seen = b.clock.t
    for at in (2.0, 8.0, 14.0):  # a is gone
        b.clock.t = seen + at
        assert not b.step()
    b.clock.t = seen + TIMINGS.lease_duration
    assert b.step()
    written = datetime.fromisoformat(lease(api)["renewTime"])
    assert abs(written - (WALL + timedelta(seconds=b.clock.t) + skew)) < timedelta(seconds=1)


def test_threads_elect_one_leader_and_a_graceful_stop_hands_over(api: FakeKubeApi, replicas: Any):
    fast = Timings(lease_duration=1.0, renew_deadline=0.6, retry_period=0.02)
    a, b = (replicas(name, timings=fast, real=True).elector for name in ("pod-a", "pod-b"))
    a.start()
    assert wait_until(lambda: a.token() is not None, 5.0)
    b.start()
    assert wait_until(lambda: b.state().holder == "pod-a", 5.0)
    assert b.token() is None
    assert a.stop(timeout=5.0)  # released: b need not wait out the lease
    assert a.token() is None
    assert wait_until(lambda: b.token() == "pod-b/1", 0.9)
    assert b.stop(timeout=5.0)
    assert lease(api)["holderIdentity"] == ""  # b released on its stop too
    gets = len([r for r in sent_by(api, "pod-a") if r.method == "GET"])
    assert a.run(threading.Event(), max_steps=3) == 3  # a loop of one's own: bounded
    assert len([r for r in sent_by(api, "pod-a") if r.method == "GET"]) == gets + 3


def test_settings_and_identity():
    settings = LeaderSettings()
    assert Timings.from_settings(settings) == Timings(15.0, 10.0, 2.0)
    with pytest.raises(ValueError, match="greater than leader.renew_deadline"):
        LeaderSettings(lease_duration=timedelta(seconds=10))
    with pytest.raises(ValueError, match="1.2 x"):
        LeaderSettings(retry_period=timedelta(seconds=9))
    assert resolve_identity(None, {"POD_NAME": "aiops-7d9f-x2"}) == "aiops-7d9f-x2"
    assert resolve_identity("me", {"POD_NAME": "pod"}) == "me"
    assert resolve_identity(None, {}, hostname=lambda: "laptop") == "laptop"
    with pytest.raises(ValueError):
        resolve_identity("a/b", {})
    assert resolve_namespace(None, {"POD_NAMESPACE": "ops"}) == "ops"
    assert resolve_namespace("x", {"POD_NAMESPACE": "ops"}) == "x"
    assert FencingToken.parse("pod-a/3") == FencingToken(3, "pod-a")
    assert FencingToken.parse("nonsense") is None
    assert str(FencingToken(3, "pod-a")) == "pod-a/3"
    assert micro_time(WALL) == "2026-03-10T12:00:00.000001Z"  # isoformat() would drop .000000
