"""The HTML report is one self-contained, escaped file with a chart per key signal."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from controller.replay.result import ReplayResult, TimelineEvent, TimelineKind
from controller.report import render
from controller.report.charts import MARKER_STYLES
from tests.unit.report.sample import CHECKOUT, at, sample_result

HOSTILE = "<script>alert(1)</script>"


class _Collector(HTMLParser):
    """Records every start tag with its attributes, and the text inside <title> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


class _Svg(HTMLParser):
    """Per chart (an ``svg.chart``): its attributes, markers by class and <title> texts."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: list[dict[str, object]] = []
        self._element: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        classes = (found.get("class") or "").split()
        if tag == "svg" and "chart" in classes:
            self.charts.append({"attrs": found, "elements": []})
        elif self.charts and tag in {"line", "circle"}:
            self.charts[-1]["elements"].append({"classes": classes, "title": ""})  # type: ignore[attr-defined]
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        elements = self.charts[-1]["elements"] if self.charts and self._in_title else []
        if elements:
            elements[-1]["title"] += data  # type: ignore[index]


def charts_of(html: str) -> list[dict[str, object]]:
    parser = _Svg()
    parser.feed(html)
    return parser.charts


def elements(chart: dict[str, object], cls: str) -> list[dict[str, str]]:
    found = chart["elements"]
    assert isinstance(found, list)
    return [e for e in found if cls in e["classes"]]


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

    charts = [a for t, a in tags if t == "svg" and "chart" in (a.get("class") or "").split()]
    assert len(charts) == len(result.charts) == 3
    # plus one legend swatch per marker kind, the verification point, threshold and signal
    assert html.count("<svg") == len(result.charts) + len(MARKER_STYLES) + 3
    assert [c["aria-label"] for c in charts] == [
        "error_ratio of shop/checkout",
        "latency_p99 of shop/checkout",
        "request_rate of shop/web",
    ]
    thresholds = [a for t, a in tags if t == "line" and a.get("class") == "threshold"]
    assert len(thresholds) == 2  # request_rate has none
    assert "threshold 5%" in html and "threshold 1,000 ms" in html
    assert all(int(c["data-points"] or 0) <= 600 for c in charts)


def test_markers_for_each_stage_of_the_charted_workload(html: str) -> None:
    charts = charts_of(html)

    keys = [
        [e["classes"][1].split("marker-")[1] for e in elements(chart, "marker")] for chart in charts
    ]
    # both shop/checkout charts: the controller's four stages, then alice's recorded rollback
    stages = ["detection", "proposal", "action", "verification", "human"]
    assert keys == [stages, stages, ["human"]]  # shop/web: bob's recorded scale only
    for label in ("detected", "proposed", "acted", "verified", "threshold", "diagnosis changed"):
        assert f"</svg>{label}</span>" in html
    assert "</svg>human acted (recorded)</span>" in html


def test_each_marker_kind_has_its_own_style(html: str) -> None:
    lines = {
        a["class"]: (a.get("stroke"), a.get("stroke-dasharray"))
        for t, a in parse(html)
        if t == "line" and "marker " in (a.get("class") or "")
    }

    assert len(set(lines.values())) == len(lines) == 5  # no two kinds drawn alike
    styles = {(s.color, s.dash) for s in MARKER_STYLES}
    assert len(styles) == len(MARKER_STYLES)


def test_a_changed_diagnosis_is_marked_distinctly_from_an_opening() -> None:
    base = sample_result()
    changed = TimelineEvent(
        at=at(8),
        kind=TimelineKind.DETECTION,
        summary="diagnosis changed: slo_burn, crash_loop; lead hypothesis crash_loop",
        workload=CHECKOUT,
    )
    html = render(base.model_copy(update={"timeline": (*base.timeline, changed)}), "html")

    first = charts_of(html)[0]
    assert [e["title"] for e in elements(first, "marker-rediagnosis")] == [
        "diagnosis changed +8m00s: diagnosis changed: slo_burn, crash_loop; lead hypothesis "
        "crash_loop"
    ]
    assert len(elements(first, "marker-detection")) == 1


def test_the_verification_signal_is_charted_with_a_point_at_verification_time(html: str) -> None:
    charts = charts_of(html)

    verified = [c for c in charts if "chart-verified" in str(c["attrs"]["class"])]  # type: ignore[index]
    assert [c["attrs"]["aria-label"] for c in verified] == ["error_ratio of shop/checkout"]  # type: ignore[index]
    (point,) = elements(verified[0], "point-verification")
    assert point["title"] == "verification +9m05s: improved, error_ratio 12% -> 0.4% (-97%)"
    assert all(not elements(c, "point-verification") for c in charts if c not in verified)
    assert html.count('<span class="badge">verification signal</span>') == 1


def test_units_agree_between_axes_tooltips_and_the_table(html: str) -> None:
    ratio, latency, _ = charts_of(html)

    assert ratio["attrs"]["data-unit"] == "%" and latency["attrs"]["data-unit"] == "ms"  # type: ignore[index]
    verified = [e["title"] for e in elements(ratio, "marker-verification")]
    assert verified == [
        "verified +9m05s: improved: error_ratio 12% -> 0.4% (-97%); expected decrease by >= 20%"
    ]
    table_row = re.search(r'<td class="what">(improved: [^<]*)</td>', html)
    assert table_row is not None
    assert table_row.group(1) == (
        "improved: error_ratio 12% -&gt; 0.4% (-97%); expected decrease by &gt;= 20%"
    )
    assert "0.12 -&gt; 0.004" not in html  # canonical ratios appear nowhere
    assert "threshold 1,000 ms" in html and "threshold 1 s" not in html


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
