"""Value objects: durations, plan hashes, discriminated actions, settings."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from controller.errors import ConfigError
from controller.models.actions import (
    ACTION_ADAPTER,
    Evidence,
    Plan,
    PlannerKind,
    Risk,
    RollbackAction,
    ScaleAction,
    describe,
)
from controller.models.base import format_duration, parse_duration
from controller.settings import load_settings
from tests.factories import T0, WEB, inventory


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", None), (90, 90), ("45s", 45), ("10m", 600), ("1h30m", 5400), (1.5, 1.5)],
)
def test_durations(text: object, seconds: float | None) -> None:
    if seconds is None:
        with pytest.raises(ValueError, match="invalid duration"):
            parse_duration(text)
        return
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_duration_round_trip() -> None:
    assert format_duration(parse_duration("1h30m")) == "1h30m"
    assert format_duration(timedelta(0)) == "0s"


def _plan(**changes: object) -> Plan:
    base = {
        "incident_id": "shop.web.1",
        "planner": PlannerKind.RUNBOOK,
        "runbook_id": "r",
        "action": ScaleAction(target=WEB, from_replicas=4, to_replicas=8),
        "risk": Risk.LOW,
        "rationale": "cpu high",
        "snapshot_at": T0,
    }
    base.update(changes)
    return Plan.model_validate(base)


def test_plan_hash_binds_what_is_done_not_the_prose() -> None:
    plan = _plan()
    assert (
        plan.plan_hash() == _plan(rationale="reworded", evidence=(Evidence(name="x"),)).plan_hash()
    )
    assert (
        plan.plan_hash()
        != _plan(action=ScaleAction(target=WEB, from_replicas=4, to_replicas=6)).plan_hash()
    )
    assert plan.plan_hash() != _plan(risk=Risk.HIGH).plan_hash()
    assert len(plan.plan_hash()) == 64


def test_action_union_rejects_unknown_kinds_and_extra_fields() -> None:
    with pytest.raises(ValidationError):
        ACTION_ADAPTER.validate_python({"kind": "delete", "target": WEB.model_dump()})
    with pytest.raises(ValidationError):
        ACTION_ADAPTER.validate_python({"kind": "restart", "target": WEB.model_dump(), "x": 1})
    with pytest.raises(ValidationError, match="older revision"):
        RollbackAction(target=WEB, from_revision=3, to_revision=5)


def test_describe_is_readable() -> None:
    assert describe(ScaleAction(target=WEB, from_replicas=4, to_replicas=8)) == (
        "scale shop/web 4 -> 8 replicas"
    )


def test_inventory_validation() -> None:
    with pytest.raises(ValidationError, match="current_revision 9"):
        inventory().model_copy(update={}).model_validate(
            {**inventory().model_dump(), "current_revision": 9}
        )
    with pytest.raises(ValidationError, match="oldest first"):
        revs = list(inventory().revisions)
        inventory().model_validate({**inventory().model_dump(), "revisions": revs[::-1]})


def test_settings_from_yaml_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "aiops.yaml"
    config.write_text("detection:\n  latency_for: 5m\n  cpu_saturation: 0.8\n")
    monkeypatch.setenv("AIOPS_DETECTION__CPU_SATURATION", "0.85")
    settings = load_settings(config)
    assert settings.detection.latency_for == timedelta(minutes=5)
    assert settings.detection.cpu_saturation == 0.85  # the environment wins


@pytest.mark.parametrize(
    ("text", "location"),
    [
        ("detection:\n  latency_for: soon\n", "detection.latency_for"),
        ("detection:\n  typo_field: 1\n", "detection.typo_field"),
        ("- a list\n", "(root)"),
    ],
)
def test_bad_settings_name_the_field(tmp_path: Path, text: str, location: str) -> None:
    config = tmp_path / "aiops.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    assert info.value.location == location


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "99999999999h", 1e18])
def test_out_of_range_durations_are_value_errors(value: object) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(value)
