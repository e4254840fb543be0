"""Root-cause localization: which workload most likely started a set of concurrent incidents.

When payments fails, checkout (which calls it) and frontend (which calls checkout) fail too,
and detection opens an incident on each. Remediating the callers would be wrong; this module
ranks, for every incident, the workloads that may be its root cause, with the numbers behind
each rank, so that the planner and the humans look at payments first.

Candidates are only workloads that have an incident themselves or are callees of an affected
caller (a caller with an incident, or a callee whose incoming calls rose, transitively). A
candidate is considered for an incident when both sit in the same part of the traced call
graph, or when traces cannot tell (one of them never appears in a call edge): without
topology, concurrent incidents may well share a cause.

Scores are a weighted sum of four pieces of evidence, each in [0, 1]; the weights add up to 1,
so a score is in [0, 1]. Traces weigh most (0.6 together) because they are the only direct
evidence of who called whom and who failed first:

- first rise in the traces (0.35): the candidate whose errors or p99 rose *first* across the
  snapshot history (on calls into it or on its own spans) started the cascade; failures travel
  upstream, each hop adding a little delay. Later risers lose linearly over ``HORIZON``.
- callee of a rising edge (0.25): for a caller -> callee edge whose error ratio or p99 rose,
  the callee is more likely the cause than the caller (the caller only sees the callee's
  failures). Halved when the candidate's own outgoing calls rose too: the cause may be
  further down.
- earliest metric onset (0.15): among the candidate incidents, the one whose onset came first,
  again losing linearly over ``HORIZON``. Weaker than traces because detector persistence
  (``for`` durations) blurs onsets by minutes.
- a change (0.25): a deploy or config change on the candidate within ``change_window`` before
  its onset (or its first rise): the most common cause of incidents and the one with the
  safest fix. Earliest onset plus a change (0.4) beats an onset alone, so without traces the
  changed workload that broke first leads. When a caller deployed shortly before its callee's
  calls began to fail, the two lines of evidence compete on purpose (the new caller may send
  bad requests); both candidates carry their reasons for a human to read.

Ties are broken by workload key, so the ranking never depends on input order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from controller.detection.diagnosis import describe_change, suspect_change
from controller.models.base import format_duration
from controller.models.events import ClusterEvent
from controller.models.incident import Incident, RootCauseCandidate
from controller.models.traces import TraceSnapshot, TraceStats
from controller.models.workloads import WorkloadRef
from controller.settings import DetectionSettings

W_FIRST_RISE = 0.35
W_CALLEE = 0.25
W_ONSET = 0.15
W_CHANGE = 0.25
HORIZON = timedelta(minutes=5)
"""A rise or onset this much later than the earliest one gets no credit for being early."""

ERROR_RISE_FACTOR = 2.0
ERROR_RISE_MIN = 0.02
"""An error ratio rose when it at least doubled and grew by 2 percentage points."""
LATENCY_RISE_FACTOR = 2.0
LATENCY_RISE_MIN = 0.05
"""A p99 rose when it at least doubled and grew by 50 ms."""
MIN_SPANS = 10
"""Windows with fewer spans are too noisy to judge and are skipped."""
CHANGE_WINDOW: timedelta = DetectionSettings.model_fields["change_window"].default
"""The default of ``DetectionSettings.change_window``: how long before an onset a change counts."""


@dataclass(frozen=True, slots=True)
class Rise:
    """A trace series whose latest value is well above its first (baseline) value."""

    metric: str
    before: float
    after: float
    since: datetime

    def describe(self) -> str:
        """``error ratio 0.1% -> 31% from 10:05:30``."""
        show = _pct if self.metric == "error ratio" else _secs
        return f"{self.metric} {show(self.before)} -> {show(self.after)} from {_hms(self.since)}"


@dataclass(frozen=True, slots=True)
class CallGraph:
    """What the trace history says: call edges, rises per edge and per service.

    Lookups per service are precomputed so that ranking many incidents stays linear.
    """

    edges: frozenset[tuple[str, str]]
    edge_rises: Mapping[tuple[str, str], Rise]
    service_rises: Mapping[str, Rise]
    _callees: Mapping[str, tuple[str, ...]] = field(init=False, repr=False)
    _callers: Mapping[str, tuple[str, ...]] = field(init=False, repr=False)
    _rises_in: Mapping[str, tuple[tuple[str, Rise], ...]] = field(init=False, repr=False)
    _rising_callers: frozenset[str] = field(init=False, repr=False)
    _first_rise: Mapping[str, Rise] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        callees: dict[str, list[str]] = {}
        callers: dict[str, list[str]] = {}
        for caller, callee in sorted(self.edges):
            callees.setdefault(caller, []).append(callee)
            callers.setdefault(callee, []).append(caller)
        rises_in: dict[str, list[tuple[str, Rise]]] = {}
        for (caller, callee), rise in self.edge_rises.items():
            rises_in.setdefault(callee, []).append((caller, rise))
        ordered = {
            callee: tuple(sorted(found, key=lambda item: (item[1].since, item[0])))
            for callee, found in rises_in.items()
        }
        object.__setattr__(self, "_callees", {k: tuple(v) for k, v in callees.items()})
        object.__setattr__(self, "_callers", {k: tuple(v) for k, v in callers.items()})
        object.__setattr__(self, "_rises_in", ordered)
        object.__setattr__(self, "_rising_callers", frozenset(c for c, _ in self.edge_rises))
        services = set(ordered) | set(self.service_rises)
        first = {name: found for name in services if (found := self._earliest(name)) is not None}
        object.__setattr__(self, "_first_rise", first)

    def callees(self, service: str) -> tuple[str, ...]:
        """Services ``service`` calls, sorted."""
        return self._callees.get(service, ())

    def callers(self, service: str) -> tuple[str, ...]:
        """Services that call ``service``, sorted."""
        return self._callers.get(service, ())

    def rises_into(self, service: str) -> tuple[tuple[str, Rise], ...]:
        """(caller, rise) for each rising edge into ``service``, earliest first."""
        return self._rises_in.get(service, ())

    def calls_rose(self, service: str) -> bool:
        """Whether any of ``service``'s own outgoing calls rose."""
        return service in self._rising_callers

    def first_rise(self, service: str) -> Rise | None:
        """The earliest rise attributed to ``service``: on calls into it or on its own spans."""
        return self._first_rise.get(service)

    def _earliest(self, service: str) -> Rise | None:
        """``first_rise`` computed from the rises (done once per service, when built)."""
        rises = [rise for _, rise in self.rises_into(service)]
        own = self.service_rises.get(service)
        if own is not None:
            rises.append(own)
        return min(rises, key=lambda rise: rise.since) if rises else None


