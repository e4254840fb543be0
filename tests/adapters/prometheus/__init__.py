"""The Prometheus observer against the real Prometheus server, and the shared retry layer."""
