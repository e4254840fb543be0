"""Where a ledger may be written (controller.outputs): a one-shot ledger is renamed over a
regular file only; a device, a FIFO or stdout gets it written through on close; a directory
or a missing folder is refused on open, before any entry; only a regular file resumes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from controller.errors import InputError
from controller.ledger import LedgerWriter, verify_ledger
from controller.models.ledger import EntryType
from tests.factories import T0
from tests.output_kinds import FifoReader, char_device, is_char_device, is_fifo
from tests.unit.ledger.ledger_helpers import escalation


def _write(path: Path, entries: int = 2) -> None:
    with LedgerWriter(path) as ledger:
        for n in range(entries):
            ledger.append(T0, EntryType.ESCALATION, escalation(n))


def _checked(data: bytes, folder: Path) -> int:
    copy = folder / "copy.jsonl"
    copy.write_bytes(data)
    return verify_ledger(copy).entries


def test_a_device_stays_a_device(tmp_path: Path) -> None:
    device = char_device(tmp_path / "null")
    _write(device)
    assert is_char_device(device)
    assert [p.name for p in tmp_path.iterdir()] in ([], ["null"]), "no temporary file is left"


def test_a_fifo_gets_the_whole_ledger_and_stays_a_fifo(tmp_path: Path) -> None:
    reader = FifoReader(tmp_path / "ledger.fifo")
    _write(reader.path, entries=3)
    assert _checked(reader.data(), tmp_path) == 4
    assert is_fifo(reader.path)


def test_stdout(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    _write(Path("-"))
    assert _checked(capsysbinary.readouterr().out, tmp_path) == 3
    assert not (Path.cwd() / "-").exists()


def test_a_symlink_to_a_file_keeps_the_link_and_replaces_its_target(tmp_path: Path) -> None:
    target, link = tmp_path / "real.jsonl", tmp_path / "link.jsonl"
    target.write_text("old")
    link.symlink_to(target.name)
    _write(link)
    assert link.is_symlink() and os.readlink(link) == target.name
    assert verify_ledger(target).entries == 3


def test_a_failed_run_leaves_a_regular_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    path.write_text("old")
    with pytest.raises(RuntimeError), LedgerWriter(path) as ledger:
        ledger.append(T0, EntryType.ESCALATION, escalation(0))
        raise RuntimeError("the replay broke")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["l.jsonl"]


@pytest.mark.parametrize("kind", ["directory", "symlink to a directory", "missing folder"])
def test_an_unusable_path_is_refused_on_open(tmp_path: Path, kind: str) -> None:
    (tmp_path / "dir").mkdir()
    path = {
        "directory": tmp_path / "dir",
        "symlink to a directory": tmp_path / "link",
        "missing folder": tmp_path / "missing" / "l.jsonl",
    }[kind]
    if kind == "symlink to a directory":
        path.symlink_to("dir")
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(InputError, match="is a directory|is a symlink to a directory|does not"):
        LedgerWriter(path).open()
    assert sorted(os.listdir(tmp_path)) == before, "nothing is created, not even a folder"
    assert os.listdir(tmp_path / "dir") == []


def test_only_a_regular_file_resumes(tmp_path: Path) -> None:
    reader = FifoReader(tmp_path / "ledger.fifo")
    for path in (char_device(tmp_path / "null"), reader.path, Path("-")):
        with pytest.raises(InputError, match="only a regular file can be resumed"):
            LedgerWriter(path, resume=True).open()
    assert reader.data(timeout=0.1) == b""
    assert is_fifo(reader.path)


def test_a_path_that_became_a_fifo_during_the_run_is_written_through(tmp_path: Path) -> None:
    """What the path is gets looked at again on close: never rename over a FIFO."""
    path = tmp_path / "l.jsonl"
    with LedgerWriter(path) as ledger:
        ledger.append(T0, EntryType.ESCALATION, escalation(0))
        reader = FifoReader(path)
    assert _checked(reader.data(), tmp_path) == 2
    assert is_fifo(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.jsonl", "l.jsonl"]
