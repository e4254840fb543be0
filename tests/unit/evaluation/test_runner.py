"""The evaluation end to end on the bundled bad-deploy example, with its truth rewritten.

Each case changes only the ground truth, so the replay is the same and the differences in
the outcome are the scoring's: preferred versus acceptable, a forbidden action, a fault-free
file with an incident and an action, a file without truth, and a broken file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from controller.evaluation.metrics import summarize
from controller.evaluation.outcome import FileOutcome, Skipped, rank_of, ranking
from controller.evaluation.runner import EvalConfig, evaluate, incident_paths
from controller.models.incident import Incident

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "incidents"
EXAMPLE = EXAMPLES / "bad-deploy.json"
QUIET = EXAMPLES / "quiet-day.json"
ROOT = "shop/checkout"


def _write(folder: Path, name: str, truth: dict[str, Any] | None, source: Path = EXAMPLE) -> Path:
    document = json.loads(source.read_text())
    if truth is None:
        document.pop("ground_truth")
    else:
        document["ground_truth"] = truth
    path = folder / f"{name}.json"
    path.write_text(json.dumps(document))
    return path


def _fault(**fields: Any) -> dict[str, Any]:
    truth: dict[str, Any] = {
        "fault": "bad_deploy",
        "onset": "2026-03-03T14:12:00Z",
        "root_cause": {"namespace": "shop", "name": "checkout"},
        "acceptable_actions": ["rollback"],
        "forbidden_actions": ["scale"],
    }
    truth.update(fields)
    return truth


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, FileOutcome | Skipped]:
    folder = tmp_path_factory.mktemp("eval")
    nested = folder / "nested"
    nested.mkdir()
    _write(folder, "as-shipped", _fault())
    _write(folder, "preferred-rollback", _fault(preferred_actions=["rollback"]))
    _write(nested, "preferred-escalate", _fault(preferred_actions=["escalate"]))
    _write(
        folder,
        "forbidden",
        _fault(acceptable_actions=["escalate"], forbidden_actions=["rollback"]),
    )
    _write(folder, "fault-free", {"fault": "none"})
    unseen = {
        "fault": "unknown",
        "onset": "2026-03-17T12:00:00Z",
        "acceptable_actions": ["escalate"],
    }
    _write(folder, "unseen", unseen, QUIET)
    _write(folder, "no-truth", None)
    (folder / "broken.json").write_text("{not json")
    outcomes, skipped = evaluate(incident_paths(folder), EvalConfig(), jobs=1)
    found: dict[str, FileOutcome | Skipped] = {Path(o.path).stem: o for o in outcomes}
    found.update({Path(s.path).stem: s for s in skipped})
    return found


def _outcome(results: dict[str, FileOutcome | Skipped], name: str) -> FileOutcome:
    found = results[name]
    assert isinstance(found, FileOutcome), found
    return found


def test_the_shipped_example_is_detected_localized_and_rolled_back(
    results: dict[str, FileOutcome | Skipped],
) -> None:
    o = _outcome(results, "as-shipped")
    assert o.detected and o.root_rank == 1 and o.ranking[0] == ROOT
    assert o.first_action == "rollback" and o.remediated and not o.escalated
    assert o.acceptable is True and o.preferred is None and not o.forbidden
    assert o.time_to_detect_samples == pytest.approx(8.0)  # 4 min at a 30 s step


def test_preferred_is_judged_on_the_first_action_only(
    results: dict[str, FileOutcome | Skipped],
) -> None:
    assert _outcome(results, "preferred-rollback").preferred is True
    other = _outcome(results, "preferred-escalate")  # found in a subfolder too
    assert other.preferred is False and other.acceptable is True


def test_a_forbidden_action_is_counted(results: dict[str, FileOutcome | Skipped]) -> None:
    o = _outcome(results, "forbidden")
    assert o.forbidden and o.acceptable is False and not o.passed


def test_incident_and_action_on_a_fault_free_file_are_false(
    results: dict[str, FileOutcome | Skipped],
) -> None:
    o = _outcome(results, "fault-free")
    assert o.fault_free and o.incidents >= 1 and o.mutating_actions >= 1
    m = summarize([o])
    assert m["false_alarm_rate"] == 1.0 and m["false_action_rate"] == 1.0


def test_files_without_truth_or_unreadable_are_skipped_with_one_line(
    results: dict[str, FileOutcome | Skipped],
) -> None:
    no_truth, broken = results["no-truth"], results["broken"]
    assert isinstance(no_truth, Skipped) and "no ground_truth" in no_truth.reason
    assert isinstance(broken, Skipped) and "invalid JSON" in broken.reason
    assert "\n" not in no_truth.reason + broken.reason
    assert sum(isinstance(r, FileOutcome) for r in results.values()) == 6


def test_a_fault_nobody_saw_is_not_handled_acceptably(
    results: dict[str, FileOutcome | Skipped],
) -> None:
    o = _outcome(results, "unseen")  # the quiet day, with a fault the truth says was there
    assert not o.detected and o.first_action == "none"
    assert o.acceptable is False  # the replay's own check passes: escalate is acceptable


def _incident(workload: str, opened: str, candidates: list[tuple[str, float]]) -> Incident:
    def ref(name: str) -> dict[str, str]:
        return {"namespace": "shop", "name": name}

    return Incident.model_validate(
        {
            "id": f"shop.{workload}",
            "workload": ref(workload),
            "opened_at": opened,
            "onset": opened,
            "severity": "page",
            "findings": [
                {"kind": "slo_burn", "workload": ref(workload), "severity": "page", "since": opened}
            ],
            "hypotheses": [
                {"fault": "unknown", "workload": ref(workload), "confidence": 0.3, "rationale": "x"}
            ],
            "snapshot_at": opened,
            "candidates": [{"workload": ref(n), "score": s} for n, s in candidates],
        }
    )


def test_ranking_merges_incidents_at_each_workload_s_best_score() -> None:
    early = _incident("frontend", "2026-03-03T14:00:00Z", [("checkout", 0.6), ("frontend", 0.2)])
    late = _incident("payments", "2026-03-03T14:05:00Z", [("payments", 0.6), ("checkout", 0.1)])
    ranked = ranking((late, early))
    # checkout and payments tie at 0.6: the one from the earlier incident comes first
    assert ranked == ("shop/checkout", "shop/payments", "shop/frontend")
    assert rank_of("shop/payments", ranked) == 2
    assert rank_of("shop/cart", ranked) is None and rank_of(None, ranked) is None
