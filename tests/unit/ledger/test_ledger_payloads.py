"""Each entry type's payload has a model: checked on write (a misfit is a bug and raises) and
on read (the error names the line and the field), and read back as typed fields."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import pytest

from controller.errors import LedgerIntegrityError
from controller.ledger import LedgerWriter, chain_entry, read_entries, verify_ledger
from controller.models.actions import Plan, PlannerKind
from controller.models.decisions import Approval
from controller.models.incident import BlindSpot
from controller.models.ledger import (
    GENESIS_HASH,
    LEDGER_LINE,
    PAYLOAD_MODELS,
    EntryType,
    LedgerEntry,
    LedgerLine,
    LedgerPayloadError,
    validate_payload,
)
from controller.models.ledger_payloads import (
    BlindPayload,
    DecisionPayload,
    PlannerPayload,
    SightRestored,
)
from controller.models.proposals import FallbackReason, ProposalOutcome
from controller.sim.fakes import InMemoryLedger
from tests.factories import T0, WEB
from tests.unit.ledger.ledger_helpers import decision, lines, payloads, plan, planner_payload

SHAPES = [(kind, payload) for kind, shapes in payloads().items() for payload in shapes]


def _id(shape: tuple[EntryType, dict[str, Any]]) -> str:
    return shape[0].value


@pytest.mark.parametrize("shape", SHAPES, ids=[_id(s) for s in SHAPES])
def test_every_call_site_shape_fits_and_reads_back_unchanged(
    tmp_path: Path, shape: tuple[EntryType, dict[str, Any]]
) -> None:
    kind, payload = shape
    path = tmp_path / "l.jsonl"
    with LedgerWriter(path) as ledger:
        written = ledger.append(T0, kind, payload, incident_id="i", plan_hash="p")
    assert written.payload == payload  # kept exactly as the call site built it
    entry = read_entries(path)[0]
    typed = entry.payload_as(PAYLOAD_MODELS[kind])
    assert typed.model_dump(mode="json", exclude_unset=True) == payload  # nothing lost
    verify_ledger(path)


def test_every_entry_type_has_a_payload_model_and_a_line_model() -> None:
    assert set(PAYLOAD_MODELS) == set(EntryType)
    assert set(payloads()) == set(EntryType) - {EntryType.SEAL}
    (union, _field) = typing.get_args(LedgerLine)
    lines_by_type = {
        typing.get_args(line.model_fields["type"].annotation)[0]: line
        for line in typing.get_args(union)
    }
    assert set(lines_by_type) == set(EntryType)
    for kind, line in lines_by_type.items():
        assert line.model_fields["payload"].annotation is PAYLOAD_MODELS[kind]
        envelope = set(line.model_fields) - {"type", "payload"}
        assert envelope | {"type", "payload"} == set(LedgerEntry.model_fields)


def test_the_planner_payload_mirrors_the_proposal_outcome() -> None:
    """A field added to ProposalOutcome must be added to PlannerPayload (or the write fails)."""
    outcome_fields = set(ProposalOutcome.model_fields) - {"plan", "exchanges"}
    extra = {"runbook_plan", "runbook_plan_hash", "llm_plan", "llm_plan_hash"}
    assert set(PlannerPayload.model_fields) == outcome_fields | extra


def test_the_planner_payload_gives_back_the_outcome() -> None:
    typed = PlannerPayload.model_validate(planner_payload(FallbackReason.RATE_LIMITED, 70, 3))
    outcome = typed.outcome()
    assert outcome.plan is None and outcome.fallback is FallbackReason.RATE_LIMITED
    assert (outcome.usage.input_tokens, outcome.attempts) == (70, 3)
    proposed = PlannerPayload.model_validate(planner_payload()).outcome()
    assert proposed.plan == plan(6, PlannerKind.LLM)


def test_blind_payloads_are_told_apart() -> None:
    spot, restored = payloads()[EntryType.BLIND]
    assert isinstance(BlindPayload.model_validate(spot).root, BlindSpot)
    assert isinstance(BlindPayload.model_validate(restored).root, SightRestored)
    with pytest.raises(ValueError, match="restored"):
        BlindPayload.model_validate({**restored, "restored": False})


def _bad(kind: EntryType, change: dict[str, Any], drop: str | None = None) -> dict[str, Any]:
    payload = {**payloads()[kind][0], **change}
    if drop is not None:
        del payload[drop]
    return payload


@pytest.mark.parametrize(
    ("kind", "payload", "message"),
    [
        (EntryType.ESCALATION, {"why": "x"}, r"payload.reason: Field required"),
        (EntryType.ESCALATION, {"reason": "x", "oops": 1}, r"payload.oops: Extra inputs"),
        (EntryType.DECISION, _bad(EntryType.DECISION, {}, drop="revalidation"), "revalidation"),
        (
            EntryType.DECISION,
            {
                "revalidation": False,
                "decision": {**decision().model_dump(mode="json"), "verdict": "maybe"},
            },
            r"payload.decision.verdict: Input should be",
        ),  # fmt: skip
        (EntryType.PROPOSAL, _bad(EntryType.PROPOSAL, {"risk": "extreme"}), "payload.risk"),
        (EntryType.PLANNER, {"fallback": "no_key"}, r"payload.detail: Field required \(and 8"),
        (
            EntryType.ACTION,
            _bad(EntryType.ACTION, {"action": {"kind": "delete", "target": WEB.model_dump()}}),
            r"payload.action.kind: Input tag 'delete'",
        ),
        (
            EntryType.ACTION,
            _bad(
                EntryType.ACTION,
                {
                    "action": {
                        "kind": "scale",
                        "target": WEB.model_dump(),
                        "from_replicas": 4,
                        "to_replicas": -1,
                    }
                },
            ),
            r"payload.action.to_replicas: Input should be greater",
        ),  # fmt: skip
        (
            EntryType.BLIND,
            {"workload": WEB.model_dump(), "restored": False},
            r"payload.restored: Input should be True",
        ),
        (EntryType.APPROVAL, _bad(EntryType.APPROVAL, {"approver": ""}), "payload.approver"),
        (EntryType.MODE, {"mode": "panic", "since": T0.isoformat()}, "payload.mode"),
    ],
    ids=[
        "missing",
        "extra",
        "missing-flag",
        "nested-enum",
        "enum",
        "planner-partial",
        "action-kind",
        "action-field",
        "blind-restored",
        "empty-approver",
        "mode",
    ],
)
def test_a_payload_that_does_not_fit_is_refused_on_write(
    tmp_path: Path, kind: EntryType, payload: dict[str, Any], message: str
) -> None:
    memory = InMemoryLedger()
    with pytest.raises(LedgerPayloadError, match=message):
        memory.append(T0, kind, payload)
    assert memory.entries == []  # nothing chained
    path = tmp_path / "l.jsonl"
    with pytest.raises(LedgerPayloadError, match=message), LedgerWriter(path) as ledger:
        ledger.append(T0, kind, payload)
    assert not path.exists()


def test_seal_payloads_are_checked_too() -> None:
    with pytest.raises(LedgerPayloadError, match="payload.entries: Input should be greater"):
        validate_payload(EntryType.SEAL, {"entries": -1})
    with pytest.raises(LedgerPayloadError, match="payload.recovery.torn_sha256: String should"):
        validate_payload(EntryType.SEAL, {"entries": 0, "recovery": {"torn_sha256": "x"}})


def _forge(path: Path, index: int, edit: dict[str, Any]) -> None:
    """Edit line ``index``'s payload and re-hash the chain from there (a consistent forgery)."""
    text = lines(path)
    records = [json.loads(line) for line in text]
    records[index]["payload"].update(edit)
    prev = records[index - 1]["hash"] if index else GENESIS_HASH
    for record in records[index:]:
        record["prev_hash"] = prev
        record["hash"] = LedgerEntry.compute_hash({k: v for k, v in record.items() if k != "hash"})
        prev = record["hash"]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_a_bad_entry_on_disk_is_reported_with_its_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    with LedgerWriter(path) as ledger:
        for kind, shape in [(EntryType.PROPOSAL, 0), (EntryType.DECISION, 0)]:
            ledger.append(T0, kind, payloads()[kind][shape])
    bad = decision().model_dump(mode="json") | {"verdict": "maybe"}
    _forge(path, 1, {"decision": bad})
    expected = r"line 2: not a ledger entry: payload.decision.verdict: Input should be"
    with pytest.raises(LedgerIntegrityError, match=expected):
        verify_ledger(path)
    with pytest.raises(LedgerIntegrityError, match=expected):
        read_entries(path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"type": "gossip"}, r"line 1: not a ledger entry: type: Input tag 'gossip'"),
        ({"payload": {"reason": 3}}, r"line 1: not a ledger entry: payload.reason: Input should"),
        ({"schema_version": 2}, r"line 1: not a ledger entry: schema_version: Input should be 1"),
        ({"seq": -1}, r"line 1: not a ledger entry: seq: Input should be greater"),
        ({"hash": "xyz"}, r"line 1: not a ledger entry: hash: String should match"),
    ],
)
def test_a_bad_envelope_is_reported_with_its_field(
    tmp_path: Path, edit: dict[str, Any], message: str
) -> None:
    path = tmp_path / "l.jsonl"
    with LedgerWriter(path) as ledger:
        ledger.append(T0, EntryType.ESCALATION, {"reason": "x"})
    record = json.loads(lines(path)[0]) | edit
    path.write_text(json.dumps(record) + "\n" + lines(path)[1])
    with pytest.raises(LedgerIntegrityError, match=message):
        verify_ledger(path)


def test_a_payload_of_another_type_is_refused_on_read(tmp_path: Path) -> None:
    """A decision's payload relabelled as an approval fits neither: read names the field."""
    entry = chain_entry(0, GENESIS_HASH, T0, EntryType.DECISION, None, None,
                        payloads()[EntryType.DECISION][0])  # fmt: skip
    record = entry.model_dump(mode="json") | {"type": "approval"}
    with pytest.raises(ValueError, match="payload"):
        LEDGER_LINE.validate_python(record)


def test_payload_as_names_the_right_model() -> None:
    entry = InMemoryLedger().append(T0, EntryType.DECISION, payloads()[EntryType.DECISION][1])
    typed = entry.payload_as(DecisionPayload)
    assert typed.revalidation is True and typed.decision == decision()
    with pytest.raises(TypeError, match="a decision payload is a DecisionPayload, not a Approval"):
        entry.payload_as(Approval)
    with pytest.raises(TypeError):
        entry.payload_as(Plan)
