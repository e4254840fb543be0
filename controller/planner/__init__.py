"""Planners turn an incident into a plan: the deterministic runbook planner (always) and, later,
the LLM planner beside it."""
