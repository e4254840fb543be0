"""The HTML report is one self-contained, escaped file with a chart per key signal."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from controller.replay.result import ReplayResult
from controller.report import render
from tests.unit.report.sample import sample_result

HOSTILE = "<script>alert(1)</script>"


class _Collector(HTMLParser):
    """Records every start tag with its attributes, and the text inside <title> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


@pytest.fixture(scope="module")
def html() -> str:
    return render(sample_result(), "html")


def parse(html: str) -> list[tuple[str, dict[str, str | None]]]:
    collector = _Collector()
    collector.feed(html)
    return collector.tags


def test_html_is_self_contained(html: str) -> None:
    tags = parse(html)

    assert html.startswith("<!doctype html>")
    assert not [t for t, _ in tags if t in {"script", "link", "img", "iframe", "object"}]
    for _, attrs in tags:
        for name in ("src", "href", "xlink:href"):
            assert not (attrs.get(name) or "").startswith(("http:", "https:", "//"))
    assert not re.search(r"https?://", html)
    assert "@import" not in html and "url(http" not in html


def test_one_svg_chart_per_series_with_axes_and_threshold(html: str) -> None:
    result = sample_result()
    tags = parse(html)

    charts = [a for t, a in tags if t == "svg" and a.get("class") == "chart"]
    assert len(charts) == len(result.charts) == 3
    assert html.count("<svg") == len(result.charts) + 6  # plus the six legend swatches
    assert [c["aria-label"] for c in charts] == [
        "error_ratio of shop/checkout",
        "latency_p99 of shop/checkout",
        "request_rate of shop/web",
    ]
    thresholds = [a for t, a in tags if t == "line" and a.get("class") == "threshold"]
    assert len(thresholds) == 2  # request_rate has none
    assert "threshold 5%" in html and "threshold 1 s" in html
    assert all(int(c["data-points"] or 0) <= 600 for c in charts)


def test_markers_for_each_stage_of_the_charted_workload(html: str) -> None:
    markers = [
        a["class"] for t, a in parse(html) if t == "line" and "marker" in (a.get("class") or "")
    ]

    # two shop/checkout charts, each with detected, proposed, acted and verified
    expected = ["detection", "proposal", "action", "verification"] * 2
    assert [cls.split("marker-")[1] for cls in markers if cls] == expected
    for label in ("detected", "proposed", "acted", "verified", "threshold"):
        assert f"</svg>{label}</span>" in html


def test_html_has_the_same_tables(html: str) -> None:
    result = sample_result()

    assert html.count('<span class="stage stage-') == len(result.timeline)
    assert '<td class="utc mono">2026-03-01T12:04:05Z</td>' in html
    assert "scale shop/web 4 -&gt; 8 replicas by bob" in html
    assert html.count('<span class="result result-pass">PASS</span>') == 4
    assert "Verdict: PASS (4 of 4 applicable checks passed)" in html


@pytest.mark.parametrize("field", ["title", "summary"])
def test_hostile_text_is_escaped(field: str) -> None:
    result = sample_result(title=HOSTILE if field == "title" else "t")
    if field == "summary":
        event = result.timeline[2].model_copy(update={"summary": HOSTILE})
        result = result.model_copy(
            update={"timeline": (*result.timeline[:2], event, *result.timeline[3:])}
        )

    html = render(result, "html")

    assert HOSTILE not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert not [t for t, _ in parse(html) if t == "script"]


def test_report_without_charts_or_score_still_renders() -> None:
    bare: ReplayResult = sample_result().model_copy(
        update={"charts": (), "score": None, "comparison": ()}
    )

    html = render(bare, "html")

    assert "<svg" not in html
    assert "Not scored: the incident file has no ground truth." in html
    assert "Recorded vs replayed" not in html
