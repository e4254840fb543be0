"""The CLI: user mistakes give one line and exit 2, never a traceback or a partial file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_runner import aiops
from tests.conftest import EXAMPLES, REPO

BAD_DEPLOY = EXAMPLES / "bad-deploy.json"


def _assert_clean_error(run: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, run.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def tmp_cwd(tmp_path: Path) -> Path:
    return tmp_path


def test_replay_writes_report_and_a_verifiable_ledger(tmp_cwd: Path) -> None:
    run = aiops("replay", BAD_DEPLOY, "--format", "json", "-o", "report.json", cwd=tmp_cwd)
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_cwd / "report.json").read_text())
    assert report["score"]["passed"] is True
    ledger = tmp_cwd / "bad-deploy.ledger.jsonl"
    verify = aiops("ledger", "verify", ledger, cwd=tmp_cwd)
    assert verify.returncode == 0, verify.stderr
    assert "ok" in verify.stdout and "sealed" in verify.stdout


def test_replay_writes_the_metrics_it_would_have_exported(tmp_cwd: Path) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    run = aiops("replay", BAD_DEPLOY, "--metrics", "m.prom", "-f", "json", "-o", "r.json",
                cwd=tmp_cwd)  # fmt: skip
    assert run.returncode == 0, run.stderr
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families((tmp_cwd / "m.prom").read_text())
        for s in family.samples
    }
    report = json.loads((tmp_cwd / "r.json").read_text())
    applied = (("kind", "rollback"), ("status", "applied"))
    assert samples[("aiops_actions_total", applied)] == len(report["actions"]) == 1
    assert samples[("aiops_approvals_total", (("outcome", "approved"),))] == 1
    assert samples[("aiops_plans_total", (("planner", "runbook"),))] == len(report["plans"])


def test_text_report_on_stdout(tmp_cwd: Path) -> None:
    run = aiops("replay", BAD_DEPLOY, "--ledger", tmp_cwd / "l.jsonl", cwd=tmp_cwd)
    assert run.returncode == 0, run.stderr
    assert "rollback shop/checkout" in run.stdout
    assert "Verdict: PASS" in run.stdout


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        (None, ["missing.json", "no such file"]),
        ("{not json", ["line 1 column 2", "invalid JSON"]),
        (
            '{"apiVersion": "aiops.dev/v9", "kind": "Incident"}',
            ["$.apiVersion", "unknown apiVersion"],
        ),
        (
            '{"apiVersion": "aiops.dev/v1alpha1", "kind": "Incident", "metadata": {"name": "x"},'
            ' "window": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T01:00:00Z",'
            ' "step": "30s"}, "workloads": [{"ref": {"namespace": "Shop!", "name": "a"},'
            ' "replicas": {"desired": 1, "ready": 1, "available": 1, "updated": 1}}]}',
            ["$.workloads[0].ref.namespace", "pattern"],
        ),
    ],
    ids=["missing", "bad-json", "api-version", "schema"],
)
def test_bad_incident_files(tmp_cwd: Path, content: str | None, fragments: list[str]) -> None:
    path = tmp_cwd / "missing.json" if content is None else tmp_cwd / "incident.json"
    if content is not None:
        path.write_text(content)
    run = aiops("replay", path, "-o", "out.html", "--format", "html", cwd=tmp_cwd)
    _assert_clean_error(run, *fragments)
    assert sorted(p.name for p in tmp_cwd.iterdir()) == sorted(
        [] if content is None else ["incident.json"]
    ), "no partial report or ledger may be left behind"


def test_bad_policy_stops_the_replay(tmp_cwd: Path) -> None:
    policy = tmp_cwd / "policy.yaml"
    default = (REPO / "policies" / "default.yaml").read_text()
    assert "allowed: [scale," in default
    policy.write_text(default.replace("allowed: [scale,", "allowed: [delete, scale,"))
    run = aiops(
        "replay", BAD_DEPLOY, "--policy", policy, "-o", "r.md", "-f", "markdown", cwd=tmp_cwd
    )
    _assert_clean_error(run, "policy.yaml", "spec.actions.allowed")
    assert sorted(p.name for p in tmp_cwd.iterdir()) == ["policy.yaml"]


def test_bad_runbook_stops_the_replay(tmp_cwd: Path) -> None:
    folder = tmp_cwd / "runbooks"
    folder.mkdir()
    (folder / "broken.md").write_text("no front matter here\n")
    run = aiops("replay", BAD_DEPLOY, "--runbooks", folder, cwd=tmp_cwd)
    _assert_clean_error(run, "broken.md")


def test_policy_check(tmp_cwd: Path) -> None:
    ok = aiops("policy", "check", REPO / "policies" / "default.yaml", cwd=tmp_cwd)
    assert ok.returncode == 0 and "ok" in ok.stdout
    bad = tmp_cwd / "bad.yaml"
    default = (REPO / "policies" / "default.yaml").read_text()
    assert "allow: []" in default
    bad.write_text(default.replace("allow: []", "allow: ['*']"))
    _assert_clean_error(aiops("policy", "check", bad, cwd=tmp_cwd), "bad.yaml", "namespaces")


def test_runbooks_check_lists_the_bundled_runbooks(tmp_cwd: Path) -> None:
    run = aiops("runbooks", "check", cwd=tmp_cwd)
    assert run.returncode == 0, run.stderr
    assert "bad-deploy-rollback: ok" in run.stdout


def test_ledger_verify_reports_tampering(tmp_cwd: Path) -> None:
    assert aiops("replay", BAD_DEPLOY, "-f", "json", "-o", "r.json", cwd=tmp_cwd).returncode == 0
    ledger = tmp_cwd / "bad-deploy.ledger.jsonl"
    lines = ledger.read_text().splitlines(keepends=True)
    ledger.write_text("".join(lines[:3] + lines[4:]))
    run = aiops("ledger", "verify", ledger, cwd=tmp_cwd)
    assert run.returncode == 1
    assert "ledger broken" in run.stderr and "line 4" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("name", ["incident", "policy", "runbook", "replay-result", "settings"])
def test_schema_command_prints_json_schema(tmp_cwd: Path, name: str) -> None:
    run = aiops("schema", name, cwd=tmp_cwd)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["type"] == "object"


def test_schema_command_matches_committed_incident_schema(tmp_cwd: Path) -> None:
    run = aiops("schema", "incident", cwd=tmp_cwd)
    assert json.loads(run.stdout) == json.loads(
        (REPO / "docs" / "incident.schema.json").read_text()
    )


def test_unknown_approvals_mode_is_a_usage_error(tmp_cwd: Path) -> None:
    run = aiops("replay", BAD_DEPLOY, "--approvals", "maybe", cwd=tmp_cwd)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert "maybe" in run.stderr


def _interactive(tmp_cwd: Path, answers: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "controller",
            "replay",
            str(BAD_DEPLOY),
            "--approvals",
            "interactive",
            "-f",
            "json",
            "-o",
            "r.json",
        ],
        cwd=tmp_cwd,
        input=answers,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_interactive_approval_at_the_console(tmp_cwd: Path) -> None:
    run = _interactive(tmp_cwd, "d\ny\n")
    assert run.returncode == 0, run.stderr
    assert "Approval requested" in run.stderr and "rollback shop/checkout" in run.stderr
    report = json.loads((tmp_cwd / "r.json").read_text())
    assert [a["approver"] for a in report["approvals"]][0].startswith("console:")
    assert [a["status"] for a in report["actions"]] == ["applied"]


def test_interactive_without_an_answer_rejects(tmp_cwd: Path) -> None:
    run = _interactive(tmp_cwd, "")  # EOF, as with no terminal
    assert run.returncode == 1, run.stderr  # nothing rolled back: the score fails
    report = json.loads((tmp_cwd / "r.json").read_text())
    assert [a["outcome"] for a in report["approvals"]] == ["rejected"]
    assert report["actions"] == []


def test_a_failed_score_exits_1_after_writing_everything(tmp_cwd: Path) -> None:
    run = aiops("replay", BAD_DEPLOY, "--approvals", "deny", "-f", "json", "-o", "r.json",
                cwd=tmp_cwd)  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert run.stderr.splitlines()[-1] == ("score: FAIL (failed: action acceptable); exit status 1")
    report = json.loads((tmp_cwd / "r.json").read_text())
    assert report["score"]["passed"] is False and report["actions"] == []
    ledger = tmp_cwd / "bad-deploy.ledger.jsonl"
    assert aiops("ledger", "verify", ledger, cwd=tmp_cwd).returncode == 0


def test_replay_help_documents_the_exit_statuses(tmp_cwd: Path) -> None:
    run = aiops("replay", "--help", cwd=tmp_cwd)
    assert run.returncode == 0, run.stderr
    text = " ".join(run.stdout.split())
    assert "1 when it is scored and the verdict is FAIL" in text
    assert "2 on bad input" in text


def test_a_shadow_policy_is_scored_as_dry_run_only(tmp_cwd: Path) -> None:
    shadow = REPO / "policies" / "examples" / "shadow.yaml"
    run = aiops("replay", BAD_DEPLOY, "--policy", shadow, "-f", "json", "-o", "r.json",
                cwd=tmp_cwd)  # fmt: skip
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_cwd / "r.json").read_text())
    assert [a["status"] for a in report["actions"]] == ["dry_run"]
    score = report["score"]
    assert score["dry_run_only"] is True and score["forbidden_action_taken"] is False
    checks = {c["name"]: c for c in score["checks"]}
    assert checks["action acceptable (dry run only)"]["passed"] is True
    assert (
        "nothing took effect; 1 dry-run action (rollback)"
        in (checks["action acceptable (dry run only)"]["detail"])
    )
    assert "action acceptable" not in checks


@pytest.mark.parametrize("readme", [False, True], ids=["empty", "only-readme"])
def test_runbooks_check_of_a_folder_without_runbooks_is_an_error(
    tmp_cwd: Path, readme: bool
) -> None:
    folder = tmp_cwd / "books"
    folder.mkdir()
    if readme:
        (folder / "README.md").write_text("# Runbooks\n")
    run = aiops("runbooks", "check", folder, cwd=tmp_cwd)
    _assert_clean_error(run, "books", "no runbooks found")
    assert run.stdout == ""


def test_piped_text_report_keeps_tokens_and_the_utc_column(tmp_cwd: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"COLUMNS", "LINES"}}
    run = aiops("replay", EXAMPLES / "crashloop-after-rollout.json", cwd=tmp_cwd, env=env)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    header = next(line for line in lines if "what happened" in line)
    column = header.index("what happened")
    assert header.split()[:2] == ["time", "UTC"]  # a pipe is 80 columns: the clock stays
    assert any(line.split()[:2] == ["+1m30s", "10:06:30"] for line in lines)
    image = "(registry.example.com/shop/payments:2.2.1)"
    assert any(line[column:] == image for line in lines)  # whole, on a line of its own
    rows = [line for line in lines if len(line) > 80]
    assert all(" " not in line[column:] for line in rows), rows  # only whole tokens overflow
    words = {word.strip("():,;") for word in run.stdout.split()}
    for token in ("shop.payments.20260310T100630Z", "10:06:30Z", "bob@example.com", "0.85"):
        assert token in words, token
