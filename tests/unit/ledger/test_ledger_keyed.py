"""With a key the chain is HMAC'd: a forger who re-computes every hash passes keyless
verification but not keyed verification; without the key no valid entry or seal can be added."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from controller.errors import ConfigError, LedgerIntegrityError
from controller.ledger import (
    LEDGER_KEY_ENV,
    LedgerWriter,
    ledger_key,
    read_entries,
    verify_ledger,
)
from controller.models.ledger import GENESIS_HASH, EntryType, LedgerEntry
from controller.settings import load_settings
from controller.sim.fakes import InMemoryLedger
from tests.factories import T0
from tests.unit.ledger.ledger_helpers import KEY, escalation, lines, write


def _rehash(records: list[dict[str, Any]], key: bytes | None = None) -> str:
    """Re-chain ``records`` from the genesis hash, as a forger would (with ``key`` if known)."""
    prev = GENESIS_HASH
    for record in records:
        record["prev_hash"] = prev
        body = {k: v for k, v in record.items() if k != "hash"}
        record["hash"] = prev = LedgerEntry.compute_hash(body, key)
    return "".join(json.dumps(r) + "\n" for r in records)


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines(path)]


def test_a_keyed_ledger_verifies_with_its_key_only(tmp_path: Path) -> None:
    path = write(tmp_path / "l.jsonl", key=KEY)
    summary = verify_ledger(path, key=KEY)
    assert summary.keyed and summary.entries == 6
    with pytest.raises(LedgerIntegrityError, match="line 1: hash mismatch: .* keyed ledger"):
        verify_ledger(path)
    with pytest.raises(LedgerIntegrityError, match="line 1: hash mismatch: .*key is wrong"):
        verify_ledger(path, key=b"another key of 32 bytes........")


def test_a_forged_but_rehashed_ledger_passes_only_keyless_verification(tmp_path: Path) -> None:
    path = write(tmp_path / "l.jsonl", key=KEY)
    records = _records(path)
    records[2]["payload"]["reason"] = "a forged reason"
    path.write_text(_rehash(records))  # the forger does not have the key
    assert verify_ledger(path).entries == 6  # no key: only accidents are detected
    with pytest.raises(LedgerIntegrityError, match="line 1: hash mismatch"):
        verify_ledger(path, key=KEY)


def test_with_the_key_a_forgery_would_verify(tmp_path: Path) -> None:
    """The other side of the same coin: the key is the whole secret (docs/ledger.md)."""
    path = write(tmp_path / "l.jsonl", key=KEY)
    records = _records(path)
    records[2]["payload"]["reason"] = "a forged reason"
    path.write_text(_rehash(records, KEY))
    assert verify_ledger(path, key=KEY).entries == 6


def test_without_the_key_the_tail_cannot_be_cut_and_resealed(tmp_path: Path) -> None:
    path = write(tmp_path / "l.jsonl", key=KEY)
    kept = lines(path)[:3]
    last = json.loads(kept[-1])
    seal = last | {"seq": 3, "type": "seal", "incident_id": None, "plan_hash": None}
    seal |= {"payload": {"entries": 3}, "prev_hash": last["hash"]}
    seal["hash"] = LedgerEntry.compute_hash({k: v for k, v in seal.items() if k != "hash"})
    path.write_text("".join(kept) + json.dumps(seal) + "\n")  # the best a keyless forger can do
    with pytest.raises(LedgerIntegrityError, match="line 4: hash mismatch"):
        verify_ledger(path, key=KEY)
    path.write_text("".join(kept))
    with pytest.raises(LedgerIntegrityError, match="line 3: no seal entry"):
        verify_ledger(path, key=KEY)


def test_a_cut_at_a_segment_boundary_is_not_detectable_from_the_file(tmp_path: Path) -> None:
    """Documented limit: every segment ends sealed, so dropping whole later segments leaves a
    valid ledger. Only a head kept elsewhere (logs, metrics) shows it."""
    path = write(tmp_path / "l.jsonl", 2, key=KEY)
    first_head = verify_ledger(path, key=KEY).head
    write(path, 2, key=KEY, resume=True, start=2)
    full = verify_ledger(path, key=KEY)
    path.write_text("".join(lines(path)[:3]))
    cut = verify_ledger(path, key=KEY)
    assert cut.head == first_head != full.head


def test_without_the_key_nothing_can_be_appended_after_the_seal(tmp_path: Path) -> None:
    path = write(tmp_path / "l.jsonl", 2, key=KEY)
    with pytest.raises(LedgerIntegrityError, match="line 1: cannot resume: hash mismatch"):
        LedgerWriter(path, resume=True).open()
    with pytest.raises(LedgerIntegrityError, match="cannot resume: hash mismatch.*key is wrong"):
        LedgerWriter(path, resume=True, key=b"z" * 32).open()
    write(path, 1, key=KEY, resume=True, start=2)
    assert verify_ledger(path, key=KEY).segments == 2


def test_the_in_memory_ledger_chains_with_the_key_like_the_file(tmp_path: Path) -> None:
    memory, path = InMemoryLedger(key=KEY), tmp_path / "l.jsonl"
    with LedgerWriter(path, key=KEY) as ledger:
        for i in range(3):
            assert memory.append(T0, EntryType.ESCALATION, escalation(i)) == ledger.append(
                T0, EntryType.ESCALATION, escalation(i)
            )
    assert read_entries(path)[2].hash == memory.head
    assert InMemoryLedger().append(T0, EntryType.ESCALATION, escalation(0)).hash != (
        InMemoryLedger(key=KEY).append(T0, EntryType.ESCALATION, escalation(0)).hash
    )


def test_a_short_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        LedgerWriter(tmp_path / "l.jsonl", key=b"short")
    with pytest.raises(ValueError, match="at least 16 bytes"):
        verify_ledger(write(tmp_path / "l.jsonl"), key=b"")


def test_the_key_comes_from_the_environment() -> None:
    assert ledger_key({}) is None
    assert ledger_key({LEDGER_KEY_ENV: "x" * 16}) == b"x" * 16
    with pytest.raises(ConfigError, match="AIOPS_LEDGER_KEY: must be at least 16 bytes"):
        ledger_key({LEDGER_KEY_ENV: ""})  # set but empty is a mistake, not "no key"
    with pytest.raises(ConfigError):
        ledger_key({LEDGER_KEY_ENV: "tooshort"})


def test_the_key_variable_does_not_upset_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LEDGER_KEY_ENV, "x" * 32)
    assert load_settings().log.level == "warning"
