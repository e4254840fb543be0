"""Policy guardrails: a deterministic, deny-by-default engine independent of any LLM."""
