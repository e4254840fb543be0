"""Leader election over a ``coordination.k8s.io/v1`` Lease, and the fence every write asks.

Why our own elector and not the client's ``kubernetes.leaderelection``: that module cannot
be proven to keep a deposed leader from writing, and cannot be tested deterministically.

- Its only entry point, ``LeaderElection.run()``, blocks in ``time.sleep`` loops and reads
  ``time.time()`` (the wall clock, which NTP steps) for every duration; nothing can be
  injected, so failover cannot be tested without real sleeps.
- It runs ``onstarted_leading`` in a thread and offers nothing that code could consult before
  a write: a leader whose renewals fail keeps running its work until ``renew_deadline``, and
  until 2026 one whose callback died kept renewing forever (kubernetes-client/python#2075,
  fixed by #2670).
- Its ``LeaseLock`` (added in 2026, #2690; before that only a ConfigMap lock) never writes
  ``leaseTransitions``, so the Lease carries no term number to fence with (client-go
  increments it on every change of holder, kubernetes/kubernetes#41956).
- It uses the default global ``ApiClient`` (not ours: no QPS limit, urllib3's hidden
  retries), logs through stdlib logging, and calls ``sys.exit`` on a bad configuration.

This module follows client-go's ``tryAcquireOrRenew`` instead, one ``step`` at a time:

1. GET the Lease; when it has been absent for a lease duration, create it (POST; 409
   AlreadyExists means someone else did);
2. a follower measures expiry on **its own monotonic clock** from the moment it saw the
   record change, never from ``renewTime`` (another node's wall clock): skew between nodes
   cannot shorten the wait;
3. the holder renews, and a follower whose view expired acquires, with a PUT conditional
   on the ``resourceVersion`` it read: of two contenders, the API server lets one win;
   acquiring increments ``leaseTransitions``.

**The fence.** ``holderIdentity`` and ``leaseTransitions`` of the term form the fencing token
(``pod-a/3``). ``token()`` returns it only while ``now < renewed_at + renew_deadline`` on the
injected monotonic clock, where ``renewed_at`` is when the last successful renewal was
*sent*. A follower takes over no earlier than ``lease_duration`` after it saw that renewal,
which is later than the renewal was sent; so the leader stops writing at least
``lease_duration - renew_deadline`` (5 s) before anyone else may start, and the check
needs no request: a renewal that hangs, fails or is throttled cannot extend it. The writer
asks before every PATCH, stamps the token on what it writes (``aiops.dev/fencing-token``)
and refuses to write over a token of a newer term (see docs/leader-election.md).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from kubernetes.client import ApiClient

from controller.errors import AiopsError, TemporaryError
from controller.kube.errors import ConflictError
from controller.kube.fields import annotations_of
from controller.kube.lease_api import (
    LeaseApi,
    LeaseRecord,
    checked_identity,
    micro_time,
    resolve_identity,
    resolve_namespace,
    same_micro_time,
    utc_now,
)
from controller.settings import KubeSettings, LeaderSettings

log = structlog.get_logger("aiops.kube.lease")
Obj = dict[str, Any]

FENCING_TOKEN_ANNOTATION = "aiops.dev/fencing-token"
"""Written on every object the leader changes: the token of the term that wrote it."""

ABSENT = LeaseRecord("", 0, None, None, -1, "")
"""What a deleted Lease looks like to an observer (a change like any other)."""

JITTER = 0.2
"""Followers wait ``retry_period x (1 + up to 0.2)``, as client-go's JitterFactor 1.2."""


class NotLeaderError(TemporaryError):
    """This replica may not write now (not the leader, or its lease may be expiring).

    Temporary for the caller: the loop re-plans, and only the leader of the moment acts.
    """


@dataclass(frozen=True, slots=True, order=True)
class FencingToken:
    """One leadership term: its number (``leaseTransitions``) and its holder."""

    transitions: int
    holder: str

    def __str__(self) -> str:
        return f"{self.holder}/{self.transitions}"

    @classmethod
    def parse(cls, text: object) -> FencingToken | None:
        """``pod-a/3`` back into a token; None when ``text`` is not one."""
        if not isinstance(text, str):
            return None
        holder, _, number = text.rpartition("/")
        if not holder or not number.isdigit():
            return None
        return cls(int(number), holder)