@dataclass(frozen=True, slots=True)
class Situation:
    """Everything the ranking reads, prepared once for all incidents."""

    incidents: Mapping[str, Incident]
    refs: Mapping[str, WorkloadRef]
    service: Mapping[str, str]
    graph: CallGraph
    components: Mapping[str, int]
    events: Mapping[str, Sequence[ClusterEvent]]
    now: datetime
    change_window: timedelta


# -- formatting -----------------------------------------------------------------------------


def _pct(ratio: float) -> str:
    """``0.1%``, ``31%``: two significant digits are what a human compares."""
    percent = ratio * 100
    return f"{percent:.0f}%" if percent >= 10 else f"{percent:.1f}%"


def _secs(seconds: float) -> str:
    """``120 ms`` below a second, ``2.4 s`` above."""
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def _hms(moment: datetime) -> str:
    return f"{moment:%H:%M:%S}"


def _span(delta: timedelta) -> str:
    """``90 s`` for short gaps (the usual cascade delay), ``5m30s`` for longer ones."""
    seconds = delta.total_seconds()
    return f"{seconds:.0f} s" if seconds < 120 else format_duration(delta)


# -- traces ---------------------------------------------------------------------------------

Reader = Callable[[TraceStats], float | None]


def _metric_rise(
    points: Sequence[tuple[datetime, TraceStats]],
    metric: str,
    read: Reader,
    factor: float,
    minimum: float,
) -> Rise | None:
    """Compare the latest value with the first one; the rise starts where the final run of
    risen values starts (an earlier blip that went away does not count)."""
    values = [
        (at, value)
        for at, stats in points
        if stats.spans >= MIN_SPANS and (value := read(stats)) is not None
    ]
    if len(values) < 2:
        return None
    base = values[0][1]

    def risen(value: float) -> bool:
        return value >= base * factor and value - base >= minimum

    if not risen(values[-1][1]):
        return None
    start = len(values) - 1
    while start > 1 and risen(values[start - 1][1]):
        start -= 1
    return Rise(metric, base, values[-1][1], values[start][0])


def series_rise(points: Sequence[tuple[datetime, TraceStats]]) -> Rise | None:
    """The earliest of an error-ratio rise and a p99 rise of one series, if any."""
    rises = [
        rise
        for rise in (
            _metric_rise(
                points, "error ratio", lambda s: s.error_ratio, ERROR_RISE_FACTOR, ERROR_RISE_MIN
            ),
            _metric_rise(
                points,
                "p99",
                lambda s: s.latency_p99_seconds,
                LATENCY_RISE_FACTOR,
                LATENCY_RISE_MIN,
            ),
        )
        if rise is not None
    ]
    return min(rises, key=lambda rise: rise.since) if rises else None


