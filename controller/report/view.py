"""The report's content as plain strings, shared by the text, Markdown and HTML renderers.

Deciding *what* a report says happens once, here, so the three formats cannot drift apart;
the renderers only decide how it looks. Strings in the view are raw (unescaped): every
renderer escapes for its own format, because incident files are untrusted input.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from controller.models.base import format_duration
from controller.models.decisions import VerificationResult
from controller.models.workloads import WorkloadRef
from controller.replay.result import (
    ComparisonRow,
    ReplayResult,
    Score,
    ScoreCheck,
    TimelineEvent,
    TimelineKind,
)
from controller.replay.scoring import CHECK_TIME_TO_DETECT
from controller.report.timefmt import format_clock, format_relative, format_utc
from controller.report.units import signal_display

_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""Control characters (an ESC starts a terminal escape sequence) and bidi overrides."""

SHORT_HASH = 12
"""Characters of a policy or ledger hash shown in headers: enough to tell versions apart."""

PASS, FAIL, NOT_APPLICABLE = "PASS", "FAIL", "n/a"


@dataclass(frozen=True, slots=True)
class MetaItem:
    """One header line: a label and its value."""

    label: str
    value: str


@dataclass(frozen=True, slots=True)
class Stamp:
    """A moment in three spellings: offset from the reference, UTC clock, full UTC."""

    offset: str
    clock: str
    utc: str


@dataclass(frozen=True, slots=True)
class TimelineRow:
    """One timeline event, ready to print."""

    at: Stamp
    stage: TimelineKind
    workload: str
    summary: str


@dataclass(frozen=True, slots=True)
class ComparisonLine:
    """One recorded-versus-replayed row, ready to print."""

    workload: str
    status: str
    recorded: str
    recorded_at: Stamp | None
    replayed: str
    replayed_at: Stamp | None


@dataclass(frozen=True, slots=True)
class ScoreLine:
    """One scored question: ``result`` is PASS, FAIL or n/a."""

    check: str
    result: str
    detail: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """The overall outcome line under the score table."""

    passed: bool
    text: str


@dataclass(frozen=True, slots=True)
class ReportView:
    """Everything a report shows, in reading order."""

    name: str
    title: str
    meta: tuple[MetaItem, ...]
    summary: str
    timeline: tuple[TimelineRow, ...]
    comparison: tuple[ComparisonLine, ...]
    score: tuple[ScoreLine, ...]
    verdict: Verdict | None

    @property
    def heading(self) -> str:
        """``"name: title"``, or just the name when the file has no title."""
        return f"{self.name}: {self.title}" if self.title else self.name


def printable(text: str) -> str:
    """Make control characters and bidi overrides visible as ``\\xNN`` / ``\\uNNNN``.

    Escaping for HTML or Markdown does not stop a raw ESC in a summary from driving the
    reader's terminal (``cat report.md``), nor a right-to-left override from disguising text.
    """
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def build_view(result: ReplayResult) -> ReportView:
    """Turn a replay result into the strings every renderer shows; untrusted text is cleaned."""
    ref = result.reference_time
    resolve = workload_resolver(result)
    return ReportView(
        name=printable(result.name),
        title=printable(result.title),
        meta=_meta(result),
        summary=_summary(result),
        timeline=tuple(
            TimelineRow(
                at=stamp(event.at, ref),
                stage=event.kind,
                workload=_ref_text(resolve(event)),
                summary=printable(event.summary),
            )
            for event in timeline_events(result)
        ),
        comparison=tuple(_comparison_line(row, ref) for row in result.comparison),
        score=() if result.score is None else tuple(_score_lines(result.score)),
        verdict=None if result.score is None else score_verdict(result.score),
    )


def timeline_events(result: ReplayResult) -> tuple[TimelineEvent, ...]:
    """The timeline in time order, its verification numbers in display units (see units)."""
    by_key = {(v.plan_hash, v.at): v for v in result.verifications}
    events = []
    for event in sorted(result.timeline, key=lambda e: e.at):
        verification = by_key.get((event.plan_hash or "", event.at))
        if event.kind is TimelineKind.VERIFICATION and verification is not None:
            event = event.model_copy(
                update={"summary": verification_summary(event.summary, verification)}
            )
        events.append(event)
    return tuple(events)


def verification_summary(summary: str, verification: VerificationResult) -> str:
    """Restate ``"improved: error_ratio 0.1209 -> 0.001114 ..."`` as ``"... 12.1% -> 0.111% ..."``.

    The replay writes the verdict and the verifier's detail, which starts with the signal and
    its baseline and observed values in canonical units (``:.4g``). Only that exact prefix is
    restated; a summary in any other shape is left as it is rather than guessed at.
    """
    baseline, observed = verification.baseline, verification.observed
    if baseline is None or observed is None:
        return summary
    head = f"{verification.phase.value}: {verification.signal.value} "
    raw = f"{head}{baseline:.4g} -> {observed:.4g}"
    if not summary.startswith(raw):
        return summary
    shown = signal_display(verification.signal)
    return f"{head}{shown.format(baseline)} -> {shown.format(observed)}{summary[len(raw) :]}"


def stamp(at: datetime, reference: datetime) -> Stamp:
    """Spell one moment for a table cell."""
    return Stamp(offset=format_relative(at, reference), clock=format_clock(at), utc=format_utc(at))


