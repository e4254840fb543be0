"""Append-only, hash-chained JSON Lines ledger of every detection, decision and action.

Each line carries ``prev_hash`` (the previous line's ``hash``) and its own ``hash`` over all
its other fields, so editing, deleting or reordering any line breaks the chain. With a key
(``AIOPS_LEDGER_KEY``) the hash is an HMAC-SHA256, so only a holder of the key can produce
a chain that verifies. Every payload is checked against its entry type's model on write and
on read (``controller.models.ledger``).

A ledger is a run of *segments*, each closed by a ``seal`` entry that records how many entries
precede it in the file. A writer that resumes an existing ledger first verifies it, then
continues the chain in a new segment; a segment left unsealed by a crash (its cut-off last
line included) is closed with a recovery seal that keeps what was removed. A ledger whose last
entry is not a seal was truncated (or is still being written), which ``verify_ledger``
reports. What each mode protects against: docs/ledger.md.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import io
import json
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import structlog
from pydantic import ValidationError

from controller.errors import ConfigError, InputError, LedgerIntegrityError, PermanentError
from controller.models.ledger import (
    GENESIS_HASH,
    LEDGER_LINE,
    EntryType,
    LedgerEntry,
    describe_validation,
    ledger_line_schema,
    validate_payload,
)
from controller.models.ledger_payloads import Recovery, SealPayload
from controller.outputs import OutputKind, OutputTarget, classify_output, write_through

log = structlog.get_logger("aiops.ledger")

LEDGER_KEY_ENV = "AIOPS_LEDGER_KEY"
MIN_KEY_BYTES = 16
MAX_TORN_BYTES = 1024 * 1024
"""A cut-off last line longer than this is no torn write of one entry: resuming refuses."""


def ledger_json_schema() -> dict[str, Any]:
    """The JSON Schema of one ledger line (``aiops schema ledger``)."""
    return ledger_line_schema()


def checked_key(key: bytes | None) -> bytes | None:
    """``key`` when it is long enough to be a secret; ValueError otherwise."""
    if key is not None and len(key) < MIN_KEY_BYTES:
        raise ValueError(f"a ledger key needs at least {MIN_KEY_BYTES} bytes")
    return key


def ledger_key(environ: Mapping[str, str]) -> bytes | None:
    """The HMAC key from ``AIOPS_LEDGER_KEY`` (its UTF-8 bytes); None when unset.

    Read once by the composition root, like the Anthropic key. Set but empty or short is a
    configuration error, never a silent fall-back to an unkeyed ledger.
    """
    raw = environ.get(LEDGER_KEY_ENV)
    if raw is None:
        return None
    key = raw.encode("utf-8")
    if len(key) < MIN_KEY_BYTES:
        reason = f"must be at least {MIN_KEY_BYTES} bytes (e.g. openssl rand -hex 32)"
        raise ConfigError(LEDGER_KEY_ENV, "", reason)
    return key


def chain_entry(
    seq: int,
    prev_hash: str,
    time: datetime,
    entry_type: EntryType,
    incident_id: str | None,
    plan_hash: str | None,
    payload: dict[str, Any],
    *,
    key: bytes | None = None,
) -> LedgerEntry:
    """Build entry ``seq`` linked to ``prev_hash``; shared by the file and in-memory ledgers
    so both validate and chain identically. A payload that does not fit its type's model
    raises ``LedgerPayloadError`` (a programming error: nothing is chained)."""
    validate_payload(entry_type, payload)
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
    return draft.model_copy(update={"hash": LedgerEntry.compute_hash(draft.body(), key)})


# -- the chain, as read or written ---------------------------------------------------------


@dataclass(slots=True)
class _Chain:
    """Where a chain stands after its last entry; ``take`` checks one more entry."""

    key: bytes | None
    count: int = 0
    head: str = GENESIS_HASH
    last_time: datetime | None = None
    sealed: bool = False
    segments: int = 0
    recoveries: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def take(self, source: Path, number: int, entry: LedgerEntry) -> None:
        """Check ``entry`` (line ``number``) against the chain so far, then advance."""
        if entry.seq != self.count:
            raise LedgerIntegrityError(
                source, number, f"sequence {entry.seq}, expected {self.count}"
            )
        if entry.prev_hash != self.head:
            raise LedgerIntegrityError(source, number, "prev_hash does not match the line before")
        if not hmac.compare_digest(LedgerEntry.compute_hash(entry.body(), self.key), entry.hash):
            raise LedgerIntegrityError(source, number, self._mismatch())
        if entry.type is EntryType.SEAL and entry.payload_as(SealPayload).entries != self.count:
            raise LedgerIntegrityError(source, number, "seal count does not match")
        self.advance(entry)

    def advance(self, entry: LedgerEntry) -> None:
        """Move past ``entry`` (already checked, or just written)."""
        self.count, self.head, self.last_time = entry.seq + 1, entry.hash, entry.time
        self.sealed = entry.type is EntryType.SEAL
        if self.sealed:
            self.segments += 1
            self.recoveries += entry.payload_as(SealPayload).recovery is not None
        self.counts[entry.type.value] = self.counts.get(entry.type.value, 0) + 1

    def _mismatch(self) -> str:
        if self.key is None:
            return "hash mismatch: the entry was modified (a keyed ledger verifies with its key)"
        return "hash mismatch: the entry was modified or forged, or the key is wrong"


def _split(source: Path, data: bytes) -> tuple[list[tuple[int, str]], bytes]:
    """Complete lines (numbered from 1, decoded) and the bytes after the last newline."""
    *complete, tail = data.split(b"\n")
    lines: list[tuple[int, str]] = []
    for number, raw in enumerate(complete, start=1):
        try:
            lines.append((number, raw.decode("utf-8")))
        except UnicodeDecodeError as exc:
            raise LedgerIntegrityError(source, number, f"not UTF-8: {exc.reason}") from exc
    return lines, tail


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(path, "", "no such file") from exc
    except OSError as exc:
        raise InputError(path, "", f"cannot read: {exc}") from exc


def _complete_lines(path: Path) -> list[tuple[int, str]]:
    lines, tail = _split(path, _read(path))
    if tail:
        raise LedgerIntegrityError(path, len(lines) + 1, "last line is cut off (truncated write)")
    return lines


def _parse(source: Path, number: int, line: str) -> LedgerEntry:
    """One line as an entry; its envelope and payload must fit the line's type."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise LedgerIntegrityError(source, number, f"not a ledger entry: {exc}") from exc
    try:
        LEDGER_LINE.validate_python(data)
    except ValidationError as exc:
        problem = describe_validation(exc, data)
        raise LedgerIntegrityError(source, number, f"not a ledger entry: {problem}") from exc
    return LedgerEntry.model_validate(data)


