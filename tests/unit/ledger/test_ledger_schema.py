"""``aiops schema ledger`` describes every line the controller writes, and the payload models
fit what the bundled incidents make the call sites write, field for field."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from controller.bundled import default_policy, default_runbooks
from controller.guardrails.loader import load_policy
from controller.incident_loader import load_incident
from controller.ledger import LedgerWriter, ledger_json_schema, read_entries, verify_ledger
from controller.models.ledger import PAYLOAD_MODELS, EntryType
from controller.planner.runbook.catalog import load_runbooks
from controller.replay.engine import run_replay
from controller.replay.inputs import ApprovalsMode, ReplayInputs, default_approvals_mode
from controller.settings import Settings
from tests.cli_runner import aiops
from tests.conftest import EXAMPLES
from tests.unit.ledger.ledger_helpers import lines

NAMES = sorted(p.stem for p in EXAMPLES.glob("*.json"))
RUNS = [(name, None) for name in NAMES] + [("bad-deploy", ApprovalsMode.DENY)]


@cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = ledger_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def _replay(name: str, approvals: ApprovalsMode | None, path: Path) -> Path:
    incident = load_incident(EXAMPLES / f"{name}.json")
    inputs = ReplayInputs(
        incident=incident,
        source=name,
        policy=load_policy(default_policy()),
        runbooks=load_runbooks(default_runbooks()),
        settings=Settings(),
        approvals=approvals or default_approvals_mode(incident),
    )
    with LedgerWriter(path) as writer:
        run_replay(inputs, writer)
    return path


@pytest.fixture(scope="module")
def ledgers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One file ledger per bundled run, replayed once for this module."""
    folder = tmp_path_factory.mktemp("ledgers")
    return {f"{n}-{a}": _replay(n, a, folder / f"{n}-{a}.jsonl") for n, a in RUNS}


@pytest.mark.parametrize("run", [f"{n}-{a}" for n, a in RUNS])
def test_every_line_of_a_replayed_ledger_fits_the_schema_and_its_model(
    ledgers: dict[str, Path], run: str
) -> None:
    path = ledgers[run]
    verify_ledger(path)
    for line in lines(path):
        errors = sorted(_validator().iter_errors(json.loads(line)), key=str)
        assert errors == [], errors[0].message if errors else ""
    for entry in read_entries(path):
        typed = entry.payload_as(PAYLOAD_MODELS[entry.type])
        assert typed.model_dump(mode="json", exclude_unset=True) == entry.payload


def test_the_examples_write_most_entry_types(ledgers: dict[str, Path]) -> None:
    """Guards the test above against going vacuous when the examples change."""
    seen = {e.type for path in ledgers.values() for e in read_entries(path)}
    assert set(EntryType) - {EntryType.PLANNER, EntryType.BLIND, EntryType.MODE} <= seen


def _line(**edit: Any) -> dict[str, Any]:
    line: dict[str, Any] = {
        "schema_version": 1, "seq": 0, "time": "2026-03-01T12:00:00Z", "type": "escalation",
        "incident_id": None, "plan_hash": None, "payload": {"reason": "x"},
        "prev_hash": "0" * 64, "hash": "a" * 64,
    }  # fmt: skip
    return line | edit


@pytest.mark.parametrize(
    "bad",
    [
        _line(type="gossip"),
        _line(payload={"reason": "x", "extra": 1}),
        _line(payload={}),
        _line(type="seal", payload={"entries": -1}),
        _line(schema_version=2),
        _line(hash="xyz"),
        {k: v for k, v in _line().items() if k != "prev_hash"},
    ],
    ids=["type", "extra", "missing", "seal", "version", "hash", "envelope"],
)
def test_the_schema_rejects_what_the_reader_rejects(bad: dict[str, Any]) -> None:
    assert _validator().is_valid(_line())
    assert not _validator().is_valid(bad)


def test_aiops_schema_ledger_prints_the_line_schema(tmp_path: Path) -> None:
    run = aiops("schema", "ledger", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    printed = json.loads(run.stdout)
    assert printed == json.loads(json.dumps(ledger_json_schema()))
    assert set(printed["discriminator"]["mapping"]) == {t.value for t in EntryType}


def test_a_replay_that_records_nothing_leaves_a_verifiable_sealed_ledger(tmp_path: Path) -> None:
    run = aiops("replay", EXAMPLES / "quiet-day.json", "--ledger", "l.jsonl", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    (seal,) = read_entries(tmp_path / "l.jsonl")
    assert seal.type is EntryType.SEAL and seal.payload == {"entries": 0}
    verify = aiops("ledger", "verify", "l.jsonl", cwd=tmp_path)
    assert verify.returncode == 0, verify.stderr
    assert "ok, 1 entries, sealed" in verify.stdout
