"""The ledger detects any edit, deletion, reordering or truncation of its lines."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from controller.errors import LedgerIntegrityError
from controller.ledger import LedgerWriter, read_entries, verify_ledger
from controller.models.ledger import GENESIS_HASH, EntryType
from controller.sim.fakes import InMemoryLedger

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _write(path: Path, count: int = 5) -> Path:
    with LedgerWriter(path) as ledger:
        for i in range(count):
            ledger.append(
                T0 + timedelta(seconds=i),
                EntryType.PROPOSAL,
                {"n": i},
                incident_id="inc-1",
                plan_hash="p" * 4,
            )
    return path


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def test_a_written_ledger_verifies_and_is_sealed(tmp_path: Path) -> None:
    path = _write(tmp_path / "l.jsonl")
    summary = verify_ledger(path)
    assert summary.entries == 6  # five entries plus the seal
    assert summary.sealed
    assert summary.counts == {"proposal": 5, "seal": 1}
    entries = read_entries(path)
    assert entries[0].prev_hash == GENESIS_HASH
    assert [e.seq for e in entries] == list(range(6))
    assert summary.head == entries[-1].hash


def test_editing_a_payload_is_detected_at_that_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "l.jsonl")
    lines = _lines(path)
    record = json.loads(lines[2])
    record["payload"]["n"] = 99
    lines[2] = json.dumps(record) + "\n"
    path.write_text("".join(lines))
    with pytest.raises(LedgerIntegrityError, match="line 3: hash mismatch"):
        verify_ledger(path)


def test_rehashing_an_edited_line_still_breaks_the_next_link(tmp_path: Path) -> None:
    path = _write(tmp_path / "l.jsonl")
    lines = _lines(path)
    record = json.loads(lines[1])
    record["payload"]["n"] = 42
    from controller.models.ledger import LedgerEntry

    body = {k: v for k, v in record.items() if k != "hash"}
    record["hash"] = LedgerEntry.compute_hash(body)
    lines[1] = json.dumps(record) + "\n"
    path.write_text("".join(lines))
    with pytest.raises(LedgerIntegrityError, match="line 3: prev_hash"):
        verify_ledger(path)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda ls: ls[:2] + ls[3:], "line 3: sequence 3, expected 2"),
        (lambda ls: [ls[1], ls[0], *ls[2:]], "line 1: sequence 1, expected 0"),
        (lambda ls: ls[:-1], "no seal entry"),
        (lambda ls: ls[1:], "line 1: sequence 1, expected 0"),
        (lambda ls: [*ls[:-1], ls[-1][:40]], "last line is cut off"),
        (lambda ls: [*ls, ls[0]], "entry after the seal"),
        (lambda ls: [], "ledger is empty"),
        (lambda ls: ["not json\n"], "line 1: not a ledger entry"),
    ],
    ids=[
        "deleted",
        "reordered",
        "tail-truncated",
        "head-truncated",
        "cut-mid-line",
        "appended-after-seal",
        "empty",
        "garbage",
    ],
)
def test_structural_tampering_is_detected(tmp_path: Path, mutate, message: str) -> None:
    path = _write(tmp_path / "l.jsonl")
    path.write_text("".join(mutate(_lines(path))))
    with pytest.raises(LedgerIntegrityError, match=message):
        verify_ledger(path)


def test_unsealed_ledger_is_accepted_only_when_asked(tmp_path: Path) -> None:
    path = _write(tmp_path / "l.jsonl")
    path.write_text("".join(_lines(path)[:-1]))
    assert verify_ledger(path, require_seal=False).entries == 5


def test_failed_run_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    with pytest.raises(RuntimeError), LedgerWriter(path) as ledger:
        ledger.append(T0, EntryType.DETECTION, {})
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_in_memory_ledger_chains_like_the_file(tmp_path: Path) -> None:
    memory = InMemoryLedger()
    path = tmp_path / "l.jsonl"
    with LedgerWriter(path) as ledger:
        for i in range(3):
            a = memory.append(T0, EntryType.ACTION, {"i": i}, incident_id="x")
            b = ledger.append(T0, EntryType.ACTION, {"i": i}, incident_id="x")
            assert a == b
    assert memory.head == read_entries(path)[2].hash
