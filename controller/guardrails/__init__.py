"""Policy guardrails: a deterministic, deny-by-default engine independent of any LLM."""

from controller.guardrails.engine import evaluate
from controller.guardrails.loader import (
    LastKnownGood,
    LoadedPolicy,
    load_policy,
    load_policy_text,
    policy_json_schema,
    write_policy_schema,
)
from controller.guardrails.policy import Policy, PolicyMode

__all__ = [
    "LastKnownGood",
    "LoadedPolicy",
    "Policy",
    "PolicyMode",
    "evaluate",
    "load_policy",
    "load_policy_text",
    "policy_json_schema",
    "write_policy_schema",
]
