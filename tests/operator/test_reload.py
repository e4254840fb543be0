"""Hot reload of mounted files: ConfigMap-style symlink swaps, bad edits keep the last good."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from controller.bundled import default_policy, default_runbooks
from controller.errors import PolicyError
from controller.guardrails.policy import PolicyMode
from controller.operator.modes import OperatorMode
from controller.operator.reload import (
    LiveSequence,
    Reloader,
    Watched,
    file_fingerprint,
    folder_fingerprint,
)
from controller.operator.wiring import load_runbook_folder, policy_loader
from tests.operator.volume import ConfigMapVolume

GOOD = default_policy().read_text(encoding="utf-8")


class Notes:
    def __init__(self) -> None:
        self.failures: list[tuple[str, str]] = []
        self.reloads: list[str] = []

    def failed(self, kind: str, reason: str) -> None:
        self.failures.append((kind, reason))

    def reloaded(self, kind: str) -> None:
        self.reloads.append(kind)


def watch_policy(path: Path, notes: Notes, mode: OperatorMode = OperatorMode.AUTO) -> Watched[Any]:
    return Watched(
        "policy", path, policy_loader(mode), on_reload=notes.reloaded, on_failure=notes.failed
    )


def test_a_configmap_swap_is_seen_and_loaded(tmp_path: Path) -> None:
    volume = ConfigMapVolume(tmp_path)
    volume.publish({"policy.yaml": GOOD})
    notes = Notes()
    watched = watch_policy(tmp_path / "policy.yaml", notes)
    assert watched.poll() is False  # nothing changed yet
    volume.publish({"policy.yaml": GOOD.replace("name: default", "name: edited")})
    assert watched.poll() is True
    assert watched.current.name == "edited"
    assert notes.reloads == ["policy"] and notes.failures == []


def test_a_bad_edit_keeps_the_last_good_version_and_is_reported_once(tmp_path: Path) -> None:
    volume = ConfigMapVolume(tmp_path)
    volume.publish({"policy.yaml": GOOD})
    notes = Notes()
    watched = watch_policy(tmp_path / "policy.yaml", notes)
    good_hash = watched.current.hash
    volume.publish({"policy.yaml": GOOD.replace("mode: enforce", "mode: sometimes")})
    assert watched.poll() is False
    assert watched.current.hash == good_hash
    assert watched.failed is not None and "mode" in watched.failed
    assert watched.poll() is False  # the same bad version is not reported again
    assert [kind for kind, _ in notes.failures] == ["policy"]
    volume.publish({"policy.yaml": GOOD.replace("name: default", "name: fixed")})
    assert watched.poll() is True
    assert watched.current.name == "fixed" and watched.failed is None


def test_an_edit_in_place_and_a_deleted_file_are_changes_too(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(GOOD, encoding="utf-8")
    notes = Notes()
    watched = watch_policy(path, notes)
    path.unlink()
    assert watched.poll() is False
    assert notes.failures and notes.failures[0][0] == "policy"
    path.write_text(GOOD.replace("name: default", "name: back"), encoding="utf-8")
    assert watched.poll() is True and watched.current.name == "back"


def test_a_bad_file_at_start_up_raises(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("kind: Nope\n", encoding="utf-8")
    with pytest.raises(PolicyError):
        watch_policy(path, Notes())


def test_the_mode_survives_every_reload(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(GOOD, encoding="utf-8")
    watched = watch_policy(path, Notes(), OperatorMode.SHADOW)
    assert watched.current.policy.spec.mode is PolicyMode.DRY_RUN
    os.utime(path, ns=(1, 1))
    assert watched.poll() is True
    assert watched.current.policy.spec.mode is PolicyMode.DRY_RUN


def test_runbook_folders_reload_and_an_emptied_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    books = [p for p in sorted(default_runbooks().glob("*.md")) if p.name != "README.md"]
    for source in books[:2]:
        (folder / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    notes = Notes()
    watched = Watched(
        "runbooks", folder, load_runbook_folder, fingerprint=folder_fingerprint,
        on_reload=notes.reloaded, on_failure=notes.failed,
    )  # fmt: skip
    assert len(watched.current) == 2
    first = sorted(folder.glob("*.md"))[0]
    first.unlink()
    assert watched.poll() is True and len(watched.current) == 1
    for path in folder.glob("*.md"):
        path.unlink()
    assert watched.poll() is False
    assert len(watched.current) == 1  # the last good set stays
    assert notes.failures[0][0] == "runbooks"


def test_the_reloader_polls_at_most_once_per_interval(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(GOOD, encoding="utf-8")
    now = [0.0]
    watched = watch_policy(path, Notes())
    reloader = Reloader([watched], every=5.0, monotonic=lambda: now[0])
    assert reloader.poll() == []
    path.write_text(GOOD.replace("name: default", "name: later"), encoding="utf-8")
    now[0] = 4.0
    assert reloader.poll() == []  # not due yet
    now[0] = 5.0
    assert reloader.poll() == ["policy"]


def test_fingerprints_follow_symlinks_and_notice_missing_files(tmp_path: Path) -> None:
    real = tmp_path / "a.yaml"
    real.write_text("x", encoding="utf-8")
    link = tmp_path / "link.yaml"
    link.symlink_to(real)
    assert file_fingerprint(link) == file_fingerprint(real)
    assert file_fingerprint(tmp_path / "missing")[0] == "missing"
    assert folder_fingerprint(tmp_path / "nope")[0] == "missing"


def test_live_sequence_shows_the_current_value() -> None:
    value: list[tuple[int, ...]] = [(1, 2, 3)]
    view = LiveSequence(lambda: value[0])
    assert list(view) == [1, 2, 3] and view[0] == 1 and len(view) == 3
    value[0] = (4,)
    assert list(view) == [4] and view[-1] == 4
