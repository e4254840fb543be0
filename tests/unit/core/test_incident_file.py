"""Incident files: valid ones load, bad ones fail with file, JSON path and reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.errors import IncidentFileError
from controller.incident_loader import incident_json_schema, load_incident, parse_incident
from controller.models.signals import Signal
from tests.factories import incident_dict


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "incident.json"
    path.write_text(json.dumps(data))
    return path


def test_valid_file_loads_and_converts_units(tmp_path: Path) -> None:
    data = incident_dict()
    data["series"].append(
        {
            "workload": {"namespace": "shop", "name": "web"},
            "signal": "latency_p99",
            "unit": "ms",
            "timestamps": data["series"][0]["timestamps"][:2],
            "values": [250, None],
        }
    )
    incident = load_incident(_write(tmp_path, data))
    latency = next(s for s in incident.series if s.signal is Signal.LATENCY_P99)
    series = latency.to_series_data()
    assert tuple(series.values) == (0.25,)  # ms -> s, the null gap dropped (not zero)


def _error(tmp_path: Path, data: object) -> IncidentFileError:
    with pytest.raises(IncidentFileError) as info:
        load_incident(_write(tmp_path, data))
    return info.value


@pytest.mark.parametrize(
    ("mutate", "location", "reason"),
    [
        (lambda d: d.update(apiVersion="aiops.dev/v9"), "$.apiVersion", "unknown apiVersion"),
        (lambda d: d.update(kind="Policy"), "$.kind", "kind must be 'Incident'"),
        (lambda d: d["series"][0].update(unit="bananas"), "$.series[0].unit", "unit 'bananas'"),
        (lambda d: d["series"][0]["values"].pop(), "$.series[0].values", "9 values for 10"),
        (
            lambda d: d["workloads"][0]["replicas"].update(desired="four"),
            "$.workloads[0].replicas.desired",
            "valid integer",
        ),
        (lambda d: d["workloads"][0].update(colour="red"), "$.workloads[0].colour", "Extra inputs"),
        (lambda d: d["series"][0]["workload"].update(name="ghost"), "$", "unknown workload"),
        (lambda d: d["window"].update(start="2026-03-01T12:00:00"), "$.window.start", "timezone"),
        (
            lambda d: d["series"][0]["timestamps"].reverse(),
            "$.series[0].timestamps",
            "increase strictly",
        ),
        (lambda d: d.update(workloads=[]), "$.workloads", "at least 1"),
    ],
    ids=[
        "api-version",
        "kind",
        "unit",
        "lengths",
        "type",
        "extra-field",
        "reference",
        "naive-time",
        "order",
        "empty",
    ],
)
def test_schema_errors_name_the_json_path(tmp_path: Path, mutate, location, reason) -> None:
    data = incident_dict()
    mutate(data)
    error = _error(tmp_path, data)
    assert error.source.endswith("incident.json")
    assert error.location == location
    assert reason in error.reason


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(IncidentFileError, match="no such file"):
        load_incident(tmp_path / "nope.json")


def test_invalid_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "apiVersion": "aiops.dev/v1alpha1",\n  "kind": \n}')
    with pytest.raises(IncidentFileError) as info:
        load_incident(path)
    assert info.value.location == "line 4 column 1"
    assert "invalid JSON" in info.value.reason


def test_not_an_object() -> None:
    with pytest.raises(IncidentFileError, match=r"\$: an incident file must be a JSON object"):
        parse_incident([1, 2], "list.json")


def test_committed_schema_is_current(repo: Path) -> None:
    committed = json.loads((repo / "docs" / "incident.schema.json").read_text())
    assert committed == incident_json_schema(), (
        "docs/incident.schema.json is stale: run `aiops schema incident > "
        "docs/incident.schema.json`"
    )
