"""Durable controller state: one store port, an SQLite store and its in-memory twin.

Everything the controller must remember across a restart that the planner checkpointer does
not already hold lives here: action history (cooldowns, rate caps, idempotency intents,
freezes), token budgets, the driver's per-incident tracks, posted approval requests and the
approval inbox. Typed views (``history``, ``inbox``, ``budget_store``) sit on top of the
store so each part reads and writes its own records and nothing else.
"""
