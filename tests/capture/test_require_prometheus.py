"""Without the Prometheus binaries the capture tier skips locally but fails where it must run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.capture.recorded_prometheus import REQUIRE, require_binary


@pytest.fixture
def empty_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH holding nothing: no prometheus, no promtool."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(REQUIRE, raising=False)
    return tmp_path


@pytest.mark.parametrize("value", [None, "", "0"])
def test_missing_binary_skips_locally(
    empty_path: Path, monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is not None:
        monkeypatch.setenv(REQUIRE, value)
    with pytest.raises(pytest.skip.Exception, match="prometheus is not installed"):
        require_binary("prometheus")


def test_missing_binary_fails_when_required(
    empty_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(REQUIRE, "1")
    with pytest.raises(pytest.fail.Exception) as failed:
        require_binary("promtool")
    assert str(failed.value) == (
        "promtool is not installed (scripts/test.sh installs it); "
        "AIOPS_REQUIRE_PROMETHEUS is set, so the Prometheus tier must run"
    )


def test_an_installed_binary_is_found_either_way(
    empty_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = empty_path / "prometheus"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setenv(REQUIRE, "1")
    assert require_binary("prometheus") == str(binary)
