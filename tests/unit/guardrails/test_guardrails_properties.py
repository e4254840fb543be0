"""Hypothesis properties: the engine never raises and never lets a protected namespace or an
oversized step through (CH-04); a mutated policy either loads or is a PolicyError (CH-21)."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.errors import PolicyError
from controller.guardrails.engine import CLAMP_CODES, DENIAL_CODES, evaluate
from controller.guardrails.loader import LoadedPolicy, load_policy_text
from controller.models.actions import (
    AdjustHpaAction,
    EscalateAction,
    NoAction,
    PauseRolloutAction,
    RestartAction,
    Risk,
    RollbackAction,
    ScaleAction,
)
from controller.models.decisions import ReasonCode, Verdict
from controller.models.facts import PastAction, TargetFacts
from controller.models.workloads import NamespaceInfo, WorkloadRef
from tests.unit.guardrails.guardrails_helpers import (
    API,
    DEFAULT,
    OPT_IN,
    T0,
    WEB,
    default_data,
    inventory,
    plan,
)

FAST = settings(database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAMESPACES = ["kube-system", "kube-public", "kube-node-lease", "aiops-system", "shop", "blog"]
refs = st.builds(
    WorkloadRef, namespace=st.sampled_from(NAMESPACES), name=st.sampled_from(["web", "api"])
)
counts = st.integers(0, 120) | st.integers(0, 10**6)


@st.composite
def actions(draw: st.DrawFn, ref: WorkloadRef) -> Any:
    kind = draw(st.sampled_from(["scale", "hpa", "rollback", "restart", "pause", "none", "esc"]))
    if kind == "scale":
        return ScaleAction(target=ref, from_replicas=draw(counts), to_replicas=draw(counts))
    if kind == "hpa":
        low, high = sorted(draw(st.lists(st.integers(1, 200), min_size=2, max_size=2)))
        to_low, to_high = sorted(draw(st.lists(st.integers(1, 400), min_size=2, max_size=2)))
        return AdjustHpaAction(
            target=ref, hpa_name="api", from_min=low, from_max=high, to_min=to_low, to_max=to_high
        )
    if kind == "rollback":
        to, frm = sorted(draw(st.lists(st.integers(1, 12), min_size=2, max_size=2, unique=True)))
        return RollbackAction(target=ref, from_revision=frm, to_revision=to)
    if kind == "restart":
        return RestartAction(target=ref)
    if kind == "pause":
        return PauseRolloutAction(target=ref)
    return (NoAction if kind == "none" else EscalateAction)(target=ref, reason="r")


def _mostly(value: Any, other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``value`` four times in five, else a draw from ``other``: each hazard stays rare enough
    that plans also get through and the caps on allowed actions are really exercised."""
    return st.sampled_from([value] * 4 + [None]).flatmap(
        lambda v: st.just(v) if v is not None else other
    )


@st.composite
def situations(draw: st.DrawFn) -> tuple[Any, TargetFacts]:
    """An action and facts that mostly describe its target truthfully, with rare hazards."""
    ref = draw(_mostly(WorkloadRef(namespace="shop", name="web"), refs))
    action = draw(actions(ref))
    live = getattr(action, "from_replicas", None)
    hpa = None
    if isinstance(action, AdjustHpaAction) and draw(_mostly(True, st.just(False))):
        hpa = ("api", action.from_min, action.from_max)
    revisions = tuple(sorted(draw(st.sets(st.integers(1, 12), min_size=1, max_size=8))))
    if isinstance(action, RollbackAction) and draw(st.booleans()):
        revisions = tuple(range(action.to_revision, action.from_revision + 1))
    inv = inventory(
        ref,
        replicas=draw(_mostly(live if live is not None else 3, counts)),
        hpa=hpa,
        revisions=revisions,
    )
    labels = draw(_mostly(OPT_IN, st.sampled_from([{}, {"aiops.dev/remediate": "off"}])))
    fresh = st.dictionaries(st.sampled_from(["a", "b"]), st.floats(0, 60))
    ages = draw(
        _mostly(None, st.dictionaries(st.sampled_from(["a", "b"]), st.none() | st.floats()))
    )
    facts = TargetFacts(
        target=draw(_mostly(ref, st.sampled_from([None, WorkloadRef(namespace="shop", name="x")]))),
        inventory=draw(_mostly(inv, st.none())),
        namespace=NamespaceInfo(name=ref.namespace, labels=labels),
        input_ages=draw(fresh) if ages is None else ages,
        blind=draw(_mostly(False, st.just(True))),
    )
    return action, facts


