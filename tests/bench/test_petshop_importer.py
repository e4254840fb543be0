"""The PetShop importer: units, timestamps, names, truth, and the vendored copy kept in step."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.petshop.components import ComponentType, component_type, scenario, workload_names
from bench.petshop.importer import (
    DEFAULT_OUT,
    DEFAULT_SOURCE,
    Issue,
    convert,
    issue_document,
    read_graph,
    read_table,
)
from bench.petshop.truth import UnknownInjection, injection
from controller.incident_loader import parse_incident

CSV = """microservice,PetSite,PetSite,PetSite,PetSite,PetSite,Pay_AWS::ECS::Container
metric,latency,latency,availability,requests,latency,latency
statistic,p50,p99,Average,Sum,Average,p99
unix_timestamp,,,,,,
1681380600.0,0.05,0.321,100.0,705.0,0.08,0.3
1681380900.0,,0.38,97.4436,600.0,0.09,1.2
"""
GRAPH = """,PetSite,Pay_AWS::ECS::Container
PetSite,0.0,1.0
Pay_AWS::ECS::Container,0.0,0.0
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "metrics.csv").write_text(CSV)
    (tmp_path / "graph.csv").write_text(GRAPH)
    return tmp_path


def test_units_timestamps_and_gaps(folder: Path) -> None:
    table = read_table(folder / "metrics.csv")
    assert table.timestamps == (1681380900, 1681381200)  # period end: no look-ahead
    assert table.columns[("PetSite", "latency", "p50")] == (0.05, None)
    s = scenario("high_traffic", table.components)
    target = {
        "target": {"node": "PetSite", "metric": "availability", "agg": "Average",
                   "timestamp": 1681381194},
        "root_cause": {"node": "Pay_AWS::ECS::Container", "metric": None},
        "metadata": {"reproducibility": {"command": "aws ssm put-parameter --name "
                                         "'/petstore/errormode1' --value 'true' --overwrite"}},
    }  # fmt: skip
    document = issue_document(s, Issue("test", 3, target, table), read_graph(folder / "graph.csv"))
    parsed = parse_incident(document, "issue")
    series = {(x.workload.name, x.signal.value): x for x in parsed.series}
    assert series[("petsite", "error_ratio")].values == (0.0, pytest.approx(0.025564))
    assert series[("petsite", "request_rate")].values == (2.35, 2.0)  # per 5 min -> per s
    assert series[("petsite", "latency_p99")].unit == "s"
    assert [t.caller for t in parsed.traces] == [None, None, "PetSite"]
    edge = parsed.traces[-1]
    assert edge.callee == "Pay_AWS::ECS::Container" and edge.latency_p99_seconds == (0.3, 1.2)
    truth = parsed.ground_truth
    assert truth is not None and truth.fault.value == "unknown"
    assert [a.value for a in truth.preferred_actions] == ["escalate"]
    assert truth.root_cause is not None and truth.root_cause.name == "pay-aws-ecs-container"
    assert parsed.window.start.timestamp() == 1681380600 and not parsed.events


@pytest.mark.parametrize(
    ("command", "fault", "preferred"),
    [
        ("sed -E -i 's/inject = false/inject = true/g' x.js && cdk deploy --context a=b",
         "bad_deploy", ("rollback",)),
        ("aws ssm put-parameter --name '/petstore/searchdelay' --value '500' --overwrite",
         "latency_regression", ("escalate",)),
        ("aws ssm put-parameter --name '/petstore/petlisterrorpercent' --value '5'",
         "unknown", ("escalate",)),
        ("python -m issue_dynamo_db_requests -num_iterations=800", "saturation", ("scale",)),
    ],
)  # fmt: skip
def test_injection_commands_map_to_truth(command: str, fault: str, preferred: tuple[str]) -> None:
    found = injection(command)
    assert found.fault == fault and found.preferred == preferred
    assert not set(found.preferred) & set(found.forbidden)


def test_an_unknown_injection_is_refused() -> None:
    with pytest.raises(UnknownInjection):
        injection("kubectl delete pod x")


def test_names_are_dns_safe_and_unique_when_only_case_differs() -> None:
    names = workload_names(
        ["Servi-searc.elb.amazonaws.com_remote", "servi-searc.elb.amazonaws.com_remote"]
    )
    assert len(set(names.values())) == 2
    assert all(n.startswith("servi-searc-elb-amazonaws-com-remote-") for n in names.values())
    assert component_type("petInfo_AWS::DynamoDB::Table") is ComponentType.DATABASE
    assert component_type("lambda_step_readDDB") is ComponentType.FUNCTION
    assert not ComponentType.LOAD_BALANCER.remediable


@pytest.mark.skipif(
    not (DEFAULT_SOURCE / "dataset").is_dir(), reason="the raw PetShop dataset is not here"
)
def test_vendored_files_are_what_the_importer_writes() -> None:
    expected = convert(DEFAULT_SOURCE)
    vendored = {
        str(p.relative_to(DEFAULT_OUT)): p.read_text()
        for p in DEFAULT_OUT.rglob("*")
        if p.is_file()
    }
    assert sorted(vendored) == sorted(expected), "run: python -m bench.petshop.importer"
    stale = [name for name, text in expected.items() if vendored[name] != text]
    assert not stale, (
        f"{len(stale)} stale files, e.g. {stale[:3]}: python -m bench.petshop.importer"
    )
