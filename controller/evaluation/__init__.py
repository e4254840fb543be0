"""``aiops eval``: score a folder of incident files through the same replay as ``aiops replay``.

``runner`` finds the files and replays each one (``controller.replay.engine.run_replay``, the
function behind ``aiops replay``: no second code path), in parallel over processes;
``outcome`` reduces one replay to the facts the metrics need; ``metrics`` aggregates them,
pure; ``baseline`` is the naive ranking the controller must beat; ``render`` writes the
table, Markdown or JSON. Layer 2, next to the report renderers: it reads replay results and
never reaches into the loop.
"""
