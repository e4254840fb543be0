"""Planning off the tick: a bounded, single-flight queue of per-incident planner work.

A plan attempt can take as long as the LLM's deadline (90 s), so the loop's tick never waits
for one. Chosen design: the async planner graph runs on **one planner thread with its own
event loop**, where each incident's work is an asyncio task (at most ``concurrency`` at a
time, at most one per incident: single flight); the blocking Claude call runs off that loop
in a worker thread (``asyncio.to_thread`` in the propose node), so several incidents can
wait on the model at once while cheap graph steps of others proceed. Why not a pool of sync
graphs: the graph, its checkpointer (aiosqlite) and the driver's tracks would then be shared
across threads and need locks everywhere; one loop owns them all and stays race-free.

The queue holds at most one job per incident (newer work merges into the queued job) and at
most ``capacity`` jobs. Overflow rule: the oldest job of the lowest severity is dropped (the
new job itself when it is the lowest), and the drop is written to the ledger as an escalation
to a human, never silent. Work that only advances a thread (an answer, a bake) is offered
again on the next tick, so dropping it only delays it.

``InlinePlanning`` runs the same work before ``submit`` returns, in tick order: replay and
tests get deterministic results from the same driver.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Sequence, Set
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

import structlog

from controller.models.incident import Incident, Severity
from controller.models.ledger import EntryType
from controller.planner.graph.driver import IncidentDriver, TickView
from controller.planner.graph.runner import Checkpointer
from controller.ports import LedgerSink

log = structlog.get_logger("aiops.planning")

DriverFactory = Callable[[Checkpointer], IncidentDriver]
CheckpointerFactory = Callable[[], AbstractAsyncContextManager[Checkpointer]]
SEVERITY_RANK = {Severity.TICKET: 0, Severity.PAGE: 1}
"""Lower rank is dropped first when the queue is full."""
START_TIMEOUT = 30.0
"""Seconds the planner thread may take to open its checkpointer and restore."""


@dataclass(frozen=True, slots=True)
class PlanJob:
    """Planner work for one incident: advance its thread, and plan ``incident`` if given."""

    incident_id: str
    severity: Severity
    queued_at: datetime
    view: TickView
    incident: Incident | None = None


class PlanQueue:
    """Bounded FIFO with one job per incident and the overflow rule above."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"planning queue capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._jobs: OrderedDict[str, PlanJob] = OrderedDict()

    def __len__(self) -> int:
        return len(self._jobs)

    def offer(self, job: PlanJob) -> PlanJob | None:
        """Queue ``job``; returns the job dropped to make room (maybe ``job``), else None."""
        queued = self._jobs.get(job.incident_id)
        if queued is not None:
            incident = job.incident if job.incident is not None else queued.incident
            self._jobs[job.incident_id] = replace(
                job, queued_at=queued.queued_at, incident=incident
            )
            return None
        if len(self._jobs) < self.capacity:
            self._jobs[job.incident_id] = job
            return None
        victim = min(
            (*self._jobs.values(), job), key=lambda j: (SEVERITY_RANK[j.severity], j.queued_at)
        )
        if victim is job:
            return job
        del self._jobs[victim.incident_id]
        self._jobs[job.incident_id] = job
        return victim

    def take(self, busy: Set[str]) -> PlanJob | None:
        """The oldest job whose incident has no work running (single flight)."""
        for incident_id, job in self._jobs.items():
            if incident_id not in busy:
                del self._jobs[incident_id]
                return job
        return None


def jobs_for(
    driver: IncidentDriver, view: TickView, incidents: Sequence[Incident]
) -> list[PlanJob]:
    """This tick's work: tracked incidents with something due, then new or re-diagnosed ones."""
    jobs: dict[str, PlanJob] = {}
    for incident_id in driver.due(view):
        open_incident = view.open_incidents.get(incident_id)
        severity = Severity.PAGE if open_incident is None else open_incident.severity
        jobs[incident_id] = PlanJob(incident_id, severity, view.now, view)
    for incident in incidents:
        jobs[incident.id] = PlanJob(incident.id, incident.severity, view.now, view, incident)
    return list(jobs.values())


async def run_job(driver: IncidentDriver, job: PlanJob) -> None:
    """Advance the incident's thread, then plan the new diagnosis if there is one."""
    await driver.advance(job.incident_id, job.view)
    if job.incident is not None:
        await driver.on_incident(job.incident, job.view)


def ledger_drop(ledger: LedgerSink, job: PlanJob, capacity: int) -> None:
    """A dropped job goes to a human, on the record."""
    reason = (
        f"planning queue full ({capacity} jobs): {job.severity.value} work for this incident "
        "dropped; a human must look at it"
    )
    log.warning("planning work dropped", incident_id=job.incident_id, severity=job.severity)
    ledger.append(
        job.view.now,
        EntryType.ESCALATION,
        {"reason": reason, "status": "dropped"},
        incident_id=job.incident_id,
    )


class Planning(Protocol):
    """Where the loop hands its planner work."""

    def start(self) -> None:
        """Open the checkpointer and rebuild pending work from it."""
        ...

    def submit(self, view: TickView, incidents: Sequence[Incident]) -> None:
        """This tick's work; returns without waiting for an LLM call (live)."""
        ...

    def depth(self) -> int:
        """Jobs queued or running."""
        ...

    def settle(self, timeout: float) -> bool:
        """Wait until the submitted work is done (replay, shutdown); False on timeout."""
        ...

    def close(self) -> None:
        """Stop planning and close the checkpointer."""
        ...


