"""Every output flag follows one rule (docs/output-files.md): a regular or new file is written
all or nothing; a device, a FIFO or ``-`` is written through and never renamed over; a
directory, a symlink to one or a missing folder is refused with one line before any work.

Flags: ``aiops replay -o``, ``--ledger``, ``--metrics``, ``--record-to`` and ``aiops capture
-o``. Device tests use a null device node in the test's folder (tests/output_kinds.py).
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from chaos.faults.fake_llm import FakeMessagesApi, Text
from controller.cli.common import write_output
from controller.errors import InputError
from controller.incident_loader import load_incident
from controller.ledger import verify_ledger
from controller.outputs import OutputKind, classify_output
from tests.capture.recorded_prometheus import override_queries, recent, serving
from tests.cli_runner import aiops, without_api_key
from tests.conftest import EXAMPLES
from tests.output_kinds import FifoReader, char_device, is_char_device, is_fifo

BAD_DEPLOY = EXAMPLES / "bad-deploy.json"
REPLAY = ("replay", BAD_DEPLOY, "-f", "json")


def _one_error_line(run: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, run.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _report(data: str | bytes) -> dict[str, object]:
    report: dict[str, object] = json.loads(data)
    assert "score" in report
    return report


def _ledger_entries(data: bytes, folder: Path) -> int:
    copy = folder / "ledger-copy.jsonl"
    copy.write_bytes(data)
    return verify_ledger(copy).entries


def _has_metrics(data: bytes) -> bool:
    return b"aiops_actions_total" in data


# -- the classification itself ------------------------------------------------------------


PLAIN = {
    "regular file": "file",
    "new file": "new",
    "directory": "dir",
    "missing folder": "missing/x",
}
LINKS = {
    "symlink to a file": "file",
    "symlink to a directory": "dir",
    "symlink to nothing": "file2",
}


def _make(kind: str, folder: Path) -> Path:
    """A path of ``kind`` in ``folder`` (beside a directory ``dir`` and a file ``file``)."""
    (folder / "dir").mkdir()
    (folder / "file").write_text("old")
    if kind in PLAIN:
        return folder / PLAIN[kind]
    path = folder / "out"
    if kind in LINKS:
        path.symlink_to(LINKS[kind])
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(str(path))
    else:
        assert kind == "block device"
        os.mknod(path, stat.S_IFBLK | 0o600, os.makedev(7, 250))
    return path


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("regular file", OutputKind.FILE),
        ("new file", OutputKind.FILE),
        ("symlink to a file", OutputKind.FILE),
        ("symlink to nothing", OutputKind.FILE),
        ("fifo", OutputKind.STREAM),
    ],
)
def test_usable_paths(tmp_path: Path, kind: str, expected: OutputKind) -> None:
    target = classify_output(_make(kind, tmp_path), flag="-o")
    assert target.kind is expected
    if kind.startswith("symlink"):  # written at the link's target: the link stays
        assert target.path == (tmp_path / LINKS[kind]).resolve()


def test_a_character_device_and_stdout_are_written_through(tmp_path: Path) -> None:
    assert classify_output(char_device(tmp_path / "null")).kind is OutputKind.STREAM
    for name in ("-", "/dev/stdout"):  # even when the shell sent stdout to a file: no rename
        assert classify_output(Path(name)).kind is OutputKind.STDOUT


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("directory", "-o: {path}: is a directory"),
        ("symlink to a directory", "-o: {path}: is a symlink to a directory"),
        ("missing folder", "-o: {path}: directory {folder}/missing does not exist"),
        ("socket", "-o: {path}: is a socket"),
        ("block device", "-o: {path}: is a block device"),
    ],
)
def test_unusable_paths_are_one_line_naming_flag_path_and_reason(
    tmp_path: Path, kind: str, reason: str
) -> None:
    if kind == "block device" and os.geteuid() != 0:
        pytest.skip("making a block device node needs root")
    path = _make(kind, tmp_path)
    with pytest.raises(InputError) as caught:
        classify_output(path, flag="-o")
    assert caught.value.one_line().startswith(reason.format(path=path, folder=tmp_path))


def test_a_failed_write_keeps_the_old_content_and_leaves_no_temporary_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "report.json"
    path.write_text("old")
    with pytest.raises(UnicodeEncodeError):
        write_output(path, "half a report \ud800 and the rest", flag="-o")  # fails mid-write
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["report.json"]


# -- aiops replay ---------------------------------------------------------------------------


def test_devices_stay_devices(tmp_path: Path) -> None:
    report, ledger, metrics = (char_device(tmp_path / n) for n in ("r", "l", "m"))
    run = aiops(*REPLAY, "-o", report, "--ledger", ledger, "--metrics", metrics, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    for device in (report, ledger, metrics):
        assert is_char_device(device), f"{device} was replaced"


def test_fifos_get_each_output_whole_and_stay_fifos(tmp_path: Path) -> None:
    report, ledger, metrics = (FifoReader(tmp_path / f"{n}.fifo") for n in ("r", "l", "m"))
    run = aiops(*REPLAY, "-o", report.path, "--ledger", ledger.path, "--metrics", metrics.path,
                cwd=tmp_path)  # fmt: skip
    assert run.returncode == 0, run.stderr
    _report(report.data())
    assert _ledger_entries(ledger.data(), tmp_path) > 1
    assert _has_metrics(metrics.data())
    for reader in (report, ledger, metrics):
        assert is_fifo(reader.path), f"{reader.path} was replaced"


def test_symlinks_to_files_keep_the_link_and_replace_the_target(tmp_path: Path) -> None:
    for name in ("r.json", "l.jsonl", "m.prom"):
        (tmp_path / name).write_text("old")
        (tmp_path / f"link-{name}").symlink_to(name)
    run = aiops(*REPLAY, "-o", "link-r.json", "--ledger", "link-l.jsonl", "--metrics",
                "link-m.prom", cwd=tmp_path)  # fmt: skip
    assert run.returncode == 0, run.stderr
    for name in ("r.json", "l.jsonl", "m.prom"):
        assert os.readlink(tmp_path / f"link-{name}") == name
    _report((tmp_path / "r.json").read_text())
    assert verify_ledger(tmp_path / "l.jsonl").entries > 1
    assert _has_metrics((tmp_path / "m.prom").read_bytes())


def test_regular_files_are_replaced_whole_or_left_as_they_were(tmp_path: Path) -> None:
    names = ("r.json", "l.jsonl", "m.prom")
    for name in names:
        (tmp_path / name).write_text("old")
    flags = ("-o", "r.json", "--ledger", "l.jsonl", "--metrics", "m.prom")
    broken = aiops(*REPLAY, *flags, "--policy", "missing-policy.yaml", cwd=tmp_path)
    _one_error_line(broken, "missing-policy.yaml")
    assert all((tmp_path / name).read_text() == "old" for name in names)
    run = aiops(*REPLAY, *flags, "--record-to", "new/x.json", "--planner", "llm", cwd=tmp_path)
    _one_error_line(run, "--record-to: new/x.json: directory new does not exist")
    run = aiops(*REPLAY, *flags, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    _report((tmp_path / "r.json").read_text())
    assert verify_ledger(tmp_path / "l.jsonl").entries > 1
    assert sorted(os.listdir(tmp_path)) == sorted(names), "no temporary file is left"


REFUSED = {
    "directory": "is a directory",
    "symlink to a directory": "is a symlink to a directory",
    "missing folder": "does not exist; create it first",
}


@pytest.mark.parametrize("flag", ["-o", "--ledger", "--metrics", "--record-to"])
@pytest.mark.parametrize("kind", ["directory", "symlink to a directory", "missing folder"])
def test_unusable_outputs_are_refused_before_any_work(tmp_path: Path, flag: str, kind: str) -> None:
    path = _make(kind, tmp_path)
    before = sorted(os.listdir(tmp_path))
    run = aiops(*REPLAY, "--planner", "llm", flag, path, cwd=tmp_path, env=without_api_key())
    _one_error_line(run, f"{flag}: {path}: ", REFUSED[kind])
    assert sorted(os.listdir(tmp_path)) == before, "no ledger, no folder: nothing was done"
    assert os.listdir(tmp_path / "dir") == []


@pytest.mark.parametrize("flag", ["-o", "--ledger", "--metrics"])
def test_dash_is_stdout(tmp_path: Path, flag: str) -> None:
    files = {"-o": "r.json", "--ledger": "l.jsonl", "--metrics": "m.prom"}
    others = [arg for other, name in files.items() if other != flag for arg in (other, name)]
    run = aiops(*REPLAY, flag, "-", *others, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    if flag == "-o":
        _report(run.stdout)
    elif flag == "--ledger":
        assert _ledger_entries(run.stdout.encode(), tmp_path) > 1
    else:
        assert _has_metrics(run.stdout.encode())
    assert not (tmp_path / "-").exists()


def test_only_one_output_may_go_to_stdout(tmp_path: Path) -> None:
    run = aiops(*REPLAY, "--ledger", "-", cwd=tmp_path)  # the report is on stdout already
    _one_error_line(run, "--ledger: -: standard output already carries the report")
    assert os.listdir(tmp_path) == []


@pytest.fixture
def fake_llm(tmp_path: Path) -> Iterator[Path]:
    """Settings pointing the LLM planner at a loopback Messages API (so exchanges exist)."""
    fake = FakeMessagesApi(default=Text("No plan from me.")).start()
    try:
        config = tmp_path / "aiops.yaml"
        config.write_text(yaml.safe_dump({"llm": {"base_url": fake.base_url}}))
        yield config
    finally:
        fake.stop()


class StreamTarget:
    """An output path of ``kind`` (device, FIFO, symlink to a file, ``-``) and what it got."""

    KINDS = ("device", "fifo", "symlink to a file", "stdout")

    def __init__(self, kind: str, folder: Path) -> None:
        self.kind, self.folder = kind, folder
        self.reader = FifoReader(folder / "out.fifo") if kind == "fifo" else None
        if kind == "symlink to a file":
            (folder / "out.json").write_text("old")
            (folder / "link.json").symlink_to("out.json")
        self.path = self._path(kind, folder)

    @staticmethod
    def _path(kind: str, folder: Path) -> Path:
        if kind == "device":
            return char_device(folder / "null")
        if kind == "stdout":
            return Path("-")
        return folder / ("out.fifo" if kind == "fifo" else "link.json")

    def written(self, run: subprocess.CompletedProcess[str]) -> str | bytes | None:
        """What arrived (None for a device), once each kind is checked to be intact."""
        assert run.returncode == 0, run.stderr
        assert not (self.folder / "-").exists()
        if self.kind == "device":
            assert is_char_device(self.path), f"{self.path} was replaced"
            return None
        if self.reader is not None:
            data = self.reader.data()
            assert is_fifo(self.path), f"{self.path} was replaced"
            return data
        if self.kind == "stdout":
            return run.stdout
        assert os.readlink(self.path) == "out.json", "the link stays a link"
        return (self.folder / "out.json").read_text()


@pytest.mark.parametrize("kind", StreamTarget.KINDS)
def test_record_to(tmp_path: Path, fake_llm: Path, kind: str) -> None:
    out = StreamTarget(kind, tmp_path)
    env = without_api_key("sk-test-not-a-real-key")
    run = aiops(*REPLAY, "--planner", "llm", "--config", fake_llm, "--record-to", out.path,
                "-o", "r.json", cwd=tmp_path, env=env)  # fmt: skip
    data = out.written(run)
    if data is not None:
        assert json.loads(data)["llm_exchanges"], "the recorded exchanges were written"


# -- aiops capture -o -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["directory", "symlink to a directory", "missing folder"])
def test_capture_refuses_before_asking_any_backend(tmp_path: Path, kind: str) -> None:
    path = _make(kind, tmp_path)
    run = aiops("capture", "--prometheus", "http://127.0.0.1:9", "--namespace", "shop",
                "--from", "now-1h", "-o", path, cwd=tmp_path)  # fmt: skip
    _one_error_line(run, f"-o: {path}: ")  # exit 2, not 3: Prometheus was never asked
    assert os.listdir(tmp_path / "dir") == []


@pytest.fixture(scope="module")
def prometheus_with_an_incident(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, tuple[str, str]]]:
    incident = recent(load_incident(EXAMPLES / "memory-leak.json"), datetime.now(UTC))
    with serving(incident, tmp_path_factory.mktemp("prometheus")) as server:
        yield server.url, (incident.window.start.isoformat(), incident.window.end.isoformat())


@pytest.mark.parametrize("kind", StreamTarget.KINDS)
def test_capture_output(
    tmp_path: Path, prometheus_with_an_incident: tuple[str, tuple[str, str]], kind: str
) -> None:
    url, (start, end) = prometheus_with_an_incident
    config = tmp_path / "aiops.yaml"
    config.write_text(yaml.safe_dump({"prometheus": {"queries": override_queries()}}))
    out = StreamTarget(kind, tmp_path)
    run = aiops("capture", "--prometheus", url, "--namespace", "shop", "--from", start, "--to",
                end, "--config", config, "-o", out.path, cwd=tmp_path)  # fmt: skip
    data = out.written(run)
    if data is not None:
        assert json.loads(data)["kind"] == "Incident"