@st.composite
def policies(draw: st.DrawFn) -> LoadedPolicy:
    data = default_data()
    replicas = data["spec"]["replicas"]
    replicas["floor"] = draw(st.integers(1, 10))
    replicas["ceiling"] = draw(st.integers(replicas["floor"], 1000))
    replicas["maxStepUpFactor"] = draw(st.floats(1.01, 10))
    replicas["maxStepDownFraction"] = draw(st.floats(0.01, 0.99))
    data["spec"]["namespaces"]["allow"] = draw(st.lists(st.sampled_from(NAMESPACES), unique=True))
    data["spec"]["mode"] = draw(st.sampled_from(["enforce", "dry_run"]))
    return load_policy_text(json.dumps(data), "generated")


history = st.lists(
    st.builds(
        PastAction,
        at=st.integers(-600, 3600).map(lambda s: T0 - timedelta(seconds=s)),
        target=refs,
        kind=st.sampled_from(["scale", "restart", "rollback", "no_action"]),
    ),
    max_size=4,
).flatmap(lambda items: st.sampled_from([[], items]))


@FAST
@given(situations(), policies(), history, st.sampled_from(list(Risk)), st.integers(-(10**5), 10**5))
def test_engine_is_total_and_safe(
    situation: tuple[Any, TargetFacts],
    loaded: LoadedPolicy,
    past: list[PastAction],
    risk: Risk,
    minutes: int,
) -> None:
    action, facts = situation
    now = T0 + timedelta(minutes=minutes)
    decision = evaluate(plan(action, risk), loaded, facts, past, now)
    assert decision == evaluate(plan(action, risk), loaded, facts, past, now)  # deterministic
    assert decision.reasons
    assert (decision.verdict is Verdict.DENY) == any(c in DENIAL_CODES for c in decision.codes)
    if isinstance(action, NoAction | EscalateAction) or decision.verdict is Verdict.DENY:
        return
    assert action.target.namespace not in loaded.policy.protected_namespaces
    assert not facts.blind and facts.inventory is not None
    limits = loaded.policy.spec.replicas
    result = decision.action
    if isinstance(result, ScaleAction):
        _assert_within_caps(result.to_replicas, facts.inventory.replicas.desired, limits)
    if isinstance(result, AdjustHpaAction):
        assert 1 <= result.to_min <= result.to_max
        _assert_within_caps(result.to_max, result.from_max, limits)


@FAST
@given(policies(), st.integers(0, 500), st.integers(0, 2000))
def test_every_allowed_scale_respects_the_caps(
    loaded: LoadedPolicy, current: int, requested: int
) -> None:
    """Focused on a clean situation, so that the caps are checked on many allowed scales."""
    action = ScaleAction(target=WEB, from_replicas=current, to_replicas=requested)
    facts = TargetFacts(
        target=WEB,
        inventory=inventory(WEB, replicas=current),
        namespace=NamespaceInfo(name="shop", labels=OPT_IN),
    )
    decision = evaluate(plan(action), loaded, facts, (), T0)
    assert isinstance(decision.action, ScaleAction)
    if decision.verdict is Verdict.DENY:  # only ever because nothing would change
        assert ReasonCode.NO_CHANGE in decision.codes
        assert set(decision.codes) <= CLAMP_CODES | {ReasonCode.NO_CHANGE, ReasonCode.DRY_RUN}
        assert requested == current or decision.action.to_replicas == current
        return
    assert decision.verdict is Verdict.ALLOW
    assert decision.action.to_replicas != current
    _assert_within_caps(decision.action.to_replicas, current, loaded.policy.spec.replicas)


