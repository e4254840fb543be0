"""Incident files for replay: every incident the operator handled, as ``aiops replay`` reads.

Built with the same code as ``aiops capture`` (``capture_engine.capture``): Prometheus series
for the window, the cluster's inventory, namespace labels and events, then the operator's own
part: trace series from the receiver's aggregator, the decisions it took (actions, human
answers) and the LLM exchanges. The window starts ``lookback`` before the incident opened
and ends when it resolved (or at shutdown for one still open).

Written atomically into ``directory`` (a temporary file in the same folder, fsynced, then a
rename), so a reader never sees half a file and a crash leaves only a stray ``.tmp``. The
work runs on one archiver thread, off the tick (a capture is a few range queries); shutdown
drains it within its share of the grace period.
"""

from __future__ import annotations

import os
import queue
import re
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import structlog

from controller.capture_engine import CaptureRequest, ClusterBackend, MetricsBackend, capture
from controller.errors import AiopsError
from controller.incident_loader import dump_incident
from controller.models.incident_file import IncidentFile, TraceSeries
from controller.operator.journal import IncidentRecord
from controller.settings import TracesSettings

log = structlog.get_logger("aiops.operator.archive")
TraceHistory = Callable[[datetime, datetime, timedelta], tuple[TraceSeries, ...]]
QUEUE_LIMIT = 64
"""Closed incidents waiting for their file; beyond it one is dropped (logged, counted)."""
_NOT_SLUG = re.compile(r"[^a-z0-9.-]+")


def file_name(incident_id: str) -> str:
    """A name the incident file format accepts (lower-case slug), from the incident's id."""
    slug = _NOT_SLUG.sub("-", incident_id.lower()).strip("-.")[:180] or "incident"
    return slug


def write_atomically(path: Path, text: str) -> None:
    """Temporary file beside ``path``, fsync, rename: all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class IncidentArchiver:
    """Turns closed (or, at shutdown, open) incident records into incident files."""

    def __init__(
        self,
        directory: Path,
        *,
        metrics: MetricsBackend,
        cluster: ClusterBackend | None,
        traces: TraceHistory | None,
        trace_settings: TracesSettings,
        step: timedelta,
        lookback: timedelta,
        clock: Callable[[], datetime],
        on_result: Callable[[str], None] = lambda _outcome: None,
    ) -> None:
        self.directory = directory
        self._metrics = metrics
        self._cluster = cluster
        self._traces = traces
        self._trace_settings = trace_settings
        self._step = step
        self._lookback = lookback
        self._clock = clock
        self._on_result = on_result
        self.written = 0
        self._queue: queue.Queue[tuple[IncidentRecord, datetime | None] | None] = queue.Queue(
            maxsize=QUEUE_LIMIT
        )
        # A daemon thread, not an executor: interpreter exit must never wait on a capture
        # that outlives the grace period (drain bounds the wait instead).
        self._thread = threading.Thread(target=self._work, name="aiops-archive", daemon=True)
        self._thread.start()

    def submit(self, record: IncidentRecord) -> None:
        """Write ``record`` in the background (an incident just resolved)."""
        try:
            self._queue.put_nowait((record, None))
        except queue.Full:
            log.error("incident file dropped: archive queue full", incident_id=record.incident.id)
            self._on_result("dropped")

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            record, end = item
            try:
                path = self.write(record, end)
            except Exception:  # the worker must outlive any one file (even a broken log)
                self._on_result("failed")
                continue
            if path is not None:
                self.written += 1

    def write(self, record: IncidentRecord, end: datetime | None = None) -> Path | None:
        """Build and write one incident file now; None (logged, counted) when it failed."""
        incident = record.incident
        until = end or record.closed_at or self._clock()
        start = min(incident.onset, incident.opened_at) - self._lookback
        try:
            built = self._build(record, start, until)
            path = self.directory / f"{built.metadata.name}.json"
            write_atomically(path, dump_incident(built))
        except (AiopsError, OSError, ValueError) as exc:
            log.error("incident file not written", incident_id=incident.id, error=str(exc))
            self._on_result("failed")
            return None
        log.info("incident file written", incident_id=incident.id, path=str(path))
        self._on_result("written")
        return path

    def _build(self, record: IncidentRecord, start: datetime, end: datetime) -> IncidentFile:
        incident = record.incident
        request = CaptureRequest(
            namespace=incident.workload.namespace,
            workloads=(),
            start=start,
            end=end,
            step=self._step,
            name=file_name(incident.id),
            title=f"{incident.lead.fault} on {incident.workload}",
        )
        captured = capture(
            request, metrics=self._metrics, cluster=self._cluster, traces=self._trace_settings
        )
        traces = () if self._traces is None else self._traces(start, end, self._step)
        metadata = captured.metadata.model_copy(
            update={
                "source": "aiops-run",
                "description": f"Recorded by aiops run ({record.actor}) for incident "
                f"{incident.id}; {captured.metadata.description}",
            }
        )
        return captured.model_copy(
            update={
                "metadata": metadata,
                "traces": traces,
                "recorded": record.decisions(),
                "llm_exchanges": tuple(record.exchanges),
            }
        )

    def drain(self, records: list[IncidentRecord], timeout: float) -> int:
        """Shutdown: finish queued files, then write every still-open incident, within
        ``timeout`` seconds in all; returns how many were written."""
        end, deadline = self._clock(), time.monotonic() + timeout
        before = self.written
        for record in records:
            left = deadline - time.monotonic()
            try:
                self._queue.put((record, end), timeout=max(0.01, left))
            except queue.Full:
                break
        try:
            self._queue.put(None, timeout=max(0.01, deadline - time.monotonic()))
        except queue.Full:
            pass
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            log.warning("incident files abandoned at shutdown", queued=self._queue.qsize())
        return self.written - before
