"""Load and validate policy documents: a bad policy never loads, and never replaces a good one.

The order matters (R12, CH-21): the size is checked before parsing, the YAML is read strictly
(controller.yamlfile: YAML 1.2, no duplicate keys, tags or aliases), the header before the
schema, the schema (policy.Policy) before the checks that need the outside world (timezones),
and only then is a hash computed. Every failure is a
PolicyError(source, location, reason) whose location is a key path with its line, such as
``spec.replicas.ceiling (line 31)``. Advisory findings (an empty allow-list means deny all) are
warnings on the loaded policy, not errors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from controller.errors import PolicyError
from controller.guardrails.policy import API_VERSION, KIND, Policy
from controller.models.actions import ActionKind
from controller.models.base import FrozenModel, canonical_json, sha256_hex
from controller.yamlfile import YamlDocument, YamlSpec, parse_yaml, read_text, require_mapping

MAX_POLICY_BYTES = 1024 * 1024
"""Larger files are rejected before parsing (a 10 MB "policy" is a mistake or an attack)."""
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
POLICY_YAML = YamlSpec(what="policy", error=PolicyError, max_bytes=MAX_POLICY_BYTES)


class LoadedPolicy(FrozenModel):
    """A validated policy, its content hash, where it came from and its lint warnings."""

    policy: Policy
    hash: str
    source: str
    warnings: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The policy's metadata.name."""
        return self.policy.name


def policy_hash(policy: Policy) -> str:
    """sha256 of the canonical JSON: comments, key order and spelling of numbers do not count."""
    return sha256_hex(canonical_json(policy.canonical()))


def load_policy(path: Path) -> LoadedPolicy:
    """Read, validate and hash the policy file at ``path``; raise PolicyError."""
    return load_policy_text(read_text(path, POLICY_YAML), str(path))


def load_policy_text(text: str, source: str) -> LoadedPolicy:
    """Validate and hash a policy given as text; ``source`` names it in errors."""
    document = parse_yaml(text, source, POLICY_YAML)  # the size limit is checked first
    data = require_mapping(document, source, POLICY_YAML)
    _check_header(data, document, source)
    policy = _validate(data, document, source)
    _check_timezones(policy, document, source)
    return LoadedPolicy(
        policy=policy, hash=policy_hash(policy), source=source, warnings=policy_warnings(policy)
    )


def _check_header(data: dict[Any, Any], document: YamlDocument, source: str) -> None:
    """Say plainly when the file is not a Policy at all, before any schema detail."""
    expected = {"apiVersion": API_VERSION, "kind": KIND}
    for key, wanted in expected.items():
        if key not in data:
            raise PolicyError(source, key, f"required: {key}: {wanted}")
        if data[key] != wanted:
            raise PolicyError(
                source, document.where((key,)), f"must be {wanted!r} (got {data[key]!r})"
            )


def _validate(data: dict[Any, Any], document: YamlDocument, source: str) -> Policy:
    """Schema validation; the first error (with its line) becomes the PolicyError."""
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        path = [part for part in first["loc"] if part != "[key]"]  # pydantic's marker for keys
        raise PolicyError(source, document.where(path), _reason(first) + more) from exc


def _reason(error: ErrorDetails) -> str:
    """A pydantic error in words: our own validator messages verbatim, the rest with input."""
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key: not part of the Policy format (keys are camelCase)"
    if kind == "missing":
        return "required key is missing"
    if kind == "value_error":
        return str(error.get("ctx", {}).get("error", error["msg"]))
    shown = repr(error["input"])
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"{error['msg']} (got {shown})"


def _check_timezones(policy: Policy, document: YamlDocument, source: str) -> None:
    """Timezone names need the tz database, so they are checked here, not in a validator."""
    for index, window in enumerate(policy.spec.freeze_windows):
        if window.weekly is None:
            continue
        try:
            ZoneInfo(window.weekly.timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            where = document.where(("spec", "freezeWindows", index, "weekly", "timezone"))
            reason = f"unknown timezone {window.weekly.timezone!r}: use an IANA name"
            raise PolicyError(source, where, reason + " such as Europe/Berlin") from exc


def policy_warnings(policy: Policy) -> tuple[str, ...]:
    """Findings that are legal but probably not what the author meant."""
    spec = policy.spec
    found: list[str] = []
    if not spec.actions.allowed:
        found.append("spec.actions.allowed is empty: every mutating action is denied")
    if not spec.namespaces.allow and not spec.namespaces.allow_labels:
        found.append("no namespace is opted in (allow and allowLabels are empty): deny all")
    for kind in spec.approval.kinds:
        if kind not in spec.actions.allowed:
            found.append(
                f"spec.approval.kinds: {kind} is not in spec.actions.allowed, so it never runs"
            )
    for name in spec.namespaces.allow:
        if name in policy.protected_namespaces:
            found.append(
                f"spec.namespaces.allow: {name} is always protected; allowing it does nothing"
            )
        elif name in spec.namespaces.deny:
            found.append(f"spec.namespaces.allow: {name} is also denied; deny wins")
    scaling_kinds = {ActionKind.SCALE, ActionKind.ADJUST_HPA} & set(spec.actions.allowed)
    if spec.scaling.adapters and not scaling_kinds:
        names = ", ".join(adapter.value for adapter in spec.scaling.adapters)
        found.append(
            f"spec.scaling.adapters names {names}, but neither scale nor adjust_hpa is in "
            "spec.actions.allowed, so no adapter is ever used"
        )
    if spec.rate_limits.per_namespace.actions > spec.rate_limits.global_.actions:
        found.append("spec.rateLimits.perNamespace allows more actions than global; global binds")
    return tuple(found)


def policy_json_schema() -> dict[str, Any]:
    """The JSON Schema of a policy document (committed as policies/policy.schema.json)."""
    schema = Policy.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": SCHEMA_DIALECT, **schema, "title": "aiops-controller Policy"}


def write_policy_schema(path: Path) -> None:
    """Regenerate the committed schema file; a test fails when it is stale."""
    text = json.dumps(policy_json_schema(), indent=2, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")


class LastKnownGood:
    """Holds the active policy; a new version replaces it only if it loads (R12, CH-21)."""

    def __init__(self, initial: LoadedPolicy) -> None:
        self._active = initial

    @property
    def active(self) -> LoadedPolicy:
        """The policy in force: the last one that loaded."""
        return self._active

    def offer(
        self, candidate: Path | str, *, source: str = "<offered policy>"
    ) -> PolicyError | None:
        """Load ``candidate`` (a file path, or the policy text itself) and switch if it is valid.

        Returns the PolicyError of a rejected version (the caller raises one alert per
        rejection) and None when the new version became active. A bad push never changes
        the active policy or its hash.
        """
        try:
            if isinstance(candidate, Path):
                loaded = load_policy(candidate)
            else:
                loaded = load_policy_text(candidate, source)
        except PolicyError as exc:
            return exc
        self._active = loaded
        return None