@FAST
@given(policies(), st.lists(st.integers(1, 300), min_size=4, max_size=4))
def test_every_allowed_hpa_change_respects_the_caps(
    loaded: LoadedPolicy, numbers: list[int]
) -> None:
    from_min, from_max = sorted(numbers[:2])
    to_min, to_max = sorted(numbers[2:])
    action = AdjustHpaAction(
        target=API,
        hpa_name="api",
        from_min=from_min,
        from_max=from_max,
        to_min=to_min,
        to_max=to_max,
    )
    facts = TargetFacts(
        target=API,
        inventory=inventory(API, hpa=("api", from_min, from_max)),
        namespace=NamespaceInfo(name="shop", labels=OPT_IN),
    )
    decision = evaluate(plan(action), loaded, facts, (), T0)
    result = decision.action
    assert isinstance(result, AdjustHpaAction)
    assert 1 <= result.to_min <= result.to_max
    if decision.verdict is not Verdict.DENY:
        _assert_within_caps(result.to_max, from_max, loaded.policy.spec.replicas)
        assert (result.to_min, result.to_max) != (from_min, from_max)


def _assert_within_caps(new: int, current: int, limits: Any) -> None:
    """Never 0, never more than a step, never *up* past the ceiling."""
    factor = Fraction(repr(limits.max_step_up_factor))
    keep = 1 - Fraction(repr(limits.max_step_down_fraction))
    assert new >= 1
    assert new <= max(limits.floor, factor * current)
    assert new >= keep * current
    assert new <= limits.ceiling or new <= current


# -- policy fuzzing -----------------------------------------------------------------------

SPICY = [
    "*",
    "",
    "team-*",
    "10m",
    "0s",
    "-5m",
    "1e999",
    "delete",
    "exec",
    "24:00",
    "25:61",
    "Europe/Berlin",
    "Mars/Base",
    "kube-system",
    "NaN",
    "~",
    "true",
    "1:2:3",
    "2026-02-30",
]
values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(SPICY),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else []
    )
    for key, child in items:
        found += _paths(child, (*prefix, key))
    return found


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    data = default_data()
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(data) if p]
        path = draw(st.sampled_from(paths))
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        how = draw(st.sampled_from(["replace", "delete", "add", "rename"]))
        if how == "replace":
            parent[path[-1]] = draw(values)
        elif how == "delete":
            del parent[path[-1]]
        elif how == "add" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=10))] = draw(values)
        elif how == "rename" and isinstance(parent, dict):
            parent[str(path[-1]).lower() + "_"] = parent.pop(path[-1])
    return data


@settings(FAST, max_examples=500)
@given(mutated())
def test_mutated_policies_load_or_raise_policy_error(data: dict[str, Any]) -> None:
    text = json.dumps(data)  # JSON is YAML, and 2x faster to write than yaml.safe_dump
    try:
        loaded = load_policy_text(text, "fuzz")
    except PolicyError as error:
        assert error.reason and error.source == "fuzz"
    else:
        assert loaded.policy.spec.replicas.floor >= 1 and len(loaded.hash) == 64


TEXT = DEFAULT.read_text(encoding="utf-8")


@settings(FAST, max_examples=200)
@given(st.integers(0, len(TEXT)), st.integers(0, 8), st.text(max_size=6))
def test_mangled_policy_text_loads_or_raises_policy_error(at: int, cut: int, insert: str) -> None:
    text = TEXT[:at] + insert + TEXT[at + cut :]
    try:
        load_policy_text(text, "fuzz")
    except PolicyError as error:
        assert error.reason


def test_mutation_strategy_reaches_the_data() -> None:
    """Guard against a vacuous fuzz: the unmutated data loads; a mutated copy differs."""
    original = default_data()
    assert load_policy_text(json.dumps(original), "x").hash
    sample = copy.deepcopy(original)
    del sample["spec"]["cooldown"]
    assert _paths(sample) != _paths(original)
