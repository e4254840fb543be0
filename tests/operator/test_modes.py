"""The three modes, judged by the real policy engine: what each lets through."""

from __future__ import annotations

from controller.cli.flags import ModeFlag
from controller.guardrails.engine import evaluate
from controller.guardrails.policy import PolicyMode
from controller.models.actions import ScaleAction
from controller.models.decisions import Verdict
from controller.operator.modes import OperatorMode, policy_for_mode
from tests.unit.guardrails.guardrails_helpers import T0, WEB, default_policy, facts, plan

SCALE = plan(ScaleAction(target=WEB, from_replicas=4, to_replicas=6))


def judged(mode: OperatorMode) -> tuple[Verdict, bool]:
    decision = evaluate(SCALE, policy_for_mode(default_policy(), mode), facts(), (), T0)
    return decision.verdict, decision.dry_run


def test_auto_acts_within_the_policy() -> None:
    assert judged(OperatorMode.AUTO) == (Verdict.ALLOW, False)
    assert policy_for_mode(default_policy(), OperatorMode.AUTO) == default_policy()


def test_propose_asks_a_human_for_every_action() -> None:
    assert judged(OperatorMode.PROPOSE) == (Verdict.NEEDS_APPROVAL, False)
    loaded = policy_for_mode(default_policy(), OperatorMode.PROPOSE)
    assert set(loaded.policy.spec.approval.kinds) == set(loaded.policy.spec.actions.allowed)
    assert loaded.hash != default_policy().hash  # the hash names what is enforced


def test_shadow_decides_but_marks_every_decision_dry_run() -> None:
    verdict, dry_run = judged(OperatorMode.SHADOW)
    assert verdict is Verdict.ALLOW and dry_run is True
    loaded = policy_for_mode(default_policy(), OperatorMode.SHADOW)
    assert loaded.policy.spec.mode is PolicyMode.DRY_RUN
    assert policy_for_mode(loaded, OperatorMode.SHADOW) is loaded  # already dry_run
    assert not OperatorMode.SHADOW.writes and OperatorMode.AUTO.writes


def test_the_flag_spells_the_modes() -> None:
    """The CLI's enum imports nothing; it must stay equal to the operator's."""
    assert [m.value for m in ModeFlag] == [m.value for m in OperatorMode]