def call_graph(traces: Sequence[TraceSnapshot], now: datetime) -> CallGraph:
    """Edges and rises over the snapshots taken up to ``now`` (oldest first)."""
    snapshots = sorted((s for s in traces if s.at <= now), key=lambda s: s.at)
    edge_points: dict[tuple[str, str], list[tuple[datetime, TraceStats]]] = {}
    service_points: dict[str, list[tuple[datetime, TraceStats]]] = {}
    for snapshot in snapshots:
        for edge in snapshot.edges:
            edge_points.setdefault((edge.caller, edge.callee), []).append((snapshot.at, edge.stats))
        for service in snapshot.services:
            service_points.setdefault(service.service, []).append((snapshot.at, service.stats))
    edge_rises = {key: rise for key, pts in edge_points.items() if (rise := series_rise(pts))}
    service_rises = {
        name: rise for name, pts in service_points.items() if (rise := series_rise(pts))
    }
    return CallGraph(frozenset(edge_points), edge_rises, service_rises)


def components(edges: Iterable[tuple[str, str]]) -> dict[str, int]:
    """Connected parts of the undirected call graph: service -> part number."""
    neighbours: dict[str, set[str]] = {}
    for caller, callee in edges:
        neighbours.setdefault(caller, set()).add(callee)
        neighbours.setdefault(callee, set()).add(caller)
    part: dict[str, int] = {}
    for number, start in enumerate(sorted(neighbours)):
        stack = [start]
        while stack:
            node = stack.pop()
            if node not in part:
                part[node] = number
                stack.extend(neighbours[node] - part.keys())
    return part


# -- candidates -----------------------------------------------------------------------------


def _ref(key: str) -> WorkloadRef:
    """``namespace/name`` back to a reference; a malformed key is a programming error."""
    namespace, _, name = key.partition("/")
    return WorkloadRef(namespace=namespace, name=name)


def _workloads_by_service(services: Mapping[str, str]) -> dict[str, list[str]]:
    """Workload keys behind each service name (several when namespaces reuse a name)."""
    found: dict[str, list[str]] = {}
    for key, name in sorted(services.items()):
        found.setdefault(name, []).append(key)
    return found


def candidate_keys(
    incidents: Iterable[Incident], services: Mapping[str, str], g: CallGraph
) -> set[str]:
    """Incident workloads plus callees of affected callers (transitively along rising edges)."""
    keys = {incident.workload.key for incident in incidents}
    behind = _workloads_by_service(services)
    affected = [services[key] for key in sorted(keys)]
    seen = set(affected)
    while affected:
        caller = affected.pop()
        for callee in g.callees(caller):
            keys.update(behind.get(callee, ()))
            if (caller, callee) in g.edge_rises and callee not in seen:
                seen.add(callee)
                affected.append(callee)
    return keys


def related(s: Situation, incident: Incident, key: str) -> bool:
    """Whether ``key`` may explain ``incident``: same part of the call graph, or traces
    cannot tell and ``key`` has an incident of its own."""
    own = incident.workload.key
    if key == own:
        return True
    mine, theirs = s.components.get(s.service[own]), s.components.get(s.service[key])
    if mine is not None and theirs is not None:
        return mine == theirs
    return key in s.incidents


# -- evidence -------------------------------------------------------------------------------


def _decay(delay: timedelta) -> float:
    """1 for the earliest, falling linearly to 0 at ``HORIZON`` later."""
    return max(0.0, 1.0 - delay / HORIZON)


def rise_evidence(s: Situation, key: str, keys: Sequence[str]) -> tuple[float, list[str]]:
    """Credit for rising first in the traces, relative to the other candidates."""
    rises = {k: r for k in keys if (r := s.graph.first_rise(s.service[k])) is not None}
    mine = rises.get(key)
    if mine is None:
        return 0.0, []
    first_key = min(rises, key=lambda k: (rises[k].since, k))
    first = rises[first_key].since
    if mine.since == first:
        return W_FIRST_RISE, [f"first rise in the traces at {_hms(first)}"]
    delay = mine.since - first
    note = f"rose at {_hms(mine.since)}, {_span(delay)} after {first_key} ({_hms(first)})"
    return W_FIRST_RISE * _decay(delay), [note]


def callee_evidence(s: Situation, key: str) -> tuple[float, list[str]]:
    """Credit for being the callee of rising edges, with each edge's numbers."""
    service = s.service[key]
    rising = s.graph.rises_into(service)
    if not rising:
        return 0.0, []
    notes = []
    for caller, rise in rising:
        note = f"{caller} -> {service} {rise.describe()}"
        own = s.graph.service_rises.get(caller)
        if own is not None and own.since > rise.since:
            note += f", {_span(own.since - rise.since)} before {caller}'s own rise"
        notes.append(note)
    if s.graph.calls_rose(service):
        notes.append(f"{service}'s own outgoing calls rose too: the cause may be further down")
        return W_CALLEE / 2, notes
    return W_CALLEE, notes


