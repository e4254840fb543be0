"""Each evaluation metric on tiny hand-made outcomes: the numbers a table shows are these."""

from __future__ import annotations

from typing import Any

import pytest

from controller.evaluation.metrics import (
    GateError,
    by_fault_class,
    parse_gate,
    quantile,
    ratio,
    summarize,
)
from controller.evaluation.outcome import NO_DECISION, FileOutcome
from controller.models.incident import FaultKind

ROOT = "shop/payments"


def outcome(name: str, **fields: Any) -> FileOutcome:
    """A faulty, detected, well-handled file unless ``fields`` say otherwise."""
    base: dict[str, Any] = {
        "path": f"{name}.json",
        "name": name,
        "fault": FaultKind.BAD_DEPLOY,
        "step_seconds": 30.0,
        "workloads": 3,
        "incidents": 1,
        "detected": True,
        "time_to_detect_seconds": 60.0,
        "root_cause": ROOT,
        "root_rank": 1,
        "baseline_rank": 2,
        "predicted_fault": FaultKind.BAD_DEPLOY,
        "first_action": "rollback",
        "action_kinds": ("rollback",),
        "mutating_actions": 1,
        "acceptable": True,
        "preferred": True,
        "remediated": True,
        "passed": True,
    }
    base.update(fields)
    return FileOutcome(**base)


def quiet(name: str, **fields: Any) -> FileOutcome:
    """A fault-free file on which nothing happened unless ``fields`` say otherwise."""
    base: dict[str, Any] = {
        "fault": FaultKind.NONE,
        "incidents": 0,
        "detected": False,
        "time_to_detect_seconds": None,
        "root_cause": None,
        "root_rank": None,
        "baseline_rank": None,
        "predicted_fault": None,
        "first_action": NO_DECISION,
        "action_kinds": (),
        "mutating_actions": 0,
        "acceptable": True,
        "preferred": None,
        "remediated": False,
    }
    base.update(fields)
    return outcome(name, **base)


def test_detection_rate_and_time_to_detect_count_faulty_files_only() -> None:
    files = [
        outcome("a", time_to_detect_seconds=30.0),
        outcome("b", time_to_detect_seconds=90.0),
        outcome("c", time_to_detect_seconds=150.0),
        outcome("d", detected=False, time_to_detect_seconds=None, incidents=0),
        quiet("e", incidents=2, detected=True),  # a false alarm is not a detection
    ]
    m = summarize(files)
    assert (m["faulty"], m["fault_free"], m["files"]) == (4, 1, 5)
    assert m["detection_rate"] == pytest.approx(3 / 4)
    assert m["ttd_median_s"] == pytest.approx(90.0)
    assert m["ttd_p90_s"] == pytest.approx(138.0)  # linear between 90 and 150
    assert m["ttd_median_samples"] == pytest.approx(3.0)  # 90 s at a 30 s step
    assert m["detected_within_3"] == pytest.approx(2 / 4)  # 1 and 3 samples; 5 is late


def test_top_k_counts_an_unranked_root_cause_as_a_miss() -> None:
    files = [
        outcome("first", root_rank=1, baseline_rank=None),
        outcome("third", root_rank=3, baseline_rank=1),
        outcome("fourth", root_rank=4, baseline_rank=1),
        outcome("unranked", root_rank=None, baseline_rank=3),
    ]
    m = summarize(files)
    assert m["top1"] == pytest.approx(1 / 4)
    assert m["top3"] == pytest.approx(2 / 4)
    assert m["baseline_top1"] == pytest.approx(2 / 4)
    assert m["baseline_top3"] == pytest.approx(3 / 4)
    assert ratio(m["top1"], m["baseline_top1"]) == pytest.approx(0.5)


def test_fault_class_accuracy_misses_undetected_files() -> None:
    files = [
        outcome("right"),
        outcome("wrong", predicted_fault=FaultKind.UNKNOWN),
        outcome("none", detected=False, predicted_fault=None, time_to_detect_seconds=None),
    ]
    assert summarize(files)["fault_class_accuracy"] == pytest.approx(1 / 3)


