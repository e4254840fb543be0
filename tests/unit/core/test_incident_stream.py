"""The lean incident decoder and the packed columns give what the plain path gives.

The oracle is the plain path (``json.loads`` + ``parse_incident``), kept in the loader for
errors; every case is checked against it, and errors must read the same either way.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from controller.errors import IncidentFileError
from controller.incident_loader import dump_incident, load_incident, parse_incident
from controller.incident_stream import StreamingDecodeError, decode_streaming
from controller.models.columns import GapColumn, NumberColumn
from controller.models.incident_file import IncidentFile, MetricSeries
from tests.factories import incident_dict

EXAMPLES = sorted(Path("examples/incidents").glob("*.json"))


def _plain(text: str) -> IncidentFile:
    return parse_incident(json.loads(text), "plain")


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_examples_decode_as_the_plain_path_does(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    decoded = decode_streaming(text)
    assert all(isinstance(s, MetricSeries) for s in decoded["series"])
    lean = parse_incident(decoded, path)
    assert lean == _plain(text)
    assert dump_incident(lean) == dump_incident(_plain(text))


@pytest.mark.parametrize(
    "layout",
    [
        {"indent": None, "separators": (",", ":")},
        {"indent": 4},
        {"indent": "\t", "separators": (" ,  ", " :\n ")},
    ],
    ids=["compact", "indented", "odd-whitespace"],
)
def test_any_json_layout_decodes_the_same(layout: dict[str, object]) -> None:
    text = "\n " + json.dumps(incident_dict(), **layout) + " \r\n"  # type: ignore[arg-type]
    assert parse_incident(decode_streaming(text), "lean") == _plain(text)


def test_series_text_elsewhere_and_duplicate_keys_follow_json_loads() -> None:
    data = incident_dict()
    data["metadata"]["description"] = 'a "series": [ not an array ] inside a string'
    text = json.dumps(data)
    duplicated = text[:-1] + ', "series": ' + json.dumps(data["series"][:1]) + "}"
    for case in (text, duplicated):
        assert parse_incident(decode_streaming(case), "lean") == _plain(case)
    assert len(parse_incident(decode_streaming(duplicated), "lean").series) == 1


@pytest.mark.parametrize(
    "text",
    ["[]", "", "{", '{"a": 1,}', '{"a": 1} trailing', '{"series": [', '{"a" 1}', "{'a': 1}"],
)
def test_what_the_walker_does_not_expect_is_refused_for_the_plain_path(text: str) -> None:
    with pytest.raises(StreamingDecodeError):
        decode_streaming(text)


def test_errors_read_the_same_whichever_path_finds_them(tmp_path: Path) -> None:
    data = incident_dict()
    data["series"][0]["values"][1] = "high"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(IncidentFileError) as lean:
        load_incident(path)
    with pytest.raises(IncidentFileError) as plain:
        parse_incident(json.loads(path.read_text()), path)
    assert lean.value.one_line() == plain.value.one_line()
    assert "$.series[0].values[1]" in lean.value.one_line()


def test_gap_column_reads_like_the_tuple_it_replaces() -> None:
    column = GapColumn((1.5, None, -0.0, 2.0))
    assert column == (1.5, None, -0.0, 2.0)
    assert list(column) == [1.5, None, -0.0, 2.0]
    assert column[1] is None and column[-1] == 2.0 and column[1:3] == (None, -0.0)
    assert None in column and column.gaps == 1 and len(column) == 4
    assert math.isnan(column.array[1])
    assert column != (1.5, None, 0.5, 2.0)
    assert hash(column) == hash(GapColumn(column)) and column == GapColumn(column)


def test_number_column_and_series_round_trip_through_json_unchanged() -> None:
    data = incident_dict()
    data["series"][0]["values"][2] = None
    incident = IncidentFile.model_validate(data)
    series = incident.series[0]
    assert isinstance(series.timestamps, NumberColumn) and isinstance(series.values, GapColumn)
    assert series.timestamps == tuple(data["series"][0]["timestamps"])
    dumped = json.loads(incident.model_dump_json())["series"][0]
    assert dumped["timestamps"] == data["series"][0]["timestamps"]
    assert dumped["values"] == data["series"][0]["values"]
    assert incident.model_dump()["series"][0]["values"] == tuple(data["series"][0]["values"])


def test_series_data_drops_gaps_and_shares_gapless_arrays() -> None:
    data = incident_dict()
    data["series"].append(dict(data["series"][0], signal="request_rate", unit="1/s"))
    data["series"].append(dict(data["series"][0], signal="latency_p99", unit="ms"))
    data["series"][0]["values"] = [0.001, 0.002, None, 0.004] + [0.005] * 6
    gappy, whole, scaled = IncidentFile.model_validate(data).series
    cut = gappy.to_series_data()
    kept = [(t, v) for t, v in zip(gappy.timestamps, gappy.values, strict=True) if v is not None]
    assert list(zip(cut.timestamps, cut.values, strict=True)) == kept
    assert whole.to_series_data().values is whole.values.array  # no copy
    assert tuple(scaled.to_series_data().values) == tuple(v * 0.001 for v in scaled.values.array)