def newer_term(obj: Mapping[str, Any], token: FencingToken) -> FencingToken | None:
    """The token on ``obj`` when a later term than ``token``'s wrote it, else None.

    A leader that finds one was deposed (the newer leader already acted here): its write,
    conditional on the resourceVersion it just read, would otherwise still land.
    """
    found = FencingToken.parse(annotations_of(obj).get(FENCING_TOKEN_ANNOTATION))
    return found if found is not None and found.transitions > token.transitions else None


@dataclass(frozen=True, slots=True)
class Timings:
    """Election timing in seconds (``LeaderSettings``)."""

    lease_duration: float
    renew_deadline: float
    retry_period: float

    @classmethod
    def from_settings(cls, settings: LeaderSettings) -> Timings:
        """The settings' durations as seconds."""
        return cls(
            settings.lease_duration.total_seconds(),
            settings.renew_deadline.total_seconds(),
            settings.retry_period.total_seconds(),
        )

    def __post_init__(self) -> None:
        if not self.lease_duration > self.renew_deadline > self.retry_period > 0:
            raise ValueError("need lease_duration > renew_deadline > retry_period > 0")


@dataclass(frozen=True, slots=True)
class LeaderState:
    """What the elector knows after a step: for /readyz, metrics and logs."""

    identity: str
    leading: bool
    """True while ``token()`` answers: this replica may write."""
    holder: str
    """The holder as last read ("" when unknown or released)."""
    token: str | None
    valid_for: float
    """Seconds of writing left without another renewal (0 when not leading)."""