def onset_evidence(s: Situation, key: str, keys: Sequence[str]) -> tuple[float, list[str]]:
    """Credit for the earliest metric onset among the candidates that have incidents."""
    onsets = {k: s.incidents[k].onset for k in keys if k in s.incidents}
    if key not in onsets:
        return 0.0, []
    first_key = min(onsets, key=lambda k: (onsets[k], k))
    mine, first = onsets[key], onsets[first_key]
    if mine == first:
        count = len(onsets)
        of = f"the earliest of {count} related incidents" if count > 1 else "the only incident here"
        return W_ONSET, [f"incident onset {_hms(mine)}, {of}"]
    note = f"incident onset {_hms(mine)}, {_span(mine - first)} after {first_key} ({_hms(first)})"
    return W_ONSET * _decay(mine - first), [note]


def change_evidence(s: Situation, key: str, fallback: datetime) -> tuple[float, list[str]]:
    """Credit for a deploy or config change shortly before the candidate's onset or rise."""
    if key in s.incidents:
        reference = s.incidents[key].onset
    else:
        rise = s.graph.first_rise(s.service[key])
        reference = fallback if rise is None else rise.since
    events = [e for e in s.events.get(key, ()) if e.time <= s.now]
    change = suspect_change(sorted(events, key=lambda e: e.time), reference, s.change_window)
    if change is None:
        return 0.0, []
    return W_CHANGE, [f"change: {describe_change(change, reference)}"]


def score(s: Situation, incident: Incident, key: str, keys: Sequence[str]) -> RootCauseCandidate:
    """One candidate's score for one incident, with every reason behind it."""
    parts = [
        rise_evidence(s, key, keys),
        callee_evidence(s, key),
        onset_evidence(s, key, keys),
        change_evidence(s, key, incident.onset),
    ]
    total = min(1.0, round(sum(points for points, _ in parts), 4))
    reasons = tuple(reason for _, notes in parts for reason in notes)
    if not reasons:
        callers = s.graph.callers(s.service[key])
        via = f"called by {', '.join(callers)}; " if callers else ""
        reasons = (f"{via}no rise, onset or change points here",)
    return RootCauseCandidate(workload=s.refs[key], score=total, reasons=reasons)


def _situation(
    incidents: Sequence[Incident],
    traces: Sequence[TraceSnapshot],
    service_of: Mapping[str, str],
    events: Mapping[str, Sequence[ClusterEvent]],
    now: datetime,
    change_window: timedelta,
) -> tuple[Situation, set[str]]:
    """Prepare the call graph, the service names and the candidate set once."""
    services = dict(service_of)
    refs: dict[str, WorkloadRef] = {}
    for incident in incidents:
        services.setdefault(incident.workload.key, incident.workload.name)
        refs[incident.workload.key] = incident.workload
    graph = call_graph(traces, now)
    keys = candidate_keys(incidents, services, graph)
    for key in keys:
        refs.setdefault(key, _ref(key))
    situation = Situation(
        incidents={incident.workload.key: incident for incident in incidents},
        refs=refs,
        service=services,
        graph=graph,
        components=components(graph.edges),
        events=events,
        now=now,
        change_window=change_window,
    )
    return situation, keys


def rank_root_causes(
    incidents: Sequence[Incident],
    traces: Sequence[TraceSnapshot],
    service_of: Mapping[str, str],
    events: Mapping[str, Sequence[ClusterEvent]],
    now: datetime,
    *,
    change_window: timedelta = CHANGE_WINDOW,
) -> dict[str, tuple[RootCauseCandidate, ...]]:
    """Ranked root-cause candidates for every incident, keyed by incident id, top first.

    ``traces`` are trace snapshots oldest first (may be empty); ``service_of`` maps workload
    keys to the service names traces use (an incident workload missing from it is assumed to
    be called by its own name); ``events`` are per workload key. Only what happened up to
    ``now`` is read. An incident is never without candidates: its own workload is always one.

    Raises:
        ValueError: a workload key in ``service_of`` that is not ``namespace/name``.
    """
    situation, keys = _situation(incidents, traces, service_of, events, now, change_window)
    ranked: dict[str, tuple[RootCauseCandidate, ...]] = {}
    for incident in sorted(incidents, key=lambda i: i.id):
        mine = sorted(k for k in keys if related(situation, incident, k))
        scored = [score(situation, incident, key, mine) for key in mine]
        scored.sort(key=lambda c: (-c.score, c.workload.key))
        ranked[incident.id] = tuple(scored)
    return ranked


def with_candidates(incident: Incident, candidates: Sequence[RootCauseCandidate]) -> Incident:
    """The incident carrying its root-cause ranking (top first)."""
    return incident.model_copy(update={"candidates": tuple(candidates)})
