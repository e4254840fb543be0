"""Append-only, hash-chained JSON Lines ledger of every detection, decision and action.

Each line carries ``prev_hash`` (the previous line's ``hash``) and its own ``hash`` over all
its other fields, so editing, deleting or reordering any line breaks the chain. The last line
of a closed ledger is a ``seal`` entry that records the number of entries before it; a ledger
without a seal was truncated (or is still being written), which ``verify_ledger`` reports.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from controller.errors import InputError, LedgerIntegrityError
from controller.models.ledger import GENESIS_HASH, EntryType, LedgerEntry


def chain_entry(
    seq: int,
    prev_hash: str,
    time: datetime,
    entry_type: EntryType,
    incident_id: str | None,
    plan_hash: str | None,
    payload: dict[str, Any],
) -> LedgerEntry:
    """Build entry ``seq`` linked to ``prev_hash``; shared by the file and in-memory ledgers
    so both chain identically."""
    draft = LedgerEntry(
        seq=seq,
        time=time,
        type=entry_type,
        incident_id=incident_id,
        plan_hash=plan_hash,
        payload=payload,
        prev_hash=prev_hash,
        hash=GENESIS_HASH,
    )
    return draft.model_copy(update={"hash": LedgerEntry.compute_hash(draft.body())})


class LedgerWriter:
    """Writes a ledger to ``path`` atomically: lines go to a temporary file that is renamed
    into place on ``close`` (no partial ledger is ever left behind by a failed replay).

    Use as a context manager; ``abort`` discards everything written so far.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self._file: TextIO | None = None
        self._seq = 0
        self._head = GENESIS_HASH
        self._last_time: datetime | None = None

    @property
    def head(self) -> str:
        """Hash of the newest entry (the genesis hash when empty)."""
        return self._head

    def __enter__(self) -> LedgerWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self._tmp.open("w", encoding="utf-8")
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def append(
        self,
        time: datetime,
        entry_type: EntryType,
        payload: dict[str, Any],
        *,
        incident_id: str | None = None,
        plan_hash: str | None = None,
    ) -> LedgerEntry:
        """Chain and write one entry; returns it."""
        if self._file is None:
            raise RuntimeError("ledger writer is not open")
        entry = chain_entry(
            self._seq, self._head, time, entry_type, incident_id, plan_hash, payload
        )
        self._file.write(entry.model_dump_json() + "\n")
        self._seq += 1
        self._head = entry.hash
        self._last_time = entry.time
        return entry

    def close(self) -> None:
        """Seal, flush to disk and move into place."""
        if self._file is None:
            return
        if self._last_time is not None:
            self.append(self._last_time, EntryType.SEAL, {"entries": self._seq})
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        """Discard the temporary file; the target path is left untouched."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._tmp.unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class LedgerSummary:
    """What a successful verification found."""

    entries: int
    head: str
    sealed: bool
    counts: dict[str, int]


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with path.open(encoding="utf-8") as reader:
            data = reader.read()
    except FileNotFoundError as exc:
        raise InputError(path, "", "no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, "", f"cannot read: {exc}") from exc
    if data and not data.endswith("\n"):
        last = data.count("\n") + 1
        raise LedgerIntegrityError(path, last, "last line is cut off (truncated write)")
    yield from enumerate(data.splitlines(), start=1)


def _parse(path: Path, number: int, line: str) -> LedgerEntry:
    try:
        return LedgerEntry.model_validate(json.loads(line))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise LedgerIntegrityError(path, number, f"not a ledger entry: {exc}") from exc


def verify_ledger(path: Path, *, require_seal: bool = True) -> LedgerSummary:
    """Check every hash and link; raise LedgerIntegrityError at the first broken line."""
    prev, count, sealed = GENESIS_HASH, 0, False
    counts: dict[str, int] = {}
    for number, line in _lines(path):
        entry = _parse(path, number, line)
        if sealed:
            raise LedgerIntegrityError(path, number, "entry after the seal")
        if entry.seq != count:
            raise LedgerIntegrityError(path, number, f"sequence {entry.seq}, expected {count}")
        if entry.prev_hash != prev:
            raise LedgerIntegrityError(path, number, "prev_hash does not match the line before")
        if LedgerEntry.compute_hash(entry.body()) != entry.hash:
            raise LedgerIntegrityError(path, number, "hash mismatch: the entry was modified")
        if entry.type is EntryType.SEAL:
            if entry.payload.get("entries") != count:
                raise LedgerIntegrityError(path, number, "seal count does not match")
            sealed = True
        counts[entry.type.value] = counts.get(entry.type.value, 0) + 1
        prev, count = entry.hash, count + 1
    if count == 0:
        raise LedgerIntegrityError(path, 0, "ledger is empty")
    if require_seal and not sealed:
        raise LedgerIntegrityError(path, count, "no seal entry: the ledger was truncated")
    return LedgerSummary(entries=count, head=prev, sealed=sealed, counts=counts)


def read_entries(path: Path) -> list[LedgerEntry]:
    """Parse every entry (no verification); for tools and tests."""
    return [_parse(path, number, line) for number, line in _lines(path)]
