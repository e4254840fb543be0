"""``aiops eval`` as a user runs it: exit statuses, one-line mistakes, formats, skipped files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.cli_runner import aiops
from tests.conftest import EXAMPLES

BAD_DEPLOY = EXAMPLES / "bad-deploy.json"


def _one_line_error(stderr: str, text: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and text in lines[0], stderr
    assert "Traceback" not in stderr


def test_an_unknown_metric_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = aiops("eval", BAD_DEPLOY, "--fail-under", "top_one=0.5", cwd=tmp_path)
    assert done.returncode == 2
    _one_line_error(done.stderr, "unknown metric 'top_one'")
    assert done.stdout == ""


def test_a_missing_folder_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = aiops("eval", tmp_path / "nowhere", cwd=tmp_path)
    assert done.returncode == 2
    _one_line_error(done.stderr, "no such file or folder")


def test_a_folder_without_scorable_files_says_what_it_skipped(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("[]")
    done = aiops("eval", tmp_path, cwd=tmp_path)
    assert done.returncode == 2
    assert "skipped:" in done.stderr and "must be a JSON object" in done.stderr
    assert "no incident file with ground truth could be scored" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_failed_gate_exits_1_after_printing_the_report(tmp_path: Path) -> None:
    folder = tmp_path / "incidents"
    folder.mkdir()
    shutil.copy(BAD_DEPLOY, folder)
    (folder / "notes.json").write_text("{}")  # skipped, listed, not fatal
    done = aiops("eval", folder, "-f", "json", "--fail-under", "top1=1.5", "-j", "1", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["summary"]["top1"] == 1.0 and report["summary"]["skipped"] == 1
    assert report["gate_failures"] == ["top1 = 1, below the floor 1.5"]
    assert "notes.json" in report["skipped"][0]["path"]
    assert "gate failed: top1" in done.stderr
    assert "replaying" not in done.stderr  # no progress bar when stderr is not a terminal


def test_markdown_shows_the_baseline_ratio_and_passing_gates_exit_0(tmp_path: Path) -> None:
    done = aiops("eval", BAD_DEPLOY, "-f", "markdown", "--fail-under", "forbidden_rate=0",
                 "--fail-under", "detection_rate=1", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "| detection_rate | 100.0% |" in done.stdout
    assert "- top1: controller 100.0% vs baseline" in done.stdout
    assert "| metric | bad_deploy |" in done.stdout
