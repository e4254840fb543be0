"""The controller's exception tree.

Callers catch by meaning, not by library: adapters translate SDK exceptions into these
at the boundary (``raise ... from exc``) so that an HTTP or Kubernetes client can be
replaced without touching the decision code.

::

    AiopsError
    ├── InputError            a user-supplied file or flag is wrong; exit status 2, no traceback
    │   ├── IncidentFileError     an incident file (path, JSON path, reason)
    │   ├── PolicyError           a policy document
    │   ├── RunbookError          a runbook file
    │   └── ConfigError           settings / configuration file
    ├── BackendUnavailableError  a backend a command needs cannot be reached; exit status 3
    ├── LedgerIntegrityError  a ledger fails hash-chain verification
    ├── TemporaryError        may succeed if repeated after ``delay`` seconds
    └── PermanentError        repeating cannot help: stop, record, report
"""

from __future__ import annotations

from pathlib import Path


class AiopsError(Exception):
    """Root of every error the controller raises on purpose."""


class InputError(AiopsError):
    """A user mistake in a file or flag: reported on one line, never as a traceback.

    Attributes:
        source: the file (or flag) at fault.
        location: where inside it (a JSON path such as ``$.series[3].values``, a line number,
            a field name); empty when the whole source is at fault.
        reason: what is wrong, in words a user can act on.
    """

    kind = "input"

    def __init__(self, source: str | Path, location: str, reason: str) -> None:
        self.source = str(source)
        self.location = location
        self.reason = reason
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """Render ``file: location: reason`` (location omitted when empty)."""
        where = f"{self.source}: {self.location}" if self.location else self.source
        return f"{where}: {self.reason}"


class IncidentFileError(InputError):
    """An incident file cannot be read, parsed or validated."""

    kind = "incident"


class PolicyError(InputError):
    """A policy document is invalid; it never loads."""

    kind = "policy"


class RunbookError(InputError):
    """A runbook file is invalid; it never loads."""

    kind = "runbook"


class ConfigError(InputError):
    """Controller settings are invalid."""

    kind = "config"


class BackendUnavailableError(AiopsError):
    """A backend a one-shot command needs (Prometheus for ``aiops capture``) did not answer.

    Not a user mistake in a file, but reported the same way: one line naming the backend,
    what was asked and what went wrong; nothing is written.
    """

    def __init__(self, backend: str, detail: str) -> None:
        self.backend = backend
        self.detail = detail
        super().__init__(f"{backend}: {detail}")


class LedgerIntegrityError(AiopsError):
    """A ledger's hash chain is broken (tampering) or it ends early (truncation)."""

    def __init__(self, source: str | Path, line: int, reason: str) -> None:
        self.source = str(source)
        self.line = line
        self.reason = reason
        super().__init__(f"{source}: line {line}: {reason}")


class TemporaryError(AiopsError):
    """May succeed if repeated after ``delay`` seconds (timeouts, 429, 5xx, conflicts)."""

    def __init__(self, message: str, *, delay: float = 30.0) -> None:
        super().__init__(message)
        self.delay = delay


class PermanentError(AiopsError):
    """Repeating cannot help (403, invalid plan, policy denial): stop, record, report."""


def is_retryable(exc: BaseException) -> bool:
    """Return whether ``exc`` is worth retrying; the one classifier every retry layer asks."""
    return isinstance(exc, TemporaryError)
