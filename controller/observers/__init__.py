"""Observers turn backends (recordings now; Prometheus, OTLP traces, Kubernetes later) into typed,
timestamped observations. A failed or empty query is data, never "healthy"."""
