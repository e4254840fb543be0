"""Shared plumbing of the ``aiops`` commands: one-line errors and all-or-nothing writes.

A user mistake (missing file, invalid JSON, schema violation, bad policy or runbook, bad flag)
prints one line naming the file or flag, the location and the reason, and exits with status
2; a backend that cannot be reached exits with 3. No traceback, no partial output file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console

from controller.errors import BackendUnavailableError, InputError

stderr = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    stderr.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_atomically(path: Path, text: str) -> None:
    """Write all or nothing: a temporary file in the same folder, then a rename."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise InputError(path, "", f"cannot write: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; a report is a normal file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def guard(run: Callable[[], None]) -> None:
    """Turn user mistakes into one-line errors (exit 2) and dead backends into exit 3."""
    try:
        run()
    except InputError as exc:
        fail(exc.one_line())
    except BackendUnavailableError as exc:
        fail(f"backend unavailable: {exc}", code=3)
