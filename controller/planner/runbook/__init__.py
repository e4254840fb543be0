"""The deterministic runbook planner: runbook catalogue, planning and action rendering."""
