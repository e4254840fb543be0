"""``aiops replay --planner``: Claude beside the runbook planner (through the real SDK against
a loopback Messages API), recording the exchanges, and replaying them offline."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

from chaos.faults.fake_llm import FakeMessagesApi, SubmitPlan
from tests.cli_runner import aiops as run_aiops
from tests.cli_runner import without_api_key
from tests.conftest import EXAMPLES, REPO

BAD_DEPLOY = EXAMPLES / "bad-deploy.json"
ROLLBACK = {
    "action": {
        "kind": "rollback",
        "target": {"namespace": "shop", "name": "checkout"},
        "from_revision": 8,
        "to_revision": 7,
        "to_image": "registry.example.com/shop/checkout:1.14.2",
    },
    "risk": "medium",
    "rationale": "Errors started with revision 8; revision 7 was healthy.",
    "verification": {
        "signal": "error_ratio",
        "expect": "decrease",
        "min_improvement": 0.5,
        "bake": "5m",
    },
}


def aiops(*args: str | Path, cwd: Path, key: str | None) -> subprocess.CompletedProcess[str]:
    return run_aiops(*args, cwd=cwd, env=without_api_key(key))


def _report(cwd: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((cwd / "r.json").read_text())
    return report


def test_without_a_key_every_incident_falls_back_to_the_runbook_plan(tmp_path: Path) -> None:
    run = aiops(
        "replay",
        BAD_DEPLOY,
        "--planner",
        "llm",
        "-f",
        "json",
        "-o",
        "r.json",
        cwd=tmp_path,
        key=None,
    )
    assert run.returncode == 0, run.stderr
    report = _report(tmp_path)
    assert report["llm"]["fallbacks"] == {"no_key": report["llm"]["calls"]}
    assert report["llm"]["usage"]["input_tokens"] == 0
    assert [a["action"]["kind"] for a in report["actions"]] == ["rollback"]


def test_live_llm_run_is_recorded_and_replays_offline(tmp_path: Path) -> None:
    fake = FakeMessagesApi(default=SubmitPlan(ROLLBACK)).start()
    try:
        config = tmp_path / "aiops.yaml"
        config.write_text(yaml.safe_dump({"llm": {"base_url": fake.base_url}}))
        live = aiops(
            "replay",
            BAD_DEPLOY,
            "--planner",
            "llm",
            "--config",
            config,
            "--record-to",
            "recorded.json",
            "-f",
            "json",
            "-o",
            "r.json",
            cwd=tmp_path,
            key="sk-test-not-a-real-key",
        )
        requests = len(fake.requests)
    finally:
        fake.stop()
    assert live.returncode == 0, live.stderr
    first = _report(tmp_path)
    assert first["llm"]["plans"] == first["llm"]["calls"] >= 1
    assert first["plans"][0]["planner"] == "llm"
    assert requests >= 1
    recorded = json.loads((tmp_path / "recorded.json").read_text())
    assert len(recorded["llm_exchanges"]) == requests
    assert "sk-test-not-a-real-key" not in (tmp_path / "recorded.json").read_text()
    # The fake is gone: the recorded replay must not need a network.
    again = aiops(
        "replay",
        "recorded.json",
        "--planner",
        "recorded",
        "-f",
        "json",
        "-o",
        "r.json",
        "--ledger",
        "again.jsonl",
        cwd=tmp_path,
        key=None,
    )
    assert again.returncode == 0, again.stderr
    second = _report(tmp_path)
    assert [p["action"] for p in second["plans"]] == [p["action"] for p in first["plans"]]
    assert [a["action"] for a in second["actions"]] == [a["action"] for a in first["actions"]]


def test_recorded_planner_without_a_recording_is_an_error(tmp_path: Path) -> None:
    run = aiops(
        "replay", BAD_DEPLOY, "--planner", "recorded", "-o", "r.json", cwd=tmp_path, key=None
    )
    assert run.returncode == 2
    assert "$.llm_exchanges" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "r.json").exists()


RECORDED_EXAMPLE = REPO / "examples" / "recorded" / "bad-deploy-llm.json"


def test_the_bundled_recording_replays_offline_with_the_llm_plan(tmp_path: Path) -> None:
    run = aiops("replay", RECORDED_EXAMPLE, "--planner", "recorded", "-f", "json", "-o", "r.json",
                cwd=tmp_path, key=None)  # fmt: skip
    assert run.returncode == 0, run.stderr
    report = _report(tmp_path)
    assert report["llm"]["plans"] == report["llm"]["calls"] == 1
    assert report["llm"]["fallbacks"] == {}
    assert [p["planner"] for p in report["plans"]] == ["llm"]
    assert [a["action"]["kind"] for a in report["actions"]] == ["rollback"]
    assert report["actions"][0]["plan_hash"] == report["decisions"][0]["plan_hash"]
    assert report["score"]["passed"] is True


def test_record_to_needs_the_llm_planner(tmp_path: Path) -> None:
    for planner in ("runbook", "recorded"):
        run = aiops("replay", BAD_DEPLOY, "--planner", planner, "--record-to", "rec.json",
                    cwd=tmp_path, key=None)  # fmt: skip
        assert run.returncode == 2, run.stderr
        lines = [line for line in run.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in run.stderr
        assert lines[0].startswith("error: --record-to: only a --planner llm run")
        assert f"(this run: --planner {planner})" in lines[0]
        assert list(tmp_path.iterdir()) == [], "nothing may be written"


def test_record_to_without_any_exchange_writes_nothing_and_warns(tmp_path: Path) -> None:
    run = aiops("replay", BAD_DEPLOY, "--planner", "llm", "--record-to", "rec.json",
                "-f", "json", "-o", "r.json", cwd=tmp_path, key=None)  # fmt: skip
    assert run.returncode == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if "--record-to" in line]
    assert warnings == [
        "warning: --record-to rec.json: not written: this run made no LLM exchanges (every "
        "LLM call fell back before a request: no_key 1)"
    ]
    assert not (tmp_path / "rec.json").exists()
    assert (tmp_path / "r.json").exists()