def workload_resolver(result: ReplayResult) -> Callable[[TimelineEvent], WorkloadRef | None]:
    """Map an event to its workload: its own, else its incident's, else its plan's target.

    The engine may leave ``workload`` empty on events that name an incident or a plan; the
    lookups are built once so resolving a long timeline stays linear.
    """
    by_incident = {i.id: i.workload for i in result.incidents}
    by_plan = {p.plan_hash(): p.action.target for p in result.plans}

    def resolve(event: TimelineEvent) -> WorkloadRef | None:
        if event.workload is not None:
            return event.workload
        if event.incident_id in by_incident:
            return by_incident[event.incident_id]
        return by_plan.get(event.plan_hash) if event.plan_hash is not None else None

    return resolve


def not_scored_note() -> str:
    """What the report says instead of a score table."""
    return "Not scored: the incident file has no ground truth."


def _meta(result: ReplayResult) -> tuple[MetaItem, ...]:
    """Header lines: what was replayed, with which policy and how."""
    run = result.run
    items = [
        MetaItem("Incident", printable(result.name)),
        MetaItem("Window", _window(result.window_start, result.window_end)),
        MetaItem("Reference (+0s)", format_utc(result.reference_time)),
        MetaItem("Policy", printable(f"{run.policy_name} @ {run.policy_hash[:SHORT_HASH]}")),
        MetaItem("Approvals", printable(run.approvals_mode)),
        MetaItem("Planner", f"{run.planner}, tick {format_duration(run.tick)}"),
        MetaItem("Runbooks", printable(", ".join(run.runbooks)) or "none"),
        MetaItem("Incident file", printable(run.incident_file)),
    ]
    if result.llm is not None:
        items.append(MetaItem("LLM planner", _llm_line(result)))
    if run.ledger_path is not None:
        head = f" @ {run.ledger_head[:SHORT_HASH]}" if run.ledger_head else ""
        items.append(MetaItem("Ledger", printable(f"{run.ledger_path}{head}")))
    return tuple(items)


def _llm_line(result: ReplayResult) -> str:
    """``"3 calls, 2 plans, fallbacks: overloaded 1; 4210 tokens in 5 attempts"``."""
    llm = result.llm
    if llm is None:
        return ""
    fallbacks = ", ".join(f"{k} {v}" for k, v in sorted(llm.fallbacks.items())) or "none"
    return printable(
        f"{_count(llm.calls, 'call')}, {_count(llm.plans, 'plan')}, fallbacks: {fallbacks}; "
        f"{_count(llm.usage.total, 'token')} in {_count(llm.attempts, 'attempt')}"
    )


def _window(start: datetime, end: datetime) -> str:
    """``"2026-03-01 11:30:00 to 12:30:00 UTC (1h)"``; the end date only when it differs."""
    length = format_duration(end - start)
    first = start.strftime("%Y-%m-%d %H:%M:%S")
    last = end.strftime("%H:%M:%S" if end.date() == start.date() else "%Y-%m-%d %H:%M:%S")
    return f"{first} to {last} UTC ({length})"


def _summary(result: ReplayResult) -> str:
    """One line of counts: the shape of the replay at a glance."""
    escalations = sum(1 for e in result.timeline if e.kind is TimelineKind.ESCALATION)
    counts = (
        (len(result.incidents), "incident"),
        (len(result.plans), "proposal"),
        (len(result.actions), "action"),
        (escalations, "escalation"),
        (len(result.blind_spots), "blind spot"),
    )
    return ", ".join(_count(n, noun) for n, noun in counts)


def _count(n: int, noun: str) -> str:
    """``"1 call"``, ``"3 calls"``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _comparison_line(row: ComparisonRow, reference: datetime) -> ComparisonLine:
    return ComparisonLine(
        workload=_ref_text(row.workload),
        status=row.status.value.replace("_", " "),
        recorded=printable(row.recorded or ""),
        recorded_at=None if row.recorded_at is None else stamp(row.recorded_at, reference),
        replayed=printable(row.replayed or ""),
        replayed_at=None if row.replayed_at is None else stamp(row.replayed_at, reference),
    )


def _score_lines(score: Score) -> list[ScoreLine]:
    return [
        ScoreLine(check=printable(c.name), result=_result(c, score), detail=printable(c.detail))
        for c in score.checks
    ]


def _result(check: ScoreCheck, score: Score) -> str:
    """PASS/FAIL/n/a; the informational time-to-detect check shows the measured time."""
    if check.name == CHECK_TIME_TO_DETECT and score.time_to_detect is not None:
        return format_duration(score.time_to_detect)
    return result_word(check.passed)


def result_word(passed: bool | None) -> str:
    """PASS, FAIL or n/a."""
    if passed is None:
        return NOT_APPLICABLE
    return PASS if passed else FAIL


def score_verdict(score: Score) -> Verdict:
    """Say which checks sank the replay, so the reader knows where to look.

    A score judged on dry-run actions says so: a shadow-mode PASS is what the controller
    would have done, not a remediation that happened.
    """
    applicable = [c for c in score.checks if c.passed is not None]
    failed = [c.name for c in applicable if c.passed is False]
    dry = "; actions judged in dry run only, nothing took effect" if score.dry_run_only else ""
    if score.passed:
        count = f"{len(applicable)} of {len(applicable)} applicable checks passed"
        return Verdict(passed=True, text=f"PASS ({count}{dry})")
    if failed:
        reason = f"failed: {', '.join(failed)}"
    elif score.forbidden_action_taken:
        reason = "a forbidden action took effect"
    else:
        reason = "score not passed"
    return Verdict(passed=False, text=f"FAIL ({reason}{dry})")


def _ref_text(ref: WorkloadRef | None) -> str:
    return "" if ref is None else ref.key
