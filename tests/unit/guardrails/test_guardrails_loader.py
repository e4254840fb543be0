"""The loader: every bad policy of CH-21 is rejected with a location and a reason, never a
traceback; good ones load with a stable hash; LastKnownGood keeps the old one on a bad push."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jsonschema  # type: ignore[import-untyped]
import pytest

from controller.errors import PolicyError
from controller.guardrails.loader import (
    MAX_POLICY_BYTES,
    LastKnownGood,
    load_policy,
    load_policy_text,
    policy_json_schema,
    write_policy_schema,
)
from tests.unit.guardrails.guardrails_helpers import DEFAULT, POLICIES, default_data

TEXT = DEFAULT.read_text(encoding="utf-8")


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing ``needle``."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def edit(old: str, new: str, text: str = TEXT) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def rejected(text: str) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        load_policy_text(text, "pushed.yaml")
    assert caught.value.source == "pushed.yaml"
    return caught.value


# Each row: (id, edited text, expected location, a phrase of the reason).
BAD = [
    ("invalid-yaml", edit("  rollback:\n", "  rollback: [\n"), "column", "invalid YAML"),
    ("tab-indent", edit("    floor: 1", "\tfloor: 1"), "line", "invalid YAML"),
    (
        "schema-wrong-type",
        edit("ceiling: 50", 'ceiling: "fifty"'),
        'spec.replicas.ceiling (line ⟪ceiling: "fifty"⟫)',
        "valid integer (got 'fifty')",
    ),
    (
        "schema-missing-key",
        edit("    maxDepth: 3", "    depth: 3"),
        "spec.rollback.maxDepth (line ⟪rollback:⟫)",
        "required key is missing",
    ),
    (
        "wildcard-allow",
        edit("    allow: []", '    allow: ["*"]'),
        "spec.namespaces.allow[0] (line ⟪allow:⟫)",
        "wildcard",
    ),
    (
        "glob-deny",
        edit("    deny: []", "    deny: [team-*]"),
        "spec.namespaces.deny[0] (line ⟪deny:⟫)",
        "never mean 'all'",
    ),
    (
        "empty-name",
        edit("    allow: []", '    allow: [""]'),
        "spec.namespaces.allow[0] (line ⟪allow:⟫)",
        "empty selector never means 'all'",
    ),
    (
        "wildcard-label",
        edit("      aiops.dev/remediate: enabled", '      aiops.dev/remediate: "*"'),
        'spec.namespaces.allowLabels.aiops.dev/remediate (line ⟪remediate: "*"⟫)',
        "wildcard",
    ),
    (
        "wildcard-approval-namespaces",
        edit("    namespaces: []", "    namespaces: ['*']"),
        "spec.approval.namespaces[0] (line ⟪namespaces: ['*']⟫)",
        "wildcard",
    ),
    (
        "bad-namespace-name",
        edit("    deny: []", "    deny: [Shop_1]"),
        "spec.namespaces.deny[0] (line ⟪deny: [Shop_1]⟫)",
        "'Shop_1' is not a namespace name",
    ),
    (
        "bad-label-key",
        edit("      aiops.dev/remediate: enabled", "      -bad: enabled"),
        "spec.namespaces.allowLabels.-bad (line ⟪-bad:⟫)",
        "'-bad' is not a Kubernetes label key",
    ),
    (
        "long-label-key",
        edit("      aiops.dev/remediate: enabled", "      aiops.dev/" + "r" * 64 + ": enabled"),
        "spec.namespaces.allowLabels",
        "too long for a Kubernetes label key",
    ),
    (
        "bad-label-value",
        edit("      aiops.dev/remediate: enabled", "      aiops.dev/remediate: yes please"),
        "spec.namespaces.allowLabels.aiops.dev/remediate (line ⟪yes please⟫)",
        "'yes please' is not a Kubernetes label value",
    ),
    (
        "ceiling-10000",
        edit("ceiling: 50", "ceiling: 10000"),
        "spec.replicas.ceiling (line ⟪ceiling:⟫)",
        "above 1000",
    ),
    (
        "max-replicas-key",
        edit("    ceiling: 50", "    ceiling: 50\n    max_replicas: 10000"),
        "spec.replicas.max_replicas (line ⟪max_replicas:⟫)",
        "unknown key",
    ),
    (
        "floor-zero",
        edit("floor: 1", "floor: 0"),
        "spec.replicas.floor (line ⟪floor:⟫)",
        "never scale to 0",
    ),
    (
        "floor-above-ceiling",
        edit("floor: 1", "floor: 60"),
        "spec.replicas.ceiling (line ⟪ceiling:⟫)",
        "below floor 60",
    ),
    (
        "step-up-one",
        edit("maxStepUpFactor: 2.0", "maxStepUpFactor: 1"),
        "spec.replicas.maxStepUpFactor (line ⟪maxStepUpFactor:⟫)",
        "above 1",
    ),
    (
        "step-up-huge",
        edit("maxStepUpFactor: 2.0", "maxStepUpFactor: 10.5"),
        "spec.replicas.maxStepUpFactor (line ⟪maxStepUpFactor:⟫)",
        "at most 10",
    ),
    (
        "step-down-zero",
        edit("maxStepDownFraction: 0.5", "maxStepDownFraction: 0"),
        "spec.replicas.maxStepDownFraction (line ⟪maxStepDownFraction:⟫)",
        "between 0 and 1",
    ),
    (
        "step-down-one",
        edit("maxStepDownFraction: 0.5", "maxStepDownFraction: 1.0"),
        "spec.replicas.maxStepDownFraction (line ⟪maxStepDownFraction:⟫)",
        "between 0 and 1",
    ),
    (
        "step-nan",
        edit("maxStepDownFraction: 0.5", "maxStepDownFraction: .nan"),
        "spec.replicas.maxStepDownFraction (line ⟪maxStepDownFraction:⟫)",
        "finite number",
    ),
    (
        "bool-as-number",
        edit("maxDepth: 3", "maxDepth: true"),
        "spec.rollback.maxDepth (line ⟪maxDepth:⟫)",
        "valid integer",
    ),
    (
        "duplicate-key",
        edit("    ceiling: 50", "    ceiling: 5000\n    ceiling: 50"),
        "spec.replicas.ceiling (line ⟪ceiling: 50 ⟫)",
        "duplicate key 'ceiling' (first on line ⟪ceiling: 5000⟫)",
    ),
    (
        "duplicate-top-level",
        TEXT + "spec: {}\n",
        "spec (line ⟪spec: {}⟫)",
        "duplicate key 'spec'",
    ),
    (
        "unknown-kind-delete",
        edit("allowed: [scale,", "allowed: [delete, scale,"),
        "spec.actions.allowed[0] (line ⟪allowed: [delete⟫)",
        "unknown action kind 'delete'",
    ),
    (
        "unknown-kind-exec",
        edit("pause_rollout]\n  replicas", "pause_rollout, exec]\n  replicas"),
        "spec.actions.allowed[5] (line ⟪exec]⟫)",
        "there is no delete, exec or recreate",
    ),
    (
        "unknown-kind-recreate-approval",
        edit("kinds: [rollback,", "kinds: [recreate, rollback,"),
        "spec.approval.kinds[0] (line ⟪kinds: [recreate⟫)",
        "unknown action kind 'recreate'",
    ),
    (
        "non-mutating-kind",
        edit("allowed: [scale,", "allowed: [no_action, scale,"),
        "spec.actions.allowed[0] (line ⟪no_action⟫)",
        "always allowed",
    ),
    (
        "kind-twice",
        edit("allowed: [scale,", "allowed: [scale, scale,"),
        "spec.actions.allowed (line ⟪allowed: [scale, scale⟫)",
        "scale is listed twice",
    ),
    (
        "cooldown-zero",
        edit("cooldown: 10m", "cooldown: 0s"),
        "spec.cooldown (line ⟪cooldown:⟫)",
        "positive",
    ),
    (
        "cooldown-garbage",
        edit("cooldown: 10m", "cooldown: soon"),
        "spec.cooldown (line ⟪cooldown:⟫)",
        "invalid duration 'soon'",
    ),
    (
        "cooldown-overflow",
        edit("cooldown: 10m", "cooldown: 99999999999999h"),
        "spec.cooldown (line ⟪cooldown:⟫)",
        "out of range",
    ),
    (
        "cooldown-weeks",
        edit("cooldown: 10m", "cooldown: 800h"),
        "spec.cooldown (line ⟪cooldown:⟫)",
        "longer than 30 days",
    ),
    (
        "cooldown-fraction",
        edit("cooldown: 10m", "cooldown: 1.5s"),
        "spec.cooldown (line ⟪cooldown:⟫)",
        "one-second resolution",
    ),
    (
        "freshness-hours",
        edit("freshnessMax: 60s", "freshnessMax: 2h"),
        "spec.freshnessMax (line ⟪freshnessMax:⟫)",
        "never fresh",
    ),
    (
        "rate-zero",
        edit("global: {actions: 3,", "global: {actions: 0,"),
        "spec.rateLimits.global.actions (line ⟪global:⟫)",
        "greater than or equal to 1",
    ),
    (
        "unknown-mode",
        edit("  mode: enforce", "  mode: yolo"),
        "spec.mode (line ⟪mode: yolo⟫)",
        "'enforce' or 'dry_run'",
    ),
    (
        "bad-min-risk",
        edit("minRisk: high", "minRisk: extreme"),
        "spec.approval.minRisk (line ⟪minRisk:⟫)",
        "'low', 'medium' or 'high'",
    ),
    (
        "missing-approval",
        edit("  approval:\n", "  approvals:\n"),
        "spec.approval (line ⟪spec:⟫)",
        "required key is missing",
    ),
    (
        "wrong-api-version",
        edit("aiops.dev/v1alpha1", "aiops.dev/v2"),
        "apiVersion (line ⟪apiVersion:⟫)",
        "got 'aiops.dev/v2'",
    ),
    (
        "wrong-kind",
        edit("kind: Policy", "kind: Incident"),
        "kind (line ⟪kind: Incident⟫)",
        "must be 'Policy'",
    ),
    ("no-kind", edit("kind: Policy # always Policy\n", ""), "kind", "required: kind: Policy"),
    ("a-list", "- scale\n- restart\n", "(root)", "must be a mapping"),
    ("a-scalar", "hello\n", "(root)", "not a str"),
    ("empty", "# nothing\n", "(root)", "the document is empty"),
    ("two-documents", TEXT + "---\n" + TEXT, "column", "invalid YAML"),
    (
        "alias",
        edit("    deny: []", "    deny: *x").replace("    allow: []", "    allow: &x []"),
        "spec.namespaces.deny (line ⟪deny:⟫)",
        "aliases",
    ),
    (
        "merge-key",
        edit("  rollback:\n", "  rollback:\n    <<: {maxDepth: 9}\n"),
        "spec.rollback (line ⟪<<:⟫)",
        "no merge keys",
    ),
    (
        "complex-key",
        edit("  cooldown: 10m", "  ? [a, b]\n  : 1\n  cooldown: 10m"),
        "spec (line ⟪? [a⟫)",
        "plain names",
    ),
    (
        "deep",
        edit("  freezeWindows: []", "  freezeWindows: " + "[" * 30 + "]" * 30),
        "line ⟪freezeWindows: [[⟫",
        "invalid YAML: nesting deeper than 20 levels",
    ),
    ("far-too-deep", "a: " + "[" * 10**6, "line 1, column 23", "nesting deeper than 20 levels"),
    (
        "bad-date",
        edit("  freezeWindows: []", "  freezeWindows: [{name: x, from: 2026-13-45T00:00:00Z}]"),
        "spec.freezeWindows[0].from (line ⟪freezeWindows: [{name: x⟫)",
        "month value is outside expected range",
    ),
    (
        "python-tag",
        edit("  freezeWindows: []", "  freezeWindows: !!python/object:os.system {}"),
        "column",
        "invalid YAML",
    ),
    ("control-char", TEXT + "\x07\n", "column", "invalid YAML: unacceptable character #x0007"),
    (
        "huge-int",
        edit("floor: 1", "floor: " + "9" * 5000),
        "spec.replicas.floor (line ⟪floor:⟫)",
        "invalid YAML value: integer of 5000 digits is too large",
    ),
]

FREEZE = [
    (
        "end-before-start",
        '{name: w, weekly: {days: [sat], start: "10:00", end: "09:00", timezone: UTC}}',
        "spec.freezeWindows[0].weekly.end",
        "must be after start",
    ),
    (
        "end-equals-start",
        '{name: w, weekly: {days: [sat], start: "10:00", end: "10:00", timezone: UTC}}',
        "spec.freezeWindows[0].weekly.end",
        "must be after start",
    ),
    (
        "unknown-timezone",
        '{name: w, weekly: {days: [sat], start: "10:00", end: "12:00", timezone: Mars/Olympus}}',
        "spec.freezeWindows[0].weekly.timezone",
        "unknown timezone 'Mars/Olympus'",
    ),
    (
        "timezone-directory",
        '{name: w, weekly: {days: [sat], start: "10:00", end: "12:00", timezone: America}}',
        "spec.freezeWindows[0].weekly.timezone",
        "unknown timezone",
    ),
    (
        "bad-clock",
        '{name: w, weekly: {days: [sat], start: "25:00", end: "26:00", timezone: UTC}}',
        "spec.freezeWindows[0].weekly.start",
        "HH:MM",
    ),
    (
        "unknown-day",
        '{name: w, weekly: {days: [caturday], start: "10:00", end: "12:00", timezone: UTC}}',
        "spec.freezeWindows[0].weekly.days[0]",
        "'mon'",
    ),
    (
        "to-before-from",
        "{name: w, from: 2026-03-02T00:00:00Z, to: 2026-03-01T00:00:00Z}",
        "spec.freezeWindows[0].to",
        "to must be after from",
    ),
    (
        "naive-time",
        "{name: w, from: 2026-03-02T00:00:00, to: 2026-03-03T00:00:00Z}",
        "spec.freezeWindows[0].from",
        "must carry a timezone",
    ),
    (
        "time-out-of-range",
        "{name: w, from: 0001-01-01T00:30:00+01:00, to: 2026-03-03T00:00:00Z}",
        "spec.freezeWindows[0].from",
        "out of range",
    ),
    (
        "both-forms",
        "{name: w, from: 2026-03-02T00:00:00Z, to: 2026-03-03T00:00:00Z,"
        ' weekly: {days: [sat], start: "10:00", end: "12:00", timezone: UTC}}',
        "spec.freezeWindows[0]",
        "not both",
    ),
    (
        "no-form",
        "{name: w, from: 2026-03-02T00:00:00Z}",
        "spec.freezeWindows[0]",
        "either weekly or both",
    ),
]


def _expand(template: str, text: str) -> str:
    """Replace each ``⟪needle⟫`` with the line number of ``needle`` in ``text``."""
    out, rest = "", template
    while "⟪" in rest:
        head, _, tail = rest.partition("⟪")
        needle, _, rest = tail.partition("⟫")
        out += head + str(line_of(text, needle))
    return out + rest


@pytest.mark.parametrize(
    ("text", "location", "reason"), [row[1:] for row in BAD], ids=[row[0] for row in BAD]
)
def test_bad_policy_is_rejected_with_location_and_reason(
    text: str, location: str, reason: str
) -> None:
    error = rejected(text)
    expected = _expand(location, text)
    if expected in ("column", "line"):
        assert error.location.startswith("line ") and expected in error.location
    else:
        assert error.location == expected or (expected and error.location.startswith(expected))
    assert _expand(reason, text) in error.reason
    assert "Traceback" not in str(error)


@pytest.mark.parametrize(
    ("window", "location", "reason"), [row[1:] for row in FREEZE], ids=[row[0] for row in FREEZE]
)
def test_bad_freeze_window(window: str, location: str, reason: str) -> None:
    text = edit("  freezeWindows: []", f"  freezeWindows:\n    - {window}")
    error = rejected(text)
    assert error.location.startswith(location)
    assert f"(line {line_of(text, '    - {name: w')})" in error.location
    assert reason in error.reason


def test_first_error_is_reported_with_a_count_of_the_rest() -> None:
    error = rejected(edit("floor: 1", "floor: 0").replace("maxDepth: 3", "maxDepth: 0"))
    assert error.location.startswith("spec.replicas.floor")
    assert error.reason.endswith("(and 1 more problems)")


def test_file_over_one_mebibyte_is_rejected_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_bytes(b"# " + b"x" * (10 * 1024 * 1024) + b"\n[")  # 10 MB, invalid YAML at the end
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert (caught.value.location, caught.value.reason) == (
        "",
        "larger than 1048576 bytes (1 MiB): not a policy",
    )
    text = "#" * MAX_POLICY_BYTES + "\n"
    assert "1 MiB" in rejected(text).reason
    assert "1 MiB" in rejected("#" + "é" * (MAX_POLICY_BYTES // 2)).reason  # bytes, not characters


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda d: d / "missing.yaml", "cannot read"),
        (lambda d: d, "cannot read"),
    ],
    ids=["missing", "directory"],
)
def test_unreadable_file(tmp_path: Path, make: Callable[[Path], Path], reason: str) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(make(tmp_path))
    assert caught.value.location == "" and reason in caught.value.reason


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(TEXT.encode("utf-8") + b"# caf\xe9\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    line = TEXT.count("\n") + 1
    assert caught.value.location == f"line {line} (byte {len(TEXT.encode()) + 5})"
    assert caught.value.reason == "not UTF-8 text"


def test_shipped_policies_load_cleanly() -> None:
    for path in [DEFAULT, *sorted((POLICIES / "examples").glob("*.yaml"))]:
        loaded = load_policy(path)
        assert loaded.warnings == () and loaded.source == str(path)
    assert load_policy(DEFAULT).policy.spec.mode == "enforce"
    assert load_policy(POLICIES / "examples" / "shadow.yaml").policy.spec.mode == "dry_run"


ALLOWED_LINE = "allowed: [scale, adjust_hpa, rollback, restart, pause_rollout]"
WARNINGS = [
    ("empty-allowed", [(ALLOWED_LINE, "allowed: []")], "every mutating action is denied"),
    (
        "approval-kind-not-allowed",
        [(ALLOWED_LINE, "allowed: [scale, adjust_hpa]")],
        "rollback is not in spec.actions.allowed",
    ),
    (
        "nothing-opted-in",
        [("allowLabels:\n      aiops.dev/remediate: enabled", "allowLabels: {}")],
        "no namespace is opted in",
    ),
    (
        "protected-allowed",
        [("allow: []", "allow: [kube-system]")],
        "kube-system is always protected",
    ),
    (
        "allowed-and-denied",
        [("allow: []", "allow: [shop]"), ("deny: []", "deny: [shop]")],
        "shop is also denied; deny wins",
    ),
    (
        "namespace-cap-above-global",
        [("perNamespace: {actions: 2", "perNamespace: {actions: 5")],
        "global binds",
    ),
]


@pytest.mark.parametrize(
    ("edits", "warning"), [row[1:] for row in WARNINGS], ids=[row[0] for row in WARNINGS]
)
def test_legal_but_suspicious_policies_load_with_warnings(
    edits: list[tuple[str, str]], warning: str
) -> None:
    text = TEXT
    for old, new in edits:
        text = edit(old, new, text)
    loaded = load_policy_text(text, "pushed.yaml")
    assert [w for w in loaded.warnings if warning in w], loaded.warnings


def test_yaml_12_scalars_keep_times_and_words_as_strings() -> None:
    window = "{name: w, weekly: {days: [sat], start: 09:30, end: 23:59, timezone: UTC}}"
    text = edit("  freezeWindows: []", f"  freezeWindows: [{window}]")
    text = edit("    deny: []", "    deny: [on, no]", text)
    spec = load_policy_text(text, "pushed.yaml").policy.spec
    assert spec.freeze_windows[0].weekly is not None
    assert spec.freeze_windows[0].weekly.minutes() == (570, 1439)
    assert spec.namespaces.deny == ("on", "no")


def test_hash_depends_on_content_not_formatting() -> None:
    base = load_policy_text(TEXT, "a")
    reformatted = load_policy_text(json.dumps(default_data(), indent=4), "b")
    respelled = load_policy_text(edit("cooldown: 10m", "cooldown: 600"), "c")
    changed = load_policy_text(edit("ceiling: 50", "ceiling: 40"), "d")
    assert base.hash == reformatted.hash == respelled.hash != changed.hash
    assert len(base.hash) == 64


CH21_PUSHES = [
    row[1]
    for row in BAD
    if row[0]
    in {
        "invalid-yaml",
        "schema-wrong-type",
        "wildcard-allow",
        "ceiling-10000",
        "max-replicas-key",
        "duplicate-key",
        "unknown-kind-delete",
        "unknown-kind-exec",
        "unknown-kind-recreate-approval",
    }
]


def test_last_known_good_survives_every_bad_push(tmp_path: Path) -> None:
    keeper = LastKnownGood(load_policy(DEFAULT))
    before = keeper.active.hash
    huge = tmp_path / "huge.yaml"
    huge.write_bytes(b"#" * (10 * 1024 * 1024))
    pushes: list[Path | str] = [*CH21_PUSHES, huge, tmp_path / "missing.yaml"]
    for push in pushes:
        error = keeper.offer(push)
        assert isinstance(error, PolicyError)
        assert keeper.active.hash == before
    assert keeper.offer(edit("ceiling: 50", "ceiling: 40"), source="v2") is None
    assert keeper.active.source == "v2" and keeper.active.hash != before
    assert keeper.offer(POLICIES / "examples" / "shadow.yaml") is None
    assert keeper.active.name == "shadow"


def test_empty_allow_list_loads_and_denies_everything() -> None:
    text = edit("allowed: [scale, adjust_hpa, rollback, restart, pause_rollout]", "allowed: []")
    keeper = LastKnownGood(load_policy(DEFAULT))
    assert keeper.offer(text) is None
    assert keeper.active.policy.spec.actions.allowed == ()


def test_committed_schema_is_current() -> None:
    """Regenerate with: python -c "from pathlib import Path; from controller.guardrails.loader
    import write_policy_schema; write_policy_schema(Path('policies/policy.schema.json'))" """
    committed = json.loads((POLICIES / "policy.schema.json").read_text(encoding="utf-8"))
    assert committed == policy_json_schema()


def test_write_policy_schema_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "schema.json"
    write_policy_schema(path)
    assert json.loads(path.read_text(encoding="utf-8")) == policy_json_schema()


def test_schema_accepts_the_shipped_policies_and_rejects_unknown_kinds() -> None:
    validator = jsonschema.Draft202012Validator(policy_json_schema())
    for path in [DEFAULT, *(POLICIES / "examples").glob("*.yaml")]:
        validator.validate(load_policy(path).policy.canonical())
    bad = default_data()
    bad["spec"]["actions"]["allowed"] = ["delete"]
    assert not validator.is_valid(bad)
    bad = default_data()
    bad["spec"]["replicas"]["max_replicas"] = 10000
    assert not validator.is_valid(bad)
