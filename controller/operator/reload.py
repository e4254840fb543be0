"""Mounted files (policy, runbooks) hot-reloaded by polling; a bad edit keeps the last good.

Why polling and not inotify: a ConfigMap volume is updated by the kubelet with an atomic
symlink swap (``policy.yaml -> ..data/policy.yaml``, ``..data -> ..2026_12_04_02_30_00.123``):
the file the operator opened is never written, a new directory appears and one symlink is
renamed over another. Watches on the file miss that unless they watch the parent for the
rename and re-arm; a poll of ``stat`` (which follows the symlinks) sees a new inode at once,
costs one syscall per file per poll, and needs no extra thread or dependency.

A fingerprint is what ``stat`` says about the resolved file (real path, device, inode, size,
mtime in ns); a folder's is the sorted fingerprints of its ``*.md`` files plus the folder's
own real path. A change is loaded with the same loader as at start-up; when it fails the
last good value stays in force, ``on_failure`` is told once per bad version (log, Kubernetes
Event, ``aiops_config_reload_failures_total``), and the next good edit is taken as usual.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Generic, Protocol, TypeVar, overload

import structlog

from controller.errors import AiopsError, InputError

log = structlog.get_logger("aiops.operator.reload")
T = TypeVar("T")
Fingerprint = tuple[object, ...]
FailureHook = Callable[[str, str], None]
"""Called with (kind, reason) once per bad version of a watched file."""
ReloadHook = Callable[[str], None]
"""Called with the kind after a good new version took effect."""


def file_fingerprint(path: Path) -> Fingerprint:
    """What ``stat`` says about ``path`` after following symlinks; ``("missing",)`` if gone."""
    try:
        real = os.path.realpath(path)
        st = os.stat(real)
    except OSError as exc:
        return ("missing", exc.errno)
    return (real, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def folder_fingerprint(path: Path, pattern: str = "*.md") -> Fingerprint:
    """The folder's real path and every matching file's fingerprint, sorted by name."""
    try:
        real = Path(os.path.realpath(path))
        if not real.is_dir():
            return ("missing", "not a folder")
        names = sorted(p.name for p in real.glob(pattern))
    except OSError as exc:
        return ("missing", exc.errno)
    return (str(real), *((name, file_fingerprint(real / name)) for name in names))


class Watched(Generic[T]):
    """One mounted file or folder: its current good value, reloaded when it changes.

    The first load happens in the constructor and raises (a bad file at start-up is the
    operator's user error, exit 2); later failures never raise.
    """

    def __init__(
        self,
        kind: str,
        path: Path,
        load: Callable[[Path], T],
        *,
        fingerprint: Callable[[Path], Fingerprint] = file_fingerprint,
        on_reload: ReloadHook = lambda _kind: None,
        on_failure: FailureHook = lambda _kind, _reason: None,
    ) -> None:
        self.kind = kind
        self.path = path
        self._load = load
        self._fingerprint = fingerprint
        self._on_reload = on_reload
        self._on_failure = on_failure
        self._seen = fingerprint(path)
        self.current: T = load(path)
        self.failed: str | None = None
        """The reason the newest version was refused (None: the newest is in force)."""

    def poll(self) -> bool:
        """Load the file if it changed; True when a new good version took effect."""
        seen = self._fingerprint(self.path)
        if seen == self._seen:
            return False
        self._seen = seen
        try:
            value = self._load(self.path)
        except (AiopsError, OSError, ValueError) as exc:
            reason = exc.one_line() if isinstance(exc, InputError) else str(exc)
            self.failed = reason
            log.error("config reload failed, last good version kept", kind=self.kind,
                      path=str(self.path), reason=reason)  # fmt: skip
            self._on_failure(self.kind, reason)
            return False
        self.current = value
        self.failed = None
        log.info("config reloaded", kind=self.kind, path=str(self.path))
        self._on_reload(self.kind)
        return True


class Pollable(Protocol):
    """One watched file as the reloader sees it."""

    kind: str

    def poll(self) -> bool:
        """Reload if changed; True when a new good version took effect."""
        ...


class Reloader:
    """Polls every watched file at most once per ``every`` seconds (call it each tick)."""

    def __init__(
        self,
        watched: Sequence[Pollable],
        *,
        every: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.watched = tuple(watched)
        self._every = every
        self._monotonic = monotonic
        self._last: float | None = None

    def poll(self) -> list[str]:
        """The kinds that took a new good version in this poll (none when not yet due)."""
        now = self._monotonic()
        if self._last is not None and now - self._last < self._every:
            return []
        self._last = now
        return [w.kind for w in self.watched if w.poll()]


class LiveSequence(Sequence[T]):
    """A read-only sequence that always shows ``source()``'s current value.

    The loop's config, the planner context and the LLM planner each keep the runbook list
    they were built with; handing them this view makes a reload visible to all of them at
    once, without rebuilding any.
    """

    def __init__(self, source: Callable[[], Sequence[T]]) -> None:
        self._source = source

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[T]: ...

    def __getitem__(self, index: int | slice) -> T | Sequence[T]:
        return self._source()[index]

    def __len__(self) -> int:
        return len(self._source())
