"""Text, JSON and Markdown renderings of a replay result say the same things."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from controller.errors import InputError
from controller.replay.result import ReplayResult, TimelineEvent, TimelineKind
from controller.report import ReportFormat, print_text, render
from controller.report.text import clip
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