class LeaseElector:
    """Elects one leader among replicas; the ``Fence`` the writer consults before writing.

    Drive it with ``step()`` (tests, or a loop of your own) or ``start()``/``stop()`` (a
    daemon thread stepping every retry period). ``clock`` is monotonic seconds; ``wall``
    only stamps ``acquireTime``/``renewTime`` for humans and never decides anything.
    """

    def __init__(
        self,
        api_client: ApiClient,
        *,
        name: str,
        namespace: str,
        identity: str,
        timings: Timings,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = utc_now,
        request_timeout: float | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.identity = checked_identity(identity)
        self.timings = timings
        timeout = request_timeout if request_timeout is not None else timings.renew_deadline / 2
        self.api = LeaseApi(api_client, namespace, name, timeout)
        self._clock = clock
        self._wall = wall
        self._rng = rng or random.Random()
        self._state_lock = threading.Lock()  # held briefly; never across a request
        self._step_lock = threading.Lock()  # one step (or release) at a time
        self._term: FencingToken | None = None
        self._renewed_at: float | None = None
        self._observed: LeaseRecord | None = None
        self._observed_at = 0.0
        self._highest = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(
        cls,
        api_client: ApiClient,
        settings: LeaderSettings,
        kube: KubeSettings | None = None,
        *,
        environ: Mapping[str, str] = os.environ,
        clock: Callable[[], float] = time.monotonic,
    ) -> LeaseElector:
        """An elector named and timed by ``leader.*`` (identity and namespace resolved)."""
        timings = Timings.from_settings(settings)
        timeout = timings.renew_deadline / 2
        if kube is not None:
            timeout = min(timeout, kube.request_timeout.total_seconds())
        return cls(
            api_client,
            name=settings.lease_name,
            namespace=resolve_namespace(settings.namespace, environ),
            identity=resolve_identity(settings.identity, environ),
            timings=timings,
            clock=clock,
            request_timeout=timeout,
        )

    # ----- the fence (controller.ports.Fence) -----

    def fencing_token(self) -> FencingToken | None:
        """The term's token while this replica may write, else None."""
        now = self._clock()
        if self._stop.is_set():  # stopping: a renewal still in flight must not reopen it
            return None
        with self._state_lock:
            if self._term is None or self._renewed_at is None:
                return None
            if now >= self._renewed_at + self.timings.renew_deadline:
                return None
            return self._term

    def token(self) -> str | None:
        """``Fence.token``: the fencing token as text while this replica may write."""
        found = self.fencing_token()
        return str(found) if found is not None else None

    def state(self) -> LeaderState:
        """Leading or not, the holder as last read, and the writing time left."""
        now = self._clock()
        token = self.fencing_token()
        with self._state_lock:
            holder = self._observed.holder if self._observed is not None else ""
            left = 0.0
            if token is not None and self._renewed_at is not None:
                left = max(0.0, self._renewed_at + self.timings.renew_deadline - now)
        return LeaderState(
            self.identity, token is not None, holder, str(token) if token else None, left
        )

    # ----- one election step -----

    def step(self, now: float | None = None) -> LeaderState:
        """Read the Lease once and acquire, renew or follow; never raises for an API failure.

        ``now`` (monotonic seconds, default the clock) is when the step began: a renewal
        counts from then, never from when its answer came back.
        """
        with self._step_lock:
            started = self._clock() if now is None else now
            try:
                lease = self.api.get()
            except AiopsError as exc:
                self._failed("read", exc)
                return self.state()
            if lease is None:
                self._absent(started, max(started, self._clock()))
                return self.state()
            record = LeaseRecord.of(lease)
            self._observe(record, max(started, self._clock()))
            if self._holds(record):
                self._update(lease, record, started, renew=True)
            elif record.holder and not self._expired(record, started):
                self._follow(record)
            else:
                self._update(lease, record, started, renew=False)
        return self.state()

    def _holds(self, record: LeaseRecord) -> bool:
        term = self._term
        return (
            term is not None
            and record.holder == self.identity
            and record.transitions == term.transitions
        )

    def _observe(self, record: LeaseRecord, seen: float) -> None:
        """Remember when the record last changed, on our own clock (never its renewTime)."""
        with self._state_lock:
            if record != self._observed:
                self._observed, self._observed_at = record, seen
            self._highest = max(self._highest, record.transitions)

    def _expired(self, record: LeaseRecord, now: float) -> bool:
        duration = max(self.timings.lease_duration, float(record.duration))
        with self._state_lock:
            return now >= self._observed_at + duration

    def _follow(self, record: LeaseRecord) -> None:
        with self._state_lock:
            lost, self._term = self._term, None
            if lost is not None:
                self._renewed_at = None
        if lost is not None:
            log.warning("lease lost", lease=self.api.label, identity=self.identity,
                        holder=record.holder, term=str(lost))  # fmt: skip

    def _spec(self, acquire_time: str | None, transitions: int, renew_of: str | None) -> Obj:
        stamp = micro_time(self._wall())
        if stamp == same_micro_time(renew_of):  # unchanged, followers would see no renewal
            stamp = micro_time(self._wall() + timedelta(microseconds=2))
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, round(self.timings.lease_duration)),
            "acquireTime": same_micro_time(acquire_time) or stamp,
            "renewTime": stamp,
            "leaseTransitions": transitions,
        }

    def _absent(self, started: float, seen: float) -> None:
        """No Lease: its holder stops writing at once; anyone creates it only once a lease
        duration has passed since it first saw it missing. Even a replica that never saw
        it waits: the Lease may just have been deleted under a leader still writing."""
        with self._state_lock:
            lost, self._term = self._term, None
            if lost is not None:
                self._renewed_at = None
        if lost is not None:
            log.warning("lease deleted", lease=self.api.label, term=str(lost))
        self._observe(ABSENT, seen)
        if self._expired(ABSENT, started):
            self._create(started)

    def _create(self, started: float) -> None:
        with self._state_lock:
            transitions = self._highest + 1 if self._highest >= 0 else 0
        try:
            answer = self.api.create(self._spec(None, transitions, None))
        except ConflictError:
            log.info("lease created by another replica", lease=self.api.label)
            return
        except AiopsError as exc:
            self._failed("create", exc)
            return
        self._won(answer, started, acquired=True)

    def _update(self, lease: Obj, record: LeaseRecord, started: float, *, renew: bool) -> None:
        transitions = record.transitions if renew else record.transitions + 1
        acquire = record.acquire_time if renew else None
        spec = self._spec(acquire, transitions, record.renew_time)
        try:
            answer = self.api.replace(lease, spec)
        except ConflictError:
            if renew:  # the Lease moved under us: stop writing until a renewal lands
                with self._state_lock:
                    self._renewed_at = None
            log.info("lease update lost a race", lease=self.api.label, renew=renew)
            return
        except AiopsError as exc:
            self._failed("renew" if renew else "acquire", exc)
            return
        if LeaseRecord.of(answer).resource_version == record.resource_version:
            log.warning("lease update changed nothing", lease=self.api.label)
            return  # followers saw no change: it must not extend the fence
        self._won(answer, started, acquired=not renew)

    def _won(self, answer: Obj, started: float, *, acquired: bool) -> None:
        record = LeaseRecord.of(answer)
        term = FencingToken(record.transitions, self.identity)
        with self._state_lock:
            self._term, self._renewed_at = term, started
            self._observed, self._observed_at = record, max(started, self._clock())
            self._highest = max(self._highest, record.transitions)
        if acquired:
            log.info("lease acquired", lease=self.api.label, identity=self.identity,
                     term=str(term))  # fmt: skip
        else:
            log.debug("lease renewed", lease=self.api.label, term=str(term))

    def _failed(self, stage: str, exc: AiopsError) -> None:
        """A failed request changes nothing: the fence lapses by time alone."""
        log.warning("lease request failed", lease=self.api.label, stage=stage, error=str(exc),
                    leading=self.fencing_token() is not None)  # fmt: skip

    # ----- release and the stepping thread -----

    def release(self) -> bool:
        """Stop writing at once, then hand the Lease over (holder cleared) if we hold it.

        Call after the loop stopped acting (graceful shutdown): followers may take a
        released Lease without waiting out its duration. True when it was released.
        """
        with self._state_lock:
            self._renewed_at = None  # at once, even while a step is still under way
        if not self._step_lock.acquire(timeout=self.timings.renew_deadline):
            return False
        try:
            with self._state_lock:  # that step may have renewed: close the term for good
                term, self._term, self._renewed_at = self._term, None, None
            if term is None:
                return False
            lease = self.api.get()
            if lease is None:
                return False
            record = LeaseRecord.of(lease)
            if record.holder != self.identity or record.transitions != term.transitions:
                return False
            spec = {**self._spec(record.acquire_time, term.transitions, record.renew_time),
                    "holderIdentity": "", "leaseDurationSeconds": 1}  # fmt: skip
            self.api.replace(lease, spec)
        except AiopsError as exc:
            self._failed("release", exc)
            return False
        finally:
            self._step_lock.release()
        log.info("lease released", lease=self.api.label, term=str(term))
        return True

    def interval(self) -> float:
        """Seconds until the next step: the retry period, jittered for followers."""
        if self.fencing_token() is not None:
            return self.timings.retry_period
        return self.timings.retry_period * (1 + JITTER * self._rng.random())

    def run(self, stop: threading.Event, *, max_steps: int | None = None) -> int:
        """Step until ``stop`` is set (or ``max_steps`` steps); the number of steps taken."""
        steps = 0
        while not stop.is_set() and (max_steps is None or steps < max_steps):
            self.step()
            steps += 1
            stop.wait(self.interval())
        return steps

    def start(self) -> None:
        """Step in a daemon thread until ``stop``."""
        if self._thread is not None:
            raise RuntimeError("the elector is already running")
        self._thread = threading.Thread(
            target=self.run, args=(self._stop,), name="aiops-lease", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0, *, release: bool = True) -> bool:
        """Stop writing and stepping; release the Lease; False if the thread outlived
        ``timeout``."""
        self._stop.set()  # no write passes the fence from here on
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
        if release:
            self.release()
        return thread is None or not thread.is_alive()