def _verify_lines(source: Path, lines: Iterable[tuple[int, str]], key: bytes | None) -> _Chain:
    chain = _Chain(key=checked_key(key))
    for number, line in lines:
        chain.take(source, number, _parse(source, number, line))
    return chain


@dataclass(frozen=True, slots=True)
class LedgerSummary:
    """What a successful verification found."""

    entries: int
    head: str
    sealed: bool
    counts: dict[str, int]
    segments: int
    """Seals: each closes one segment (a writer's run, or a crash sealed on resume)."""
    recoveries: int
    """Segments a crash left unsealed, sealed by the next writer with a recovery record."""
    keyed: bool
    """Whether every hash was checked as an HMAC under a key."""


def verify_ledger(
    path: Path, *, require_seal: bool = True, key: bytes | None = None
) -> LedgerSummary:
    """Check every line's model, hash (or HMAC under ``key``) and link, and that the ledger
    ends with a seal; raise LedgerIntegrityError naming the first broken line."""
    chain = _verify_lines(path, _complete_lines(path), key)
    if chain.count == 0:
        raise LedgerIntegrityError(path, 0, "ledger is empty: not even a seal")
    if require_seal and not chain.sealed:
        raise LedgerIntegrityError(path, chain.count, "no seal entry: the ledger was truncated")
    return LedgerSummary(
        entries=chain.count,
        head=chain.head,
        sealed=chain.sealed,
        counts=chain.counts,
        segments=chain.segments,
        recoveries=chain.recoveries,
        keyed=key is not None,
    )


