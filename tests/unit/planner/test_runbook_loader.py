"""Runbook loader: the shipped runbooks load, and every kind of bad file is rejected precisely."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from controller.errors import RunbookError
from controller.models.actions import Risk
from controller.models.incident import FaultKind
from controller.models.signals import Signal
from controller.planner.runbook.catalog import (
    MAX_RUNBOOK_BYTES,
    Runbook,
    RunbookFrontMatter,
    ScaleTemplate,
    load_runbook,
    load_runbooks,
    parse_runbook,
    runbook_json_schema,
    split_front_matter,
)

SHIPPED_IDS = {
    "bad-deploy-rollback",
    "crash-loop-after-rollout-rollback",
    "crash-loop-escalate",
    "latency-regression-escalate",
    "memory-leak-restart",
    "over-provisioning-scale-in",
    "saturation-scale-out",
    "stuck-rollout-pause",
}
SECTIONS = (
    "What the signal means",
    "Confirm by hand",
    "Action",
    "Risk",
    "Verify",
    "When NOT to use",
    "Undo",
)
BODY = "# A runbook\n\nProse for the on-call human.\n"


def front_matter(**changes: Any) -> dict[str, Any]:
    """A valid front-matter mapping; keyword arguments replace (None: remove) top-level keys."""
    data: dict[str, Any] = {
        "id": "scale-it",
        "title": "Scale it",
        "version": 1,
        "matches": {"faults": ["saturation"], "findings": ["cpu_saturation"]},
        "priority": 5,
        "action": {"kind": "scale", "direction": "out", "factor": 1.5},
        "risk": "low",
        "verification": {"signal": "cpu_saturation", "expect": "decrease", "bake": "5m"},
        "signals": ["cpu_saturation", "latency_p99"],
    }
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    return data


def runbook_text(data: dict[str, Any], body: str = BODY) -> str:
    """Render a runbook file from a front-matter mapping and a body."""
    return f"---\n{yaml.safe_dump(data, sort_keys=False)}---\n{body}"


# --- the shipped runbooks -------------------------------------------------------------------


def test_shipped_runbooks_load_sorted_by_id(shipped_runbooks: tuple[Runbook, ...]) -> None:
    ids = [r.id for r in shipped_runbooks]
    assert set(ids) == SHIPPED_IDS
    assert ids == sorted(ids)
    assert all(Path(r.source).name == f"{r.id}.md" for r in shipped_runbooks)


@pytest.mark.parametrize("section", SECTIONS)
def test_shipped_runbooks_have_every_section(
    shipped_runbooks: tuple[Runbook, ...], section: str
) -> None:
    missing = [r.id for r in shipped_runbooks if f"\n## {section}\n" not in r.body]
    assert missing == []


def test_readme_indexes_every_shipped_runbook(
    runbook_dir: Path, shipped_runbooks: tuple[Runbook, ...]
) -> None:
    readme = (runbook_dir / "README.md").read_text(encoding="utf-8")
    indexed = set(re.findall(r"^\| \[([a-z0-9-]+)\]\(\1\.md\) \|", readme, flags=re.MULTILINE))
    assert indexed == {r.id for r in shipped_runbooks}


def test_shipped_front_matter_validates_against_the_json_schema(runbook_dir: Path) -> None:
    schema = runbook_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    paths = sorted(p for p in runbook_dir.glob("*.md") if p.name != "README.md")
    assert len(paths) == len(SHIPPED_IDS)
    for path in paths:
        front, _ = split_front_matter(path.read_text(encoding="utf-8"), str(path))
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(front))]
        assert errors == [], path.name


@pytest.mark.parametrize(
    ("data", "valid"),
    [
        (front_matter(), True),
        (front_matter(verification={"signal": "x", "expect": "decrease", "bake": 30}), False),
        (front_matter(verification={"signal": "restarts", "expect": "decrease", "bake": 30}), True),
        (front_matter(action={"kind": "delete"}), False),
        (front_matter(colour="red"), False),
    ],
)
def test_json_schema_agrees_with_the_model(data: dict[str, Any], valid: bool) -> None:
    validator = jsonschema.Draft202012Validator(runbook_json_schema())
    assert validator.is_valid(data) is valid


# --- a valid file ---------------------------------------------------------------------------


def test_parse_valid_runbook_keeps_fields_body_and_source() -> None:
    runbook = parse_runbook(runbook_text(front_matter()), "mem://scale-it.md")
    assert runbook.id == "scale-it"
    assert runbook.matches.faults == (FaultKind.SATURATION,)
    assert runbook.matches.requires_change is False
    assert runbook.action == ScaleTemplate(direction="out", factor=1.5, hpa_aware=True)
    assert runbook.risk is Risk.LOW
    assert runbook.verification is not None
    assert runbook.verification.bake == timedelta(minutes=5)
    assert runbook.signals == (Signal.CPU_SATURATION, Signal.LATENCY_P99)
    assert runbook.body == BODY
    assert runbook.source == "mem://scale-it.md"


def test_crlf_and_bom_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "scale-it.md"
    path.write_bytes(b"\xef\xbb\xbf" + runbook_text(front_matter()).replace("\n", "\r\n").encode())
    runbook = load_runbook(path)
    assert runbook.id == "scale-it"
    assert runbook.body.startswith("# A runbook")


def test_escalate_and_pause_may_omit_verification() -> None:
    escalate = front_matter(action={"kind": "escalate", "reason": "humans only"}, verification=None)
    pause = front_matter(action={"kind": "pause_rollout"}, verification=None)
    assert parse_runbook(runbook_text(escalate), "e.md").verification is None
    assert parse_runbook(runbook_text(pause), "p.md").verification is None


# --- bad files ------------------------------------------------------------------------------

SYNTAX_CASES = [
    pytest.param("# no front-matter\n", "line 1", "missing front-matter", id="no-front-matter"),
    pytest.param("", "line 1", "missing front-matter", id="empty-file"),
    pytest.param("---\nid: x\ntitle: y\n", "line 1", "unterminated", id="unterminated"),
    pytest.param(
        "---\nid: [oops\n---\nbody\n", "line 3, column 1", "invalid YAML", id="invalid-yaml"
    ),
    pytest.param(
        "---\nid: a\nid: b\n---\nbody\n", "id (line 3)", "first on line 2", id="duplicate-key"
    ),
    pytest.param(
        "---\nmatches:\n  faults: [saturation]\n  faults: [crash_loop]\n---\nbody\n",
        "matches.faults (line 4)",
        "duplicate key 'faults' (first on line 3)",
        id="duplicate-nested-key",
    ),
    pytest.param(
        "---\nsignals: &s [restarts]\nalso: *s\n---\nbody\n", "also (line 3)", "aliases", id="alias"
    ),
    pytest.param(
        "---\nid: \x07\n---\nbody\n",
        "line 2, column 5",
        "unacceptable character",
        id="control-char",
    ),
    pytest.param("---\n- a list\n---\nbody\n", "(root)", "mapping", id="not-a-mapping"),
    pytest.param("---\n---\nbody\n", "(root)", "mapping", id="empty-front-matter"),
]


@pytest.mark.parametrize(("text", "location", "reason"), SYNTAX_CASES)
def test_syntax_errors_name_the_location(text: str, location: str, reason: str) -> None:
    with pytest.raises(RunbookError) as caught:
        parse_runbook(text, "bad.md")
    assert (caught.value.source, caught.value.location) == ("bad.md", location)
    assert reason in caught.value.reason


SCHEMA_CASES = [
    pytest.param(front_matter(id="Bad_Id"), "id", "pattern", id="id-pattern"),
    pytest.param(front_matter(title=None), "title", "required", id="missing-title"),
    pytest.param(front_matter(version="1"), "version", "integer", id="version-string"),
    pytest.param(front_matter(colour="red"), "colour", "Extra inputs", id="unknown-field"),
    pytest.param(
        front_matter(matches={"faults": ["oops"]}), "matches.faults[0]", "'oops'", id="fault"
    ),
    pytest.param(
        front_matter(matches={"faults": ["saturation"], "findings": ["cpu", "latency"]}),
        "matches.findings[0]",
        "'cpu'",
        id="finding",
    ),
    pytest.param(front_matter(matches={"faults": []}), "matches.faults", "at least 1", id="none"),
    pytest.param(front_matter(signals=["restarts", "qps"]), "signals[1]", "'qps'", id="signal"),
    pytest.param(front_matter(risk="extreme"), "risk", "'extreme'", id="risk"),
    pytest.param(front_matter(action={"kind": "delete"}), "action.kind", "'delete'", id="kind"),
    pytest.param(front_matter(action={"to": "previous"}), "action.kind", "tag", id="no-kind"),
    pytest.param(
        front_matter(action={"kind": "scale", "direction": "out", "factor": 0.5}),
        "action.factor",
        "scale out needs 1 < factor",
        id="factor-out",
    ),
    pytest.param(
        front_matter(action={"kind": "scale", "direction": "in", "factor": 1.5}),
        "action.factor",
        "scale in needs a factor between 0 and 1",
        id="factor-in",
    ),
    pytest.param(
        front_matter(action={"kind": "scale", "direction": "out", "factor": float("inf")}),
        "action.factor",
        "finite",
        id="factor-inf",
    ),
    pytest.param(
        front_matter(action={"kind": "rollback", "to": "latest"}),
        "action.to",
        "'latest'",
        id="rollback-to",
    ),
    pytest.param(
        front_matter(verification={"expect": "decrease", "bake": "5m"}),
        "verification.signal",
        "required",
        id="verification-signal-missing",
    ),
    pytest.param(
        front_matter(verification={"signal": "qps", "expect": "decrease", "bake": "5m"}),
        "verification.signal",
        "'qps'",
        id="verification-signal-unknown",
    ),
    pytest.param(
        front_matter(verification={"signal": "restarts", "expect": "decrease", "bake": "soon"}),
        "verification.bake",
        "invalid duration",
        id="bake",
    ),
    pytest.param(
        front_matter(verification=None),
        "verification",
        "needs a verification section",
        id="verification-missing",
    ),
]


@pytest.mark.parametrize(("data", "location", "reason"), SCHEMA_CASES)
def test_schema_errors_name_the_dotted_field(
    data: dict[str, Any], location: str, reason: str
) -> None:
    with pytest.raises(RunbookError) as caught:
        parse_runbook(runbook_text(data), "bad.md")
    assert caught.value.location == location
    assert reason in caught.value.reason
    assert caught.value.one_line().startswith(f"bad.md: {location}: ")


@pytest.mark.parametrize("body", ["", "\n\n   \n"])
def test_empty_body_is_rejected(body: str) -> None:
    with pytest.raises(RunbookError) as caught:
        parse_runbook(runbook_text(front_matter(), body=body), "bad.md")
    assert caught.value.location == "body"


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(runbook_text(front_matter()), encoding="utf-8")
    (tmp_path / "b.md").write_text(runbook_text(front_matter(title="Other")), encoding="utf-8")
    with pytest.raises(RunbookError) as caught:
        load_runbooks(tmp_path)
    assert (caught.value.source, caught.value.location) == (str(tmp_path / "b.md"), "id")
    assert str(tmp_path / "a.md") in caught.value.reason


def test_file_over_the_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "huge.md"
    path.write_text(runbook_text(front_matter(), body="x" * MAX_RUNBOOK_BYTES), encoding="utf-8")
    with pytest.raises(RunbookError) as caught:
        load_runbook(path)
    assert caught.value.source == str(path)
    assert str(MAX_RUNBOOK_BYTES) in caught.value.reason


def test_invalid_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.md"
    path.write_bytes(runbook_text(front_matter()).replace("Scale it", "Caf\xe9").encode("latin-1"))
    with pytest.raises(RunbookError, match="UTF-8"):
        load_runbook(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(RunbookError, match="cannot read"):
        load_runbook(tmp_path / "absent.md")
    with pytest.raises(RunbookError, match="not a directory"):
        load_runbooks(tmp_path / "absent")


def test_directory_loads_sorted_by_id_and_skips_readme(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# Not a runbook\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("ignored\n", encoding="utf-8")
    (tmp_path / "1.md").write_text(runbook_text(front_matter(id="zeta")), encoding="utf-8")
    (tmp_path / "2.md").write_text(runbook_text(front_matter(id="alpha")), encoding="utf-8")
    assert [r.id for r in load_runbooks(tmp_path)] == ["alpha", "zeta"]


def test_json_schema_describes_the_front_matter_only() -> None:
    schema = runbook_json_schema()
    assert set(schema["properties"]) == set(RunbookFrontMatter.model_fields)
    assert "body" not in schema["properties"]
    assert set(schema["required"]) >= {"id", "title", "version", "matches", "action", "risk"}
