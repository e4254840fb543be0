"""Deterministic, pure detection: burn rates, latency, saturation, crash loops, stuck rollouts,
change correlation; blind workloads are reported, never judged healthy."""
