"""``spec.scaling.adapters``: the policy switch for scaling KEDA- and Argo-owned workloads.

The default policy names no adapter, so a scale or bounds change through one is denied as
before (``scaling_owned_elsewhere``); a policy that names the adapter allows it under the
same replica caps (x2 up, half down per step, never 0, floor and ceiling). The loader
rejects unknown or repeated adapter names with the key's location, and the default keeps
the policy hash it had before the key existed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from controller.errors import PolicyError
from controller.guardrails.engine import evaluate
from controller.guardrails.loader import LoadedPolicy, load_policy_text
from controller.models.actions import AdjustHpaAction, ScaleAction, ScalingAdapter
from controller.models.decisions import ReasonCode as C
from controller.models.decisions import Verdict
from controller.models.workloads import ScalingOwner
from tests.unit.guardrails.guardrails_helpers import (
    DEFAULT,
    T0,
    WEB,
    default_data,
    default_policy,
    facts,
    inventory,
    plan,
)

KEDA = ScalingAdapter.KEDA
ARGO = ScalingAdapter.ARGO_ROLLOUTS
KEDA_FACTS = facts(inv=inventory(owner=ScalingOwner.KEDA))
ARGO_FACTS = facts(inv=inventory(replicas=0, owner=ScalingOwner.ARGO_ROLLOUTS))


def with_adapters(*names: Any, allowed: list[str] | None = None) -> LoadedPolicy:
    """The default policy with ``spec.scaling.adapters: names`` (and actions, if given)."""
    data = default_data()
    data["spec"]["scaling"] = {"adapters": list(names)}
    if allowed is not None:
        data["spec"]["actions"]["allowed"] = allowed
    return load_policy_text(json.dumps(data), "test-policy")


def keda(to_min: int, to_max: int, frm: tuple[int, int] = (2, 10)) -> AdjustHpaAction:
    return AdjustHpaAction(target=WEB, hpa_name="web-scaler", from_min=frm[0], from_max=frm[1],
                           to_min=to_min, to_max=to_max, adapter=KEDA)  # fmt: skip


def argo(to: int, frm: int = 4) -> ScaleAction:
    return ScaleAction(target=WEB, from_replicas=frm, to_replicas=to, adapter=ARGO)


def judge(action: Any, policy: LoadedPolicy, target_facts: Any) -> Any:
    return evaluate(plan(action), policy, target_facts, [], T0)


# ----- the switch ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "target_facts", "adapter"),
    [(keda(3, 20), KEDA_FACTS, "keda"), (argo(6), ARGO_FACTS, "argo-rollouts")],
    ids=["keda", "argo-rollouts"],
)
def test_the_default_policy_denies_scaling_through_an_adapter(
    action: Any, target_facts: Any, adapter: str
) -> None:
    decision = judge(action, default_policy(), target_facts)

    assert decision.verdict is Verdict.DENY
    assert C.SCALING_OWNED_ELSEWHERE in decision.codes
    (reason,) = [r for r in decision.reasons if r.code is C.SCALING_OWNED_ELSEWHERE]
    assert f"spec.scaling.adapters does not name {adapter}" in reason.detail


@pytest.mark.parametrize(
    ("action", "target_facts", "adapter"),
    [(keda(3, 20), KEDA_FACTS, "keda"), (argo(6), ARGO_FACTS, "argo-rollouts")],
    ids=["keda", "argo-rollouts"],
)
def test_a_policy_naming_the_adapter_allows_it(
    action: Any, target_facts: Any, adapter: str
) -> None:
    decision = judge(action, with_adapters(adapter), target_facts)

    assert decision.verdict is Verdict.ALLOW, decision.reasons
    assert decision.codes == (C.ALLOWED,)
    assert decision.action == action  # the adapter survives shaping
    assert decision.action.adapter is action.adapter


def test_naming_only_the_other_adapter_still_denies() -> None:
    decision = judge(keda(3, 20), with_adapters("argo-rollouts"), KEDA_FACTS)

    assert decision.verdict is Verdict.DENY
    assert decision.codes[0] is C.SCALING_OWNED_ELSEWHERE


@pytest.mark.parametrize(
    ("action", "target_facts", "owner"),
    [
        (keda(3, 20), facts(inv=inventory()), "none"),
        (keda(3, 20), ARGO_FACTS, "argo_rollouts"),
        (argo(6), KEDA_FACTS, "keda"),
        (argo(6), facts(inv=inventory(hpa=("web", 2, 10))), "hpa"),
    ],
    ids=["keda-but-unowned", "keda-but-argo", "argo-but-keda", "argo-but-hpa"],
)
def test_an_adapter_that_is_not_the_owner_is_denied_even_when_allowed(
    action: Any, target_facts: Any, owner: str
) -> None:
    decision = judge(action, with_adapters("keda", "argo-rollouts"), target_facts)

    assert decision.verdict is Verdict.DENY
    (reason,) = [r for r in decision.reasons if r.code is C.SCALING_OWNED_ELSEWHERE]
    assert f"owned by {owner}: re-plan for the real owner" in reason.detail


def test_a_plain_scale_of_an_adapter_owned_workload_stays_denied_when_allowed() -> None:
    plain = ScaleAction(target=WEB, from_replicas=4, to_replicas=6)

    decision = judge(plain, with_adapters("keda", "argo-rollouts"), KEDA_FACTS)

    assert decision.verdict is Verdict.DENY
    assert decision.codes == (C.SCALING_OWNED_ELSEWHERE,)


# ----- the same caps ---------------------------------------------------------------------------


def test_adapter_scales_are_clamped_like_any_scale() -> None:
    policy = with_adapters("argo-rollouts")

    up = judge(argo(40), policy, ARGO_FACTS)
    down = judge(argo(1), policy, ARGO_FACTS)
    zero = judge(argo(0, frm=1), policy, ARGO_FACTS)

    assert (up.verdict, up.codes) == (Verdict.ALLOW, (C.STEP_UP_CLAMPED, C.ALLOWED))
    assert up.action == argo(8) and up.clamped
    assert (down.verdict, down.action) == (Verdict.ALLOW, argo(2))
    assert C.STEP_DOWN_CLAMPED in down.codes
    assert zero.verdict is Verdict.DENY  # 0 is raised to 1, which is no change
    assert zero.codes == (C.SCALE_TO_ZERO, C.NO_CHANGE)


def test_keda_bounds_are_clamped_like_hpa_bounds() -> None:
    policy = with_adapters("keda")

    decision = judge(keda(30, 100), policy, KEDA_FACTS)

    assert decision.verdict is Verdict.ALLOW
    assert C.STEP_UP_CLAMPED in decision.codes and C.REPLICAS_CLAMPED_CEILING in decision.codes
    assert isinstance(decision.action, AdjustHpaAction)
    assert (decision.action.to_min, decision.action.to_max) == (4, 20)
    assert decision.action.adapter is KEDA
    same = judge(keda(2, 10), policy, KEDA_FACTS)
    assert same.verdict is Verdict.DENY and same.codes == (C.NO_CHANGE,)


def test_the_ceiling_binds_an_adapter_scale() -> None:
    data = default_data()
    data["spec"]["scaling"] = {"adapters": ["argo-rollouts"]}
    data["spec"]["replicas"]["ceiling"] = 5
    policy = load_policy_text(json.dumps(data), "ceiling-5")

    decision = judge(argo(8), policy, ARGO_FACTS)

    assert decision.action == argo(5)
    assert C.REPLICAS_CLAMPED_CEILING in decision.codes


# ----- the policy field ------------------------------------------------------------------------


def test_the_default_keeps_its_hash_and_canonical_form() -> None:
    explicit = with_adapters()
    shipped = default_policy()

    spec = shipped.policy.canonical()["spec"]
    assert isinstance(spec, dict)
    assert shipped.policy.spec.scaling.adapters == ()
    assert "scaling" not in spec
    assert explicit.hash == shipped.hash  # adapters: [] is the default, spelled out
    assert with_adapters("keda").hash != shipped.hash


def test_adapters_round_trip_in_the_canonical_document() -> None:
    loaded = with_adapters("argo-rollouts", "keda")

    assert loaded.policy.spec.scaling.adapters == (ARGO, KEDA)
    spec = loaded.policy.canonical()["spec"]
    assert isinstance(spec, dict)
    assert spec["scaling"] == {"adapters": ["argo-rollouts", "keda"]}


@pytest.mark.parametrize(
    ("adapters", "location", "reason"),
    [
        (["keda", "keda"], "spec.scaling.adapters", "keda is listed twice"),
        (["argo"], "spec.scaling.adapters[0]", "Argo Rollouts is written 'argo-rollouts'"),
        (["KEDA"], "spec.scaling.adapters[0]", "write it as 'keda'"),
        (["hpa"], "spec.scaling.adapters[0]", "hpa needs no adapter"),
        (["flux"], "spec.scaling.adapters[0]", "the adapters are keda, argo-rollouts"),
        ("keda", "spec.scaling.adapters", "adapters is a list: write adapters: [keda]"),
    ],
    ids=["twice", "argo", "upper-case", "hpa", "unknown", "not-a-list"],
)
def test_bad_adapter_lists_are_rejected_with_location_and_reason(
    adapters: Any, location: str, reason: str
) -> None:
    text = DEFAULT.read_text(encoding="utf-8").replace(
        "  rollback:", f"  scaling:\n    adapters: {json.dumps(adapters)}\n  rollback:", 1
    )

    with pytest.raises(PolicyError) as caught:
        load_policy_text(text, "bad.yaml")

    message = str(caught.value)
    assert message.startswith(f"bad.yaml: {location} (line 39)"), message
    assert reason in message


def test_an_unknown_key_under_scaling_is_rejected() -> None:
    text = DEFAULT.read_text(encoding="utf-8").replace(
        "  rollback:", "  scaling:\n    adapter: [keda]\n  rollback:", 1
    )

    with pytest.raises(PolicyError, match=r"spec\.scaling\.adapter .*unknown key"):
        load_policy_text(text, "typo.yaml")


def test_adapters_without_a_scaling_kind_load_with_a_warning() -> None:
    loaded = with_adapters("keda", allowed=["rollback", "restart"])

    assert any("spec.scaling.adapters names keda" in w for w in loaded.warnings)
    assert not any("scaling" in w for w in with_adapters("keda").warnings)
