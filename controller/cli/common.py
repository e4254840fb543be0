"""Shared plumbing of the ``aiops`` commands: one-line errors and safe output writes.

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
from controller.outputs import OutputKind, classify_output, write_through

stderr = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    stderr.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def check_output(path: Path, flag: str) -> None:
    """Refuse an unusable output (a directory, a missing folder...) before any work is done."""
    classify_output(path, flag=flag)


def write_output(path: Path, text: str, *, flag: str) -> None:
    """Write ``text`` to ``path`` by the rules of ``controller.outputs``: all or nothing for a
    file (the path is classified again here: it may have changed while the command ran),
    through for standard output (``-``), a device or a FIFO."""
    target = classify_output(path, flag=flag)
    data = text.encode("utf-8")
    if target.kind is OutputKind.FILE:
        _replace_atomically(target.path, data, flag)
    else:
        write_through(target, data, flag=flag)


def _replace_atomically(path: Path, data: bytes, flag: str) -> None:
    """A temporary file in the same folder, then a rename: never a partial file."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise InputError(flag, str(path), f"cannot write: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
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
