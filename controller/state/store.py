"""``StateStore``: a small namespaced key-value port, durable in SQLite, twin in memory.

Why hand-written: the records are a few hundred small JSON documents written on decisions
(not per tick), so the standard library's ``sqlite3`` in WAL mode with ``synchronous=FULL``
is the whole need; an ORM or a separate key-value server would add a dependency and a
failure mode for no gain. The file sits beside the planner's SQLite checkpointer.

Values are JSON documents; every write is one committed transaction, so a process killed at
any instant leaves either the old or the new value (never a torn one).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from controller.errors import PermanentError

Json = Any
"""A JSON-serialisable value (dicts, lists, strings, numbers, booleans, None)."""


class StateStore(Protocol):
    """Namespaced JSON records; ``space`` names the owner (``history``, ``tracks``, ...)."""

    def get(self, space: str, key: str) -> Json | None:
        """The record, or None."""
        ...

    def put(self, space: str, key: str, value: Json) -> None:
        """Create or replace one record durably."""
        ...

    def delete(self, space: str, key: str) -> None:
        """Remove one record (absent is fine)."""
        ...

    def items(self, space: str) -> list[tuple[str, Json]]:
        """Every record of ``space``, ordered by key."""
        ...


class InMemoryStateStore:
    """The store's twin for replay and tests; values are copied through JSON so a caller
    can never keep a live reference into the store (as with the durable one)."""

    def __init__(self) -> None:
        self._spaces: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def get(self, space: str, key: str) -> Json | None:
        """The record, or None."""
        with self._lock:
            raw = self._spaces.get(space, {}).get(key)
        return None if raw is None else json.loads(raw)

    def put(self, space: str, key: str, value: Json) -> None:
        """Create or replace one record."""
        raw = json.dumps(value, sort_keys=True)
        with self._lock:
            self._spaces.setdefault(space, {})[key] = raw

    def delete(self, space: str, key: str) -> None:
        """Remove one record."""
        with self._lock:
            self._spaces.get(space, {}).pop(key, None)

    def items(self, space: str) -> list[tuple[str, Json]]:
        """Every record of ``space`` by key."""
        with self._lock:
            rows = sorted(self._spaces.get(space, {}).items())
        return [(key, json.loads(raw)) for key, raw in rows]


SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    space TEXT NOT NULL,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (space, key)
) WITHOUT ROWID
"""


class SqliteStateStore:
    """The durable store: one SQLite file, WAL journal, every write committed at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise PermanentError(f"{path}: cannot open the state store: {exc}") from exc

    @contextmanager
    def _cursor(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._db
            except sqlite3.Error as exc:
                raise PermanentError(f"{self.path}: state store: {exc}") from exc

    def get(self, space: str, key: str) -> Json | None:
        """The record, or None."""
        with self._cursor() as db:
            row = db.execute(
                "SELECT value FROM records WHERE space = ? AND key = ?", (space, key)
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, space: str, key: str, value: Json) -> None:
        """Create or replace one record in its own committed transaction."""
        raw = json.dumps(value, sort_keys=True)
        with self._cursor() as db:
            db.execute(
                "INSERT INTO records (space, key, value) VALUES (?, ?, ?) "
                "ON CONFLICT (space, key) DO UPDATE SET value = excluded.value",
                (space, key, raw),
            )

    def delete(self, space: str, key: str) -> None:
        """Remove one record."""
        with self._cursor() as db:
            db.execute("DELETE FROM records WHERE space = ? AND key = ?", (space, key))

    def items(self, space: str) -> list[tuple[str, Json]]:
        """Every record of ``space`` by key."""
        with self._cursor() as db:
            rows = db.execute(
                "SELECT key, value FROM records WHERE space = ? ORDER BY key", (space,)
            ).fetchall()
        return [(str(key), json.loads(raw)) for key, raw in rows]

    def close(self) -> None:
        """Close the file (writes are already committed)."""
        with self._lock:
            self._db.close()
