"""The live operator (``aiops run``): the control loop over Prometheus, the OTLP receiver and
the Kubernetes cache and writers, with one HTTP server, hot-reloaded policy and runbooks, a
wall-clock tick scheduler and a graceful shutdown.

- ``root``: the composition root (``Operator``): picks every concrete, runs and stops them;
- ``modes``: shadow / propose / auto, and what each does to the policy and the writer;
- ``scheduler``: the bounded, drift-free tick scheduler that skips rather than piles up;
- ``reload``: mounted files (ConfigMap symlink swaps) polled, the last good version kept;
- ``http``: the one Starlette app (probes, ``/metrics``, OTLP/HTTP, the Slack slot) on uvicorn;
- ``ports``: what other engineers plug in (leadership, kill switch, events, approvals);
- ``fleet``, ``outbound``, ``journal``, ``archive``, ``logs``: the live fleet, outbound request
  counting, the ledger tap, incident files for replay, and log/trace correlation.

See docs/operator.md.
"""
