"""The ledger detects any edit, deletion, reordering or truncation of its lines."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from controller.errors import LedgerIntegrityError
from controller.ledger import LedgerWriter, read_entries, verify_ledger
from controller.models.ledger import GENESIS_HASH, EntryType, LedgerEntry
from controller.sim.fakes import InMemoryLedger
from tests.factories import T0
from tests.unit.ledger.ledger_helpers import escalation, lines, write


def test_a_written_ledger_verifies_and_is_sealed(tmp_path: Path) -> None:
    path = write(tmp_path / "l.jsonl")
    summary = verify_ledger(path)
    assert summary.entries == 6  # five entries plus the seal
    assert summary.sealed and summary.segments == 1 and summary.recoveries == 0
    assert summary.counts == {"escalation": 5, "seal": 1}
    entries = read_entries(path)
    assert entries[0].prev_hash == GENESIS_HASH
    assert [e.seq for e in entries] == list(range(6))
    assert summary.head == entries[-1].hash
    assert entries[-1].payload == {"entries": 5}
    assert entries[-1].time == entries[-2].time  # a seal is dated by the last entry


def test_editing_a_payload_is_detected_at_that_line(tmp_path: Path) -> None:
    path = write(tmp_path / "l.jsonl")
    text = lines(path)
    record = json.loads(text[2])
    record["payload"]["reason"] = "nothing happened"
    text[2] = json.dumps(record) + "\n"
    path.write_text("".join(text))
    with pytest.raises(LedgerIntegrityError, match="line 3: hash mismatch"):
        verify_ledger(path)


def test_rehashing_an_edited_line_still_breaks_the_next_link(tmp_path: Path) -> None:
    path = write(tmp_path / "l.jsonl")
    text = lines(path)
    record = json.loads(text[1])
    record["payload"]["reason"] = "nothing happened"
    body = {k: v for k, v in record.items() if k != "hash"}
    record["hash"] = LedgerEntry.compute_hash(body)
    text[1] = json.dumps(record) + "\n"
    path.write_text("".join(text))
    with pytest.raises(LedgerIntegrityError, match="line 3: prev_hash"):
        verify_ledger(path)


Mutation = Callable[[list[str]], list[str]]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda ls: ls[:2] + ls[3:], "line 3: sequence 3, expected 2"),
        (lambda ls: [ls[1], ls[0], *ls[2:]], "line 1: sequence 1, expected 0"),
        (lambda ls: ls[:-1], "line 5: no seal entry"),
        (lambda ls: ls[1:], "line 1: sequence 1, expected 0"),
        (lambda ls: [*ls[:-1], ls[-1][:40]], "line 6: last line is cut off"),
        (lambda ls: [*ls, ls[0]], "line 7: sequence 0, expected 6"),
        (lambda ls: [], "ledger is empty"),
        (lambda ls: ["not json\n"], "line 1: not a ledger entry"),
    ],
    ids=[
        "deleted",
        "reordered",
        "tail-truncated",
        "head-truncated",
        "cut-mid-line",
        "replayed-after-seal",
        "zero-bytes",
        "garbage",
    ],
)
def test_structural_tampering_is_detected(tmp_path: Path, mutate: Mutation, message: str) -> None:
    path = write(tmp_path / "l.jsonl")
    path.write_text("".join(mutate(lines(path))))
    with pytest.raises(LedgerIntegrityError, match=message):
        verify_ledger(path)


def test_a_seal_with_a_wrong_count_is_detected(tmp_path: Path) -> None:
    path = write(tmp_path / "l.jsonl")
    text = lines(path)
    record = json.loads(text[-1])
    record["payload"]["entries"] = 4
    record["hash"] = LedgerEntry.compute_hash({k: v for k, v in record.items() if k != "hash"})
    text[-1] = json.dumps(record) + "\n"
    path.write_text("".join(text))
    with pytest.raises(LedgerIntegrityError, match="line 6: seal count does not match"):
        verify_ledger(path)


def test_unsealed_ledger_is_accepted_only_when_asked(tmp_path: Path) -> None:
    path = write(tmp_path / "l.jsonl")
    path.write_text("".join(lines(path)[:-1]))
    summary = verify_ledger(path, require_seal=False)
    assert (summary.entries, summary.sealed, summary.segments) == (5, False, 0)


def test_an_empty_run_leaves_a_sealed_ledger(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    with LedgerWriter(path, clock=lambda: T0):
        pass
    (seal,) = read_entries(path)
    assert (seal.seq, seal.type, seal.payload, seal.time) == (0, EntryType.SEAL, {"entries": 0}, T0)
    assert seal.prev_hash == GENESIS_HASH
    summary = verify_ledger(path)
    assert (summary.entries, summary.sealed, summary.counts) == (1, True, {"seal": 1})


def test_an_empty_seal_is_dated_by_the_wall_clock_by_default(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    with LedgerWriter(path):
        pass
    (seal,) = read_entries(path)
    assert seal.time > T0  # not a made-up time: when it was sealed


def test_failed_run_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    with pytest.raises(RuntimeError), LedgerWriter(path) as ledger:
        ledger.append(T0, EntryType.ESCALATION, escalation(0))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_run_leaves_an_earlier_ledger_untouched(tmp_path: Path) -> None:
    path = write(tmp_path / "l.jsonl")
    before = path.read_bytes()
    with pytest.raises(RuntimeError), LedgerWriter(path) as ledger:
        ledger.append(T0, EntryType.ESCALATION, escalation(0))
        raise RuntimeError("boom")
    assert path.read_bytes() == before


def test_callers_cannot_append_a_seal(tmp_path: Path) -> None:
    with LedgerWriter(tmp_path / "l.jsonl") as ledger, pytest.raises(ValueError, match="seal"):
        ledger.append(T0, EntryType.SEAL, {"entries": 0})


def test_in_memory_ledger_chains_like_the_file(tmp_path: Path) -> None:
    memory = InMemoryLedger()
    path = tmp_path / "l.jsonl"
    with LedgerWriter(path) as ledger:
        for i in range(3):
            a = memory.append(T0, EntryType.ESCALATION, escalation(i), incident_id="x")
            b = ledger.append(T0, EntryType.ESCALATION, escalation(i), incident_id="x")
            assert a == b
    assert memory.head == read_entries(path)[2].hash