def test_fault_class_is_not_scored_when_the_truth_says_unknown() -> None:
    vague = outcome("vague", fault=FaultKind.UNKNOWN, predicted_fault=FaultKind.UNKNOWN)
    assert summarize([vague])["fault_class_accuracy"] is None
    assert summarize([vague, outcome("right")])["fault_class_accuracy"] == 1.0


def test_preferred_is_scored_apart_from_acceptable() -> None:
    files = [
        outcome("best"),  # preferred and acceptable
        outcome("ok", preferred=False, first_action="escalate", acceptable=True),
        outcome("bad", preferred=False, first_action="restart", acceptable=False),
        outcome("unlisted", preferred=None),  # truth lists no preferred action
    ]
    m = summarize(files)
    assert m["preferred_rate"] == pytest.approx(1 / 3)
    assert m["acceptable_rate"] == pytest.approx(3 / 4)
    assert m["preferred_or_acceptable"] == pytest.approx(3 / 4)


def test_a_forbidden_action_counts_even_when_detection_was_perfect() -> None:
    files = [outcome("fine"), outcome("forbidden", forbidden=True, acceptable=False)]
    m = summarize(files)
    assert m["forbidden_rate"] == pytest.approx(1 / 2)
    assert m["detection_rate"] == 1.0


def test_remediation_escalation_and_no_decision_split_the_faulty_files() -> None:
    files = [
        outcome("fixed"),
        outcome("human", remediated=False, escalated=True, first_action="escalate"),
        outcome("silent", remediated=False, first_action=NO_DECISION),
    ]
    m = summarize(files)
    for name in ("remediation_rate", "escalation_rate", "no_decision_rate"):
        assert m[name] == pytest.approx(1 / 3), name


def test_fault_free_file_with_an_incident_and_an_action_is_a_false_alarm_and_action() -> None:
    files = [
        quiet("calm"),
        quiet("alarm", incidents=1, detected=True, first_action="escalate"),
        quiet("acted", incidents=1, detected=True, mutating_actions=1, first_action="scale"),
    ]
    m = summarize(files)
    assert m["false_alarm_rate"] == pytest.approx(2 / 3)
    assert m["false_action_rate"] == pytest.approx(1 / 3)
    assert m["detection_rate"] is None and m["top1"] is None  # no faulty file: not measured


def test_breakdown_is_per_true_fault_class() -> None:
    files = [outcome("deploy"), outcome("sat", fault=FaultKind.SATURATION, root_rank=5), quiet("q")]
    classes = by_fault_class(files)
    assert sorted(classes) == ["bad_deploy", "none", "saturation"]
    assert classes["saturation"]["top3"] == 0.0 and classes["bad_deploy"]["top3"] == 1.0
    assert classes["none"]["false_alarm_rate"] == 0.0


def test_quantile_interpolates_and_is_none_without_values() -> None:
    assert quantile([], 0.5) is None
    assert quantile([4.0], 0.9) == 4.0
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.5) == pytest.approx(2.5)


def test_gates_fail_when_worse_in_the_metric_s_own_direction() -> None:
    metrics = summarize([outcome("a"), quiet("b", incidents=1, detected=True)])
    assert parse_gate("detection_rate=1").failure(metrics) is None
    assert "below the floor" in (parse_gate("top1=1.5").failure(metrics) or "")
    assert "above the limit" in (parse_gate("false_alarm_rate=0.5").failure(metrics) or "")
    assert parse_gate("false_alarm_rate=1").failure(metrics) is None
    assert "not measured" in (parse_gate("preferred_rate=0").failure(summarize([quiet("c")])) or "")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("top_one=0.5", "unknown metric 'top_one'"),
        ("files=3", "unknown metric 'files'"),  # a count describes the set; not a gate
        ("top1", "expected METRIC=VALUE"),
        ("top1=high", "'high' is not a number"),
        ("top1=nan", "not a finite number"),
    ],
)
def test_bad_gates_are_one_line_user_errors(text: str, message: str) -> None:
    with pytest.raises(GateError, match=message) as caught:
        parse_gate(text)
    assert "\n" not in str(caught.value)
