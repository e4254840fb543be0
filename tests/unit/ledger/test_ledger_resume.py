"""A resuming writer verifies the ledger it continues, refuses a broken one, and recovers from
a crash (a cut-off last line included) with a record of what it found."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import textwrap
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from controller.errors import LedgerIntegrityError, PermanentError
from controller.ledger import MAX_TORN_BYTES, LedgerWriter, read_entries, verify_ledger
from controller.models.ledger import EntryType, LedgerEntry
from controller.models.ledger_payloads import Recovery, SealPayload
from tests.factories import T0
from tests.unit.ledger.ledger_helpers import escalation, lines, write

REPO = Path(__file__).resolve().parents[3]


def _crashed(path: Path, count: int = 3) -> Path:
    """A resumed ledger whose writer died after ``count`` entries (no seal)."""
    ledger = LedgerWriter(path, resume=True)
    ledger.open()
    for i in range(count):
        ledger.append(T0 + timedelta(seconds=i), EntryType.ESCALATION, escalation(i))
    ledger.abort()  # stops like a killed process: what was appended stays, unsealed
    return path


def _seals(path: Path) -> list[SealPayload]:
    return [e.payload_as(SealPayload) for e in read_entries(path) if e.type is EntryType.SEAL]


def test_resume_after_a_clean_close_continues_the_chain_in_a_new_segment(tmp_path: Path) -> None:
    path = write(tmp_path / "l.jsonl", 3)
    first_seal = read_entries(path)[-1]
    write(path, 2, resume=True, start=3)
    entries = read_entries(path)
    assert [e.seq for e in entries] == list(range(7))
    assert entries[4].prev_hash == first_seal.hash  # the new segment hangs off the seal
    assert [s.entries for s in _seals(path)] == [3, 6]
    summary = verify_ledger(path)
    assert (summary.entries, summary.segments, summary.recoveries) == (7, 2, 0)
    assert summary.counts == {"escalation": 5, "seal": 2}


def test_resuming_without_appending_changes_nothing(tmp_path: Path) -> None:
    path = write(tmp_path / "l.jsonl", 3)
    before = path.read_bytes()
    with LedgerWriter(path, resume=True) as ledger:
        assert ledger.recovered is None and ledger.entries == 4
    assert path.read_bytes() == before


def test_a_new_ledger_can_be_started_by_a_resuming_writer(tmp_path: Path) -> None:
    path = tmp_path / "new" / "l.jsonl"
    with LedgerWriter(path, resume=True, clock=lambda: T0):
        pass
    assert verify_ledger(path).counts == {"seal": 1}


def test_each_append_is_on_disk_before_it_returns(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    with LedgerWriter(path, resume=True) as ledger:
        ledger.append(T0, EntryType.ESCALATION, escalation(0))
        assert verify_ledger(path, require_seal=False).entries == 1  # no buffering, no tmp
    assert verify_ledger(path).entries == 2


def test_resume_after_a_crash_seals_the_crashed_segment_with_a_record(tmp_path: Path) -> None:
    path = _crashed(tmp_path / "l.jsonl")
    with pytest.raises(LedgerIntegrityError, match="no seal entry"):
        verify_ledger(path)
    with LedgerWriter(path, resume=True, clock=lambda: T0 + timedelta(hours=1)) as ledger:
        assert ledger.recovered == Recovery()
        ledger.append(T0 + timedelta(hours=1), EntryType.ESCALATION, escalation(3))
    recovery_seal = read_entries(path)[3]
    assert recovery_seal.type is EntryType.SEAL
    assert recovery_seal.time == T0 + timedelta(hours=1)
    assert recovery_seal.payload == {
        "entries": 3,
        "recovery": {"torn_bytes": 0, "torn_sha256": None, "torn_base64": None},
    }
    summary = verify_ledger(path)
    assert (summary.entries, summary.segments, summary.recoveries) == (6, 2, 1)


def test_a_torn_last_line_is_moved_into_the_recovery_record(tmp_path: Path) -> None:
    path = _crashed(tmp_path / "l.jsonl")
    torn = lines(path)[-1][:57].encode("utf-8")  # the next line, cut mid-write
    with path.open("ab") as handle:
        handle.write(torn)
    with pytest.raises(LedgerIntegrityError, match="line 4: last line is cut off"):
        verify_ledger(path, require_seal=False)
    with LedgerWriter(path, resume=True) as ledger:
        assert ledger.recovered is not None and ledger.recovered.torn_bytes == len(torn)
        ledger.append(T0, EntryType.ESCALATION, escalation(3))
    (recovery,) = [s.recovery for s in _seals(path) if s.recovery is not None]
    assert recovery.torn_base64 is not None
    assert base64.b64decode(recovery.torn_base64) == torn
    assert recovery.torn_sha256 is not None and len(recovery.torn_sha256) == 64
    assert not any(line.startswith(torn.decode()) for line in lines(path)[3:4])
    assert verify_ledger(path).recoveries == 1


def test_a_torn_first_line_leaves_a_ledger_of_only_the_recovery(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    path.write_bytes(b'{"schema_version":1,"seq":0,"ti')
    with LedgerWriter(path, resume=True):
        pass
    (seal,) = read_entries(path)
    assert seal.payload_as(SealPayload).recovery is not None
    assert verify_ledger(path).entries == 1


@pytest.mark.parametrize("torn", [False, True], ids=["complete", "with-torn-tail"])
def test_a_tampered_ledger_is_refused_and_left_as_it_is(tmp_path: Path, torn: bool) -> None:
    path = _crashed(tmp_path / "l.jsonl")
    text = lines(path)
    record = json.loads(text[1])
    record["payload"]["reason"] = "nothing happened"
    text[1] = json.dumps(record) + "\n"
    path.write_text("".join(text) + ('{"seq": 3' if torn else ""))
    before = path.read_bytes()
    with pytest.raises(LedgerIntegrityError) as refused:
        LedgerWriter(path, resume=True).open()
    assert str(refused.value) == f"{path}: line 2: cannot resume: hash mismatch: the entry was " \
        "modified (a keyed ledger verifies with its key)"  # fmt: skip
    assert path.read_bytes() == before  # never truncated, never sealed


def test_a_removed_line_is_refused_naming_where(tmp_path: Path) -> None:
    path = write(tmp_path / "l.jsonl", 4)
    text = lines(path)
    path.write_text("".join(text[:1] + text[2:]))
    with pytest.raises(LedgerIntegrityError, match=r"l.jsonl: line 2: cannot resume: sequence 2"):
        LedgerWriter(path, resume=True).open()


def test_a_tail_longer_than_any_entry_is_not_truncated(tmp_path: Path) -> None:
    path = write(tmp_path / "l.jsonl", 2)
    with path.open("ab") as handle:
        handle.write(b"x" * (MAX_TORN_BYTES + 1))
    size = path.stat().st_size
    with pytest.raises(LedgerIntegrityError, match="line 4: cannot resume: the last line is cut"):
        LedgerWriter(path, resume=True).open()
    assert path.stat().st_size == size


def test_one_writer_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    with LedgerWriter(path, resume=True), pytest.raises(PermanentError, match="another writer"):
        LedgerWriter(path, resume=True).open()
    with LedgerWriter(path, resume=True):  # the lock went with the first writer
        pass


def test_an_error_in_the_block_still_seals_a_resumed_ledger(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    with pytest.raises(RuntimeError), LedgerWriter(path, resume=True) as ledger:
        ledger.append(T0, EntryType.ESCALATION, escalation(0))
        raise RuntimeError("the loop failed; what it recorded stays true")
    assert verify_ledger(path).counts == {"escalation": 1, "seal": 1}


def _child(script: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_killed_writer_loses_no_appended_entry(tmp_path: Path) -> None:
    """SIGKILL after three appends: all three are on disk, and the next writer resumes."""
    path = tmp_path / "l.jsonl"
    child = _child(f"""
        import sys, time
        from pathlib import Path
        from controller.ledger import LedgerWriter
        from controller.models.ledger import EntryType
        from tests.factories import T0
        ledger = LedgerWriter(Path({str(path)!r}), resume=True)
        ledger.open()
        for i in range(3):
            ledger.append(T0, EntryType.ESCALATION, {{"reason": f"r{{i}}"}})
        print("ready", flush=True)
        time.sleep(60)
    """)
    with child:
        try:
            assert child.stdout is not None and child.stdout.readline() == "ready\n"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
    assert verify_ledger(path, require_seal=False).entries == 3
    with LedgerWriter(path, resume=True) as ledger:
        assert ledger.recovered == Recovery()
    assert verify_ledger(path).counts == {"escalation": 3, "seal": 1}


def test_a_write_cut_off_by_the_disk_is_recovered_on_resume(tmp_path: Path) -> None:
    """A real partial write (the file-size limit stops it mid-line): the failed writer writes
    nothing after it, not even a seal; the next writer removes the torn line into its record."""
    path = write(tmp_path / "l.jsonl", 2)
    limit = path.stat().st_size + 100  # room for part of the next line only
    child = _child(f"""
        import resource, signal
        from pathlib import Path
        from controller.ledger import LedgerWriter
        from controller.models.ledger import EntryType
        from tests.factories import T0
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, resource.RLIM_INFINITY))
        try:
            with LedgerWriter(Path({str(path)!r}), resume=True) as ledger:
                ledger.append(T0, EntryType.ESCALATION, {{"reason": "x" * 500}})
        except OSError as exc:
            print("failed", exc.errno)
    """)
    out, err = child.communicate(timeout=60)
    assert out.startswith("failed"), err
    assert path.stat().st_size == limit  # a torn line, and nothing written after it
    with LedgerWriter(path, resume=True) as ledger:
        assert ledger.recovered is not None and ledger.recovered.torn_bytes > 0
    summary = verify_ledger(path)
    assert (summary.entries, summary.segments, summary.recoveries) == (4, 2, 1)


def test_a_one_shot_writer_replaces_rather_than_resumes(tmp_path: Path) -> None:
    """``resume=False`` (aiops replay) writes a fresh ledger over an older one, atomically."""
    path = write(tmp_path / "l.jsonl", 3)
    write(path, 1)
    entries = read_entries(path)
    assert len(entries) == 2 and entries[0].payload == escalation(0)
    assert isinstance(entries[0], LedgerEntry)


def test_a_line_that_is_not_utf8_is_refused_naming_it(tmp_path: Path) -> None:
    path = write(tmp_path / "l.jsonl", 2)
    text = path.read_bytes().split(b"\n")
    text[1] = text[1].replace(b"reason 1", b"reason \xff")
    path.write_bytes(b"\n".join(text))
    with pytest.raises(LedgerIntegrityError, match="line 2: not UTF-8"):
        verify_ledger(path)
    with pytest.raises(LedgerIntegrityError, match="line 2: cannot resume: not UTF-8"):
        LedgerWriter(path, resume=True).open()


def test_appends_from_two_threads_keep_one_valid_chain(tmp_path: Path) -> None:
    """The loop's tick and the planner thread share the writer (planning off the tick)."""
    path = tmp_path / "threads.jsonl"
    with LedgerWriter(path, resume=True) as writer:

        def append_many(reason: str) -> None:
            for i in range(50):
                writer.append(T0, EntryType.ESCALATION, {"reason": f"{reason} {i}"})

        threads = [threading.Thread(target=append_many, args=(n,)) for n in ("tick", "plan")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    summary = verify_ledger(path)
    assert summary.entries == 101 and summary.sealed  # 100 escalations and the seal