def read_entries(path: Path) -> list[LedgerEntry]:
    """Parse and type-check every entry (no chain verification); for tools and tests."""
    return [_parse(path, number, line) for number, line in _complete_lines(path)]


# -- the writer ------------------------------------------------------------------------------


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _torn(tail: bytes) -> Recovery:
    return Recovery(
        torn_bytes=len(tail),
        torn_sha256=hashlib.sha256(tail).hexdigest(),
        torn_base64=base64.b64encode(tail).decode("ascii"),
    )


class LedgerWriter:
    """Writes a ledger to ``path``; use as a context manager. Two ways to write:

    - ``resume=False`` (one-shot runs such as ``aiops replay``): lines go to a temporary file
      that is renamed over ``path`` on ``close``; a failed run (``abort``) leaves ``path``
      untouched, and nothing partial is ever visible. ``path`` follows the output rules of
      ``controller.outputs``: a symlink's target is replaced (the link stays); a character
      device, a FIFO or ``-`` (stdout) is never renamed over but gets the whole ledger
      written through on ``close`` (nothing on ``abort``); a directory or a missing folder is
      refused on ``open`` (InputError), before any entry is made.
    - ``resume=True`` (the live operator): lines are appended to ``path`` itself and each is
      fsynced before ``append`` returns; its folder is created if missing, and only a regular
      file can be resumed. An existing ledger is verified first (a broken or
      tampered one is refused, naming the file and line) and continued in a new segment; a
      segment a crash left unsealed is sealed with a ``recovery`` record first, and a cut-off
      last line is removed from the file into that record. One writer at a time (a lock).

    ``close`` seals: it always leaves a ledger whose last entry is a seal, with zero
    entries too. ``key`` makes every hash an HMAC-SHA256; ``clock`` dates the seals that no
    entry dates (an empty ledger's, a recovery's).
    """

    def __init__(
        self,
        path: Path,
        *,
        key: bytes | None = None,
        resume: bool = False,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.path = path
        self.resume = resume
        self.recovered: Recovery | None = None
        """What resuming found at the end of an unclosed ledger (None: nothing to recover)."""
        self._key = checked_key(key)
        self._clock = clock
        self._tmp: Path | None = None
        """One-shot into a regular file: the temporary file renamed over it on close."""
        self._stream: OutputTarget | None = None
        """One-shot into a device, a FIFO or stdout: written through on close."""
        self._file: BinaryIO | None = None
        self._chain = _Chain(key=self._key)
        self._failed = False
        self._lock = threading.RLock()
        """The loop's tick and the planner thread both append: one chain link at a time."""

    @property
    def head(self) -> str:
        """Hash of the newest entry (the genesis hash when empty)."""
        return self._chain.head

    @property
    def entries(self) -> int:
        """Entries in the ledger so far, seals included (and those of resumed segments)."""
        return self._chain.count

    def __enter__(self) -> LedgerWriter:
        self.open()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None or self.resume:
            self.close()  # resumed: what was appended is on disk and true; seal it
        else:
            self.abort()

    def open(self) -> None:
        """Start writing (``__enter__`` does this)."""
        if self._file is not None:
            raise RuntimeError("ledger writer is already open")
        if self.resume:
            self._open_resumed()
            return
        target = classify_output(self.path)
        if target.kind is OutputKind.FILE:
            self._tmp = target.path.with_name(f".{target.path.name}.{os.getpid()}.tmp")
            self._file = self._tmp.open("wb")
        else:
            self._stream = target
            self._file = io.BytesIO()  # a stream gets the whole ledger on close, or nothing

    def _open_resumed(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)  # the operator's state folder
        target = classify_output(self.path)
        if target.kind is not OutputKind.FILE:
            raise InputError(self.path, "", "only a regular file can be resumed as a ledger")
        created = not target.path.exists()
        handle = target.path.open("a+b")
        try:
            self._continue(handle)
        except BaseException:
            self._file = None
            handle.close()
            raise
        if created:
            _fsync_dir(target.path.parent)

    def _continue(self, handle: BinaryIO) -> None:
        """Lock, verify and recover the ledger in ``handle``; then write on after it."""
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise PermanentError(f"{self.path}: another writer holds this ledger") from exc
        handle.seek(0)
        data = handle.read()
        try:
            lines, tail = _split(self.path, data)
            self._chain = _verify_lines(self.path, lines, self._key)
            if len(tail) > MAX_TORN_BYTES:
                why = f"the last line is cut off and {len(tail)} bytes long, more than an entry"
                raise LedgerIntegrityError(self.path, len(lines) + 1, why)
        except LedgerIntegrityError as exc:
            reason = f"cannot resume: {exc.reason}"
            raise LedgerIntegrityError(exc.source, exc.line, reason) from exc
        if tail:  # killed mid-write: keep the bytes in the record, not in the chain
            handle.truncate(len(data) - len(tail))
            os.fsync(handle.fileno())
            self.recovered = _torn(tail)
        elif self._chain.count and not self._chain.sealed:  # killed between writes
            self.recovered = Recovery()
        self._file = handle
        if self.recovered is not None:
            log.warning("ledger recovered", path=str(self.path), torn_bytes=len(tail))
            recovery = self.recovered.model_dump(mode="json")
            payload = {"entries": self._chain.count, "recovery": recovery}
            self._write(self._clock(), EntryType.SEAL, payload, None, None)

    def append(
        self,
        time: datetime,
        entry_type: EntryType,
        payload: dict[str, Any],
        *,
        incident_id: str | None = None,
        plan_hash: str | None = None,
    ) -> LedgerEntry:
        """Validate, chain and write one entry (durably when resuming); returns it."""
        if entry_type is EntryType.SEAL:
            raise ValueError("seals are written by close(), never appended")
        return self._write(time, entry_type, payload, incident_id, plan_hash)

    def _write(
        self,
        time: datetime,
        entry_type: EntryType,
        payload: dict[str, Any],
        incident_id: str | None,
        plan_hash: str | None,
    ) -> LedgerEntry:
        with self._lock:  # the loop's tick and the planner thread both append
            if self._file is None:
                raise RuntimeError("ledger writer is not open")
            if self._failed:
                raise RuntimeError("an earlier ledger write failed: the writer accepts no more")
            entry = chain_entry(
                self._chain.count, self.head, time, entry_type, incident_id, plan_hash, payload,
                key=self._key,
            )  # fmt: skip
            try:
                self._file.write((entry.model_dump_json() + "\n").encode("utf-8"))
                if self.resume:
                    self._file.flush()
                    os.fsync(self._file.fileno())
            except BaseException:
                self._failed = True  # a part of the line may be written: never write after it
                raise
            self._chain.advance(entry)
            return entry

    def close(self) -> None:
        """Seal (unless the ledger already ends with a seal), flush to disk, and move into
        place (or write a stream through). After a failed write: a resumed ledger is left for
        the next resume to recover, a one-shot one is discarded."""
        if self._file is None:
            return
        if self._failed:
            self.abort()
            if not self.resume:
                raise RuntimeError("an earlier ledger write failed: nothing was written")
            return
        if not self._chain.sealed:
            when = self._chain.last_time or self._clock()
            self._write(when, EntryType.SEAL, {"entries": self._chain.count}, None, None)
        file, self._file = self._file, None
        file.flush()
        if isinstance(file, io.BytesIO) and self._stream is not None:
            data = file.getvalue()
            file.close()
            write_through(self._stream, data)  # opened without create: never a new file
            return
        os.fsync(file.fileno())
        file.close()
        if self._tmp is not None:
            self._publish(self._tmp)

    def _publish(self, tmp: Path) -> None:
        """Rename ``tmp`` into place, unless ``path`` stopped being a regular file while the
        run went on (then it is written through, or refused): never rename over a device or
        a FIFO."""
        try:
            now = classify_output(self.path)
            if now.kind is OutputKind.FILE:
                os.replace(tmp, now.path)
                _fsync_dir(now.path.parent)
            else:
                write_through(now, tmp.read_bytes())
        finally:
            tmp.unlink(missing_ok=True)

    def abort(self) -> None:
        """Stop without sealing. One-shot: discard the temporary file (``path`` is left
        untouched). Resumed: what was appended stays; the next resume records the crash."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
