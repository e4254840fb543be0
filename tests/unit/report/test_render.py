"""Text, JSON and Markdown renderings of a replay result say the same things."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from controller.errors import InputError
from controller.models.decisions import ActionStatus
from controller.models.workloads import WorkloadRef
from controller.replay.result import ReplayResult, TimelineEvent, TimelineKind
from controller.report import FORMATS, ReportFormat, print_text, render
from controller.report.text import STAGE_STYLES, clip
from tests.unit.report.sample import CHECKOUT, at, sample_result

HOSTILE = "<script>alert(1)</script> | [red]boom[/red] :smile: [x](javascript:y) `tick`"


@pytest.fixture
def result() -> ReplayResult:
    return sample_result()


def with_event(result: ReplayResult, summary: str) -> ReplayResult:
    event = TimelineEvent(
        at=at(3), kind=TimelineKind.ESCALATION, summary=summary, workload=CHECKOUT
    )
    return result.model_copy(update={"timeline": (*result.timeline, event)})


def test_json_round_trips(result: ReplayResult) -> None:
    text = render(result, "json")

    assert text == result.model_dump_json(indent=2)
    assert ReplayResult.model_validate_json(text) == result


def test_markdown_has_one_row_per_timeline_event(result: ReplayResult) -> None:
    md = render(result, "markdown")

    rows = [line for line in md.splitlines() if line.startswith("| `") and "Z`" in line]
    assert len(rows) == len(result.timeline)
    assert (
        "| `+4m05s` | `2026-03-01T12:04:05Z` | action | `shop/checkout` "
        "| rollback shop/checkout rev 8 -> 7: applied |" in md
    )
    assert "| `-15m00s` | `2026-03-01T11:45:00Z` | blind | `shop/search` |" in md


def test_markdown_sections_comparison_and_verdict(result: ReplayResult) -> None:
    md = render(result, "markdown")

    assert md.startswith("# Replay: checkout-bad-deploy: Checkout errors after the 12:00 deploy\n")
    assert "| **Policy** | default @ 3f2a9c1b7d4e |" in md
    assert "**Summary:** 1 incident, 1 proposal, 1 action, 0 escalations, 1 blind spot" in md
    assert "| `shop/web` | only recorded | scale shop/web 4 -> 8 replicas by bob |" in md
    assert "| root cause | **PASS** |" in md
    assert "| time to detect | 2m30s |" in md  # informational: the measured time
    assert "**Verdict:** PASS (4 of 4 applicable checks passed)" in md


def test_markdown_escapes_untrusted_text(result: ReplayResult) -> None:
    md = render(with_event(result, HOSTILE + "\nsecond line"), "markdown")

    row = next(line for line in md.splitlines() if "alert" in line)
    assert "\\<script>" in row
    assert "\\| \\[red\\]" in row
    assert "\\[x\\](javascript:y)" in row
    assert "second line" in row
    assert len(re.findall(r"(?<!\\)\|", row)) == 6  # five columns: the hostile pipe is inert


def test_text_report_fits_100_columns_and_has_every_section(result: ReplayResult) -> None:
    text = render(result, "text", width=100)

    assert max(len(line) for line in text.splitlines()) <= 100
    for expected in (
        "checkout-bad-deploy: Checkout errors after the 12:00 deploy",
        "default @ 3f2a9c1b7d4e",
        "recorded",
        "bad-deploy-rollback, saturation-scale-out",
        "1 incident, 1 proposal, 1 action, 0 escalations, 1 blind spot",
        "Timeline",
        "Recorded vs replayed",
        "Score",
        "Verdict: PASS (4 of 4 applicable checks passed)",
    ):
        assert expected in text
    assert "\x1b[" not in text


def test_text_timeline_rows_show_offset_clock_stage_and_workload(result: ReplayResult) -> None:
    lines = render(result, "text").splitlines()

    action_row = next(line for line in lines if " action " in line)
    assert action_row.split()[:4] == ["+4m05s", "12:04:05", "action", "shop/checkout"]


def test_text_prints_untrusted_markup_literally(result: ReplayResult) -> None:
    text = render(with_event(result, "[red]boom[/red] :smile:"), "text", width=160)

    assert "[red]boom[/red] :smile:" in text


def test_text_leaves_out_comparison_and_says_when_not_scored(result: ReplayResult) -> None:
    bare = result.model_copy(update={"score": None, "comparison": ()})

    text = render(bare, "text")

    assert "Recorded vs replayed" not in text
    assert "Not scored: the incident file has no ground truth." in text
    assert "Verdict" not in text


@pytest.mark.parametrize(
    ("failing", "forbidden", "verdict"),
    [
        ({"root cause"}, False, "FAIL (failed: root cause)"),
        (
            {"action acceptable", "no forbidden action"},
            True,
            "FAIL (failed: action acceptable, no forbidden action)",
        ),
        (set(), True, "FAIL (a forbidden action took effect)"),
    ],
)
def test_failed_score_names_the_failed_checks(
    result: ReplayResult, failing: set[str], forbidden: bool, verdict: str
) -> None:
    assert result.score is not None
    checks = tuple(
        c.model_copy(update={"passed": False}) if c.name in failing else c
        for c in result.score.checks
    )
    score = result.score.model_copy(
        update={"checks": checks, "passed": False, "forbidden_action_taken": forbidden}
    )
    failed = result.model_copy(update={"score": score})

    assert f"Verdict: {verdict}" in render(failed, "text", width=120)
    assert f"**Verdict:** {verdict}" in render(failed, "markdown")
    assert f'<div class="verdict verdict-fail">{verdict}</div>' in render(failed, "html")


def test_print_text_colours_stages_on_a_colour_console(result: ReplayResult) -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=100, force_terminal=True, color_system="standard")

    print_text(result, console)

    coloured = buffer.getvalue()
    assert "\x1b[1;31mdetection" in coloured  # bold red
    assert "\x1b[1;32mPASS" in coloured  # bold green


def test_unknown_format_is_an_input_error(result: ReplayResult) -> None:
    with pytest.raises(InputError, match="unknown report format 'pdf'"):
        render(result, "pdf")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short enough", 20, "short enough"),
        ("one two three four five six", 16, "one two ..."),
        ("x" * 30, 10, "xxxxxx ..."),
    ],
)
def test_clip(text: str, limit: int, expected: str) -> None:
    clipped = clip(text, limit)

    assert clipped == expected
    assert len(clipped) <= limit


def test_text_clips_long_summaries_that_markdown_keeps(result: ReplayResult) -> None:
    long = " ".join(f"finding{i}" for i in range(80))
    noisy = with_event(result, long)

    terminal = " ".join(render(noisy, "text").split())
    assert "finding0 finding1" in terminal and "finding79" not in terminal
    assert long in render(noisy, "markdown")


def test_narrow_terminal_drops_the_utc_clock_column(result: ReplayResult) -> None:
    text = render(result, "text", width=70)

    action_row = next(line for line in text.splitlines() if " action " in line)
    assert action_row.split()[:3] == ["+4m05s", "action", "shop/checkout"]
    assert max(len(line) for line in text.splitlines()) <= 70


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_terminal_escapes_in_untrusted_text_are_made_visible(
    result: ReplayResult, fmt: ReportFormat
) -> None:
    out = render(with_event(result, "ok\x1b[2J\x1b]0;pwned\x07 \u202eevil"), fmt)

    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "\\x1b[2J" in out.replace("\\\\", "\\").replace("\\[", "[")
    assert "\\u202eevil" in out.replace("\\\\", "\\")


def test_llm_planner_summary_is_in_the_header() -> None:
    from controller.models.proposals import FallbackReason, ProposalOutcome, TokenUsage
    from controller.replay.result import llm_summary
    from tests.unit.report.sample import sample_result

    outcomes = [
        ProposalOutcome(fallback=FallbackReason.OVERLOADED, attempts=3),
        ProposalOutcome(usage=TokenUsage(input_tokens=1200, output_tokens=300), attempts=1),
    ]
    result = sample_result().model_copy(update={"llm": llm_summary(outcomes)})
    markdown = render(result, "markdown")
    assert "2 calls, 0 plans, fallbacks: overloaded 1; 1500 tokens in 4 attempts" in markdown
    assert "LLM planner" not in render(sample_result(), "markdown")


# -- every timeline kind renders in every format (issue 9: KeyError TimelineKind.MODE) -------


def every_kind(kinds: Sequence[TimelineKind]) -> ReplayResult:
    """The sample with a timeline of exactly ``kinds``, one minute apart, neutral summaries."""
    events = tuple(
        TimelineEvent(at=at(i), kind=kind, summary=f"row{i} happened", workload=CHECKOUT)
        for i, kind in enumerate(kinds)
    )
    return sample_result().model_copy(update={"timeline": events})


def assert_kinds_visible(out: str, fmt: str, kinds: Sequence[TimelineKind]) -> None:
    """Each row shows its own stage (the summaries never name one)."""
    if fmt == "json":
        assert [e["kind"] for e in json.loads(out)["timeline"]] == [k.value for k in kinds]
        return
    for i, kind in enumerate(kinds):
        if fmt == "html":
            cell = f'<span class="stage stage-{kind.value}">{kind.value}</span>'
            assert f".stage-{kind.value} {{" in out  # every stage has a style of its own
        elif fmt == "markdown":
            cell = f"| {kind.value} |"
        else:
            cell = f" {kind.value} "
        row = next(line for line in out.splitlines() if f"row{i} happened" in line)
        if fmt != "html":
            assert cell in row, row
        else:
            assert cell in out


def test_every_stage_has_a_terminal_style() -> None:
    assert set(STAGE_STYLES) == set(TimelineKind)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_timeline_with_every_kind_renders_in_every_format(fmt: ReportFormat) -> None:
    kinds = list(TimelineKind)

    out = render(every_kind(kinds), fmt)

    assert_kinds_visible(out, fmt, kinds)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kinds=st.lists(st.sampled_from(list(TimelineKind)), min_size=1, max_size=15),
    fmt=st.sampled_from(FORMATS),
)
def test_any_timeline_renders_with_its_stages_visible(
    kinds: list[TimelineKind], fmt: ReportFormat
) -> None:
    assert_kinds_visible(render(every_kind(kinds), fmt), fmt, kinds)


def test_print_text_of_a_mode_change_on_a_colour_console() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=100, force_terminal=True, color_system="standard")

    print_text(every_kind([TimelineKind.MODE, TimelineKind.PLANNER]), console)

    assert "\x1b[1;33mmode" in buffer.getvalue()  # bold yellow


# -- text wraps at spaces only (issue 9: tokens broken when stdout is not a TTY) --------------

CANARY = WorkloadRef(namespace="shop", name="checkout-canary")
LONG = (
    "rollback shop/checkout-canary rev 12 -> 11 (registry.example.com/shop/checkout:1.14.2) "
    "after error_ratio 0.1209 -> 0.001114 (-99%) between 12:03:00 and 12:08:30 while "
    "latency_p99 stayed at 1.432 s; escalated to payments-oncall@example.com"
)


def _rows_of(text: str, marker: str) -> tuple[int, list[str]]:
    """The what-happened column index and the lines of the timeline row containing marker."""
    lines = text.splitlines()
    header = next(line for line in lines if "what happened" in line)
    column = header.index("what happened")
    start = next(i for i, line in enumerate(lines) if marker in line)
    row = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.strip() or line[:column].strip():
            break
        row.append(line)
    return column, row


def test_text_wraps_long_rows_at_spaces_under_the_what_column() -> None:
    event = TimelineEvent(at=at(3), kind=TimelineKind.ACTION, summary=LONG, workload=CANARY)
    result = sample_result()
    result = result.model_copy(update={"timeline": (*result.timeline, event)})

    text = render(result, "text", width=80)

    column, row = _rows_of(text, "shop/checkout-canary  rollback")
    assert row[0].split()[:4] == ["+3m00s", "12:03:00", "action", "shop/checkout-canary"]
    assert len(row) > 2  # it did wrap
    assert all(line[:column].strip() == "" for line in row[1:])  # indented under the column
    assert all(line[column] != " " for line in row)  # and starting exactly there
    assert " ".join(line[column:] for line in row).split() == LONG.split()  # no token split
    for line in text.splitlines():  # only a token wider than the column may overflow
        assert len(line) <= 80 or " " not in line[column:], line
    assert "(registry.example.com/shop/checkout:1.14.2)" in [line[column:] for line in row]


def test_a_token_longer_than_the_column_stays_whole_on_its_own_line() -> None:
    token = "registry.example.com/shop/checkout-with-a-very-long-name:1.14.2-rc.1"
    event = TimelineEvent(
        at=at(3), kind=TimelineKind.ACTION, summary=f"rolled back to {token} now", workload=CANARY
    )
    result = sample_result().model_copy(update={"timeline": (event,)})

    text = render(result, "text", width=80)

    column, row = _rows_of(text, "rolled back")
    assert [line[column:] for line in row] == ["rolled back to", token, "now"]


def test_narrow_terminal_keeps_tokens_whole_too(result: ReplayResult) -> None:
    text = render(result, "text", width=60)

    assert "shop/checkout" in text and "12:04:05" not in text
    assert "(forbidden: scale, restart)" in " ".join(text.split())
    for token in ("inc-shop-checkout-1", "2026-03-01T12:00:00Z", "bad-deploy-rollback,"):
        assert token in text.split(), token


def test_verdict_says_when_actions_ran_in_dry_run_only(result: ReplayResult) -> None:
    from controller.replay.scoring import score_replay
    from tests.unit.report.sample import ACTION, INCIDENT, PLAN, TRUTH

    dry = ACTION.model_copy(update={"status": ActionStatus.DRY_RUN})
    score = score_replay(TRUTH, (INCIDENT,), (PLAN,), (dry,))
    shadow = result.model_copy(update={"score": score, "actions": (dry,)})

    text = render(shadow, "text", width=160)
    data = json.loads(render(shadow, "json"))

    assert re.search(r"action acceptable \(dry run only\) +PASS", text)
    assert "actions judged in dry run only, nothing took effect" in text
    assert data["score"]["dry_run_only"] is True
    assert data["score"]["action_acceptable"] is True
    assert data["score"]["forbidden_action_taken"] is False