class InlinePlanning:
    """Replay and tests: the tick's work runs before ``submit`` returns, in tick order."""

    def __init__(self, make_driver: DriverFactory, checkpointer: CheckpointerFactory) -> None:
        self._make_driver = make_driver
        self._checkpointer = checkpointer
        self._runner = asyncio.Runner()
        self._saver: AbstractAsyncContextManager[Checkpointer] | None = None
        self.driver: IncidentDriver | None = None

    def _run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return self._runner.run(coro, context=contextvars.copy_context())

    def start(self) -> None:
        """Open the checkpointer and restore the driver's tracks from it."""
        self._saver = self._checkpointer()
        saver = self._run(self._saver.__aenter__())
        self.driver = self._make_driver(saver)
        self._run(self.driver.restore())

    def submit(self, view: TickView, incidents: Sequence[Incident]) -> None:
        """Advance every tracked incident, then plan the new diagnoses (as before)."""
        driver = self._started()
        self._run(self._work(driver, view, incidents))

    @staticmethod
    async def _work(driver: IncidentDriver, view: TickView, incidents: Sequence[Incident]) -> None:
        await driver.tick(view)
        for incident in incidents:
            await driver.on_incident(incident, view)

    def depth(self) -> int:
        """Nothing waits between ticks."""
        return 0

    def settle(self, timeout: float) -> bool:
        """The work was done inside ``submit``."""
        return True

    def _started(self) -> IncidentDriver:
        if self.driver is None:
            raise RuntimeError("planning used before start()")
        return self.driver

    def close(self) -> None:
        """Close the checkpointer and the event loop."""
        if self._saver is not None:
            self._run(self._saver.__aexit__(None, None, None))
            self._saver = None
        self._runner.close()


class BackgroundPlanning:
    """Live: a planner thread owns the graph and driver; ``submit`` only enqueues."""

    def __init__(
        self,
        make_driver: DriverFactory,
        checkpointer: CheckpointerFactory,
        ledger: LedgerSink,
        *,
        capacity: int = 64,
        concurrency: int = 4,
    ) -> None:
        self._make_driver = make_driver
        self._checkpointer = checkpointer
        self._ledger = ledger
        self.queue = PlanQueue(capacity)
        self._concurrency = concurrency
        self._running: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._idle = threading.Event()
        self._stop: asyncio.Event | None = None
        self._failure: BaseException | None = None
        self.driver: IncidentDriver | None = None

    def start(self) -> None:
        """Start the planner thread; returns once it has restored pending work."""
        self._thread = threading.Thread(target=self._main, name="aiops-planner", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise RuntimeError(f"planner thread not ready after {START_TIMEOUT:.0f} s")
        if self._failure is not None:
            raise RuntimeError(f"planner thread failed to start: {self._failure}")

    def _main(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            async with self._checkpointer() as saver:
                self.driver = self._make_driver(saver)
                await self.driver.restore()
                self._idle.set()
                self._ready.set()
                await self._stop.wait()
        except Exception as exc:  # reported to start() and logged; the tick keeps going
            self._failure = exc
            log.error("planner thread failed", error=str(exc))
            self._ready.set()

    def submit(self, view: TickView, incidents: Sequence[Incident]) -> None:
        """Hand this tick's work to the planner thread (returns at once)."""
        loop = self._loop
        if loop is None or self._failure is not None:
            raise RuntimeError("planning is not running")
        self._idle.clear()
        loop.call_soon_threadsafe(self._accept, view, tuple(incidents))

    def _accept(self, view: TickView, incidents: tuple[Incident, ...]) -> None:
        driver = self.driver
        if driver is None:
            return
        for job in jobs_for(driver, view, incidents):
            dropped = self.queue.offer(job)
            if dropped is not None:
                ledger_drop(self._ledger, dropped, self.queue.capacity)
        self._dispatch()

    def _dispatch(self) -> None:
        driver = self.driver
        while driver is not None and len(self._running) < self._concurrency:
            job = self.queue.take(self._running)
            if job is None:
                break
            self._running.add(job.incident_id)
            task = asyncio.get_running_loop().create_task(run_job(driver, job))
            task.add_done_callback(functools.partial(self._done, incident_id=job.incident_id))
        if not self._running and not len(self.queue):
            self._idle.set()

    def _done(self, task: asyncio.Task[None], *, incident_id: str) -> None:
        self._running.discard(incident_id)
        if not task.cancelled() and task.exception() is not None:
            log.error("planning failed", incident_id=incident_id, error=str(task.exception()))
        self._dispatch()

    def depth(self) -> int:
        """Jobs queued plus jobs running (a gauge for /metrics)."""
        return len(self.queue) + len(self._running)

    def settle(self, timeout: float) -> bool:
        """Block until no work is queued or running (replay, shutdown); False on timeout."""
        return self._idle.wait(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Stop taking work and close the checkpointer; running tasks are abandoned to
        their checkpoints (a restart resumes them from the last one)."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
