"""Collector file-exporter dumps: reading them, errors naming the line, series by span time."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from controller.errors import InputError
from controller.models.incident_file import TraceSeries
from controller.observers.traces import aggregate_dump, load_otlp_dump, spans_of
from controller.settings import TracesSettings
from tests.adapters.traces.otel import T0, Expected, batches, captured_shop, encode, otlp_json

REQUESTS = 30  # one shop request per second for 30 s


@pytest.fixture(scope="module")
def shop() -> tuple[list[str], Expected]:
    """The shop's spans as Collector file-exporter lines (20 spans per export)."""
    spans, expected = captured_shop(REQUESTS)
    lines = [json.dumps(otlp_json(encode(batch))) for batch in batches(spans, 20)]
    return lines, expected


def _write(tmp_path: Path, lines: list[str], name: str = "traces.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_every_line_is_one_export_request(tmp_path: Path, shop: tuple[list[str], Expected]) -> None:
    lines, expected = shop
    path = _write(tmp_path, ["", *lines, "   "])  # blank lines are skipped

    requests = list(load_otlp_dump(path))

    assert len(requests) == len(lines)
    spans = [s for r in requests for s in spans_of(r).spans]
    assert len(spans) == REQUESTS * 6
    assert all(s.valid for s in spans)  # hex ids decoded to 16 and 8 bytes
    assert sum(1 for s in spans if s.service == "payments") == expected.count((None, "payments"))


def test_a_single_pretty_printed_document_is_accepted(
    tmp_path: Path, shop: tuple[list[str], Expected]
) -> None:
    lines, _ = shop
    path = tmp_path / "one.json"
    path.write_text(json.dumps(json.loads(lines[0]), indent=2), encoding="utf-8")

    (request,) = load_otlp_dump(path)

    assert len(spans_of(request).spans) == 20


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ('{"resourceSpans": 5}', "not an ExportTraceServiceRequest"),
        ("this is not json}", "invalid JSON"),
        ('["a", "list"]', "must be a JSON object"),
        (
            '{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz"}]}]}]}',
            "traceId is not hex-encoded",
        ),
    ],
)
def test_a_bad_line_is_an_input_error_naming_the_line(
    tmp_path: Path, shop: tuple[list[str], Expected], bad: str, reason: str
) -> None:
    lines, _ = shop
    path = _write(tmp_path, [lines[0], lines[1], bad, lines[2]])

    with pytest.raises(InputError) as caught:
        list(load_otlp_dump(path))

    assert (caught.value.source, caught.value.location) == (str(path), "line 3")
    assert reason in caught.value.reason


def test_a_broken_pretty_printed_document_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('\n{\n  "resourceSpans": [\n    oops\n  ]\n}\n', encoding="utf-8")

    with pytest.raises(InputError) as caught:
        list(load_otlp_dump(path))

    assert caught.value.location == "line 4"


def test_a_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        list(load_otlp_dump(tmp_path / "nope.jsonl"))


def test_an_empty_file_has_no_requests(tmp_path: Path) -> None:
    assert list(load_otlp_dump(_write(tmp_path, []))) == []


def _per_bucket(ends: list[int], boundaries: tuple[float, ...], seconds: float) -> list[float]:
    return [sum(1 for e in ends if t - seconds <= e / 1e9 < t) / seconds for t in boundaries]


def test_aggregate_dump_counts_spans_at_their_own_end_time(
    tmp_path: Path, shop: tuple[list[str], Expected]
) -> None:
    lines, expected = shop
    path = _write(tmp_path, lines)
    settings = TracesSettings(window="60s", bucket="10s")

    series = aggregate_dump(path, settings, T0, T0 + timedelta(seconds=40))

    by_key = {(s.caller, s.callee): s for s in series}
    assert set(by_key) == set(expected.durations)
    boundaries = tuple(T0.timestamp() + s for s in (0, 10, 20, 30, 40))
    for key, one in by_key.items():
        assert isinstance(one, TraceSeries)
        assert one.timestamps == boundaries
        assert list(one.rate) == pytest.approx(_per_bucket(expected.ends[key], boundaries, 10))
    payments = by_key[(None, "payments")]
    assert payments.error_ratio[1:4] == (3 / 10, 2 / 10, 3 / 10)  # every 4th request fails
    assert payments.rate[4] == 0.0  # after the traffic: an observed zero, not a gap


def test_aggregate_dump_of_nothing_is_nothing(tmp_path: Path) -> None:
    path = _write(tmp_path, [])
    assert aggregate_dump(path, TracesSettings(), T0, T0 + timedelta(minutes=1)) == ()
