"""Where an output may go, and how it is written: the one rule for every file a command writes.

A report, a ledger, a metrics file or a captured incident is written all or nothing: into a
temporary file beside its target, then renamed over it. That is right for a regular file and
wrong for anything else: renaming over ``/dev/null`` (as root) replaces the device with a
regular file, and renaming over a FIFO takes the reader's pipe away. So the path is looked at
first (``classify_output``) and each kind is written its own way:

- a regular file, a new path, or a symlink to either: temp file + rename onto the symlink's
  *target* (the link stays); the directory must exist and be writable;
- a character device or a FIFO: written *through* (opened without create or truncate, never
  renamed);
- ``-`` (or ``/dev/stdout``): standard output;
- a directory (or a symlink to one), a missing directory, a socket, a block device: refused
  with one line, before any work is done.

The rules for users: docs/output-files.md.
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from controller.errors import InputError

STDOUT = "-"
"""The path that means standard output."""
STDOUT_NAMES = frozenset({STDOUT, "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"})
"""Names of this process's standard output. Written through ``sys.stdout``: resolved, they can
name a regular file (``> out.txt``, ``>> log``) that a rename would replace whole."""


class OutputKind(StrEnum):
    """How an output path is written."""

    FILE = "file"
    """A regular file or a new one: temp file + rename, all or nothing."""
    STREAM = "stream"
    """A character device or a FIFO: opened and written through, never renamed over."""
    STDOUT = "stdout"
    """``-``, ``/dev/stdout``: this process's standard output."""


@dataclass(frozen=True, slots=True)
class OutputTarget:
    """A usable output: its kind and the path to write (a symlink's target for a file)."""

    kind: OutputKind
    path: Path


def is_stdout(path: Path | str) -> bool:
    """Whether ``path`` is ``-`` or ``/dev/stdout`` (standard output)."""
    return str(path) in STDOUT_NAMES


def classify_output(path: Path, *, flag: str = "") -> OutputTarget:
    """How ``path`` can be written, or InputError (naming ``flag`` and the path) why not.

    Looked at again right before writing: what the path is may change while a run goes on.
    """
    if is_stdout(path):
        return OutputTarget(OutputKind.STDOUT, path)
    try:
        mode = os.stat(path).st_mode  # follows symlinks, /dev/fd/N and /proc magic links too
    except FileNotFoundError:
        return _new_file(path, flag)  # a dangling symlink too: its target is created
    except OSError as exc:
        raise _refused(path, flag, f"cannot write: {exc.strerror}") from exc
    if stat.S_ISREG(mode):
        return _file(Path(os.path.realpath(path)), path, flag)
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        return OutputTarget(OutputKind.STREAM, path)
    raise _refused(path, flag, _unusable(path, mode))


def _unusable(path: Path, mode: int) -> str:
    link = "a symlink to " if path.is_symlink() else ""
    if stat.S_ISDIR(mode):
        return f"is {link}a directory; give a file name"
    if stat.S_ISBLK(mode):
        return f"is {link}a block device; refusing to write over it"
    if stat.S_ISSOCK(mode):
        return f"is {link}a socket, which cannot be opened as a file"
    return f"is {link}neither a file, a character device nor a FIFO"


def _new_file(path: Path, flag: str) -> OutputTarget:
    """A path that does not exist yet: its directory must (it is never created silently)."""
    target = Path(os.path.realpath(path))
    named = target.parent if path.is_symlink() else path.parent  # as the user wrote it
    if not target.parent.exists():
        raise _refused(path, flag, f"directory {named} does not exist; create it first")
    if not target.parent.is_dir():
        raise _refused(path, flag, f"{named} is not a directory")
    return _file(target, path, flag)


def _file(target: Path, path: Path, flag: str) -> OutputTarget:
    """A regular file is replaced by a rename, which needs a writable directory."""
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise _refused(path, flag, f"cannot write in directory {target.parent}: permission denied")
    return OutputTarget(OutputKind.FILE, target)


def _refused(path: Path, flag: str, reason: str) -> InputError:
    return InputError(flag, str(path), reason) if flag else InputError(path, "", reason)


def write_through(target: OutputTarget, data: bytes, *, flag: str = "") -> None:
    """Write ``data`` to standard output, a device or a FIFO: no temp file, no rename.

    Opened without ``O_CREAT``/``O_TRUNC`` and checked again once open, so a path that became a
    regular file meanwhile is never half-written or created here. A FIFO blocks until a
    reader opens it, as a shell redirection does.
    """
    if target.kind is OutputKind.FILE:
        raise ValueError("a regular file is written by a rename, not through")
    try:
        if target.kind is OutputKind.STDOUT:
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
            return
        _write_stream(target.path, data, flag)
    except OSError as exc:
        raise _refused(target.path, flag, f"cannot write: {exc.strerror}") from exc


def _write_stream(path: Path, data: bytes, flag: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC)
    with os.fdopen(fd, "wb") as stream:
        mode = os.fstat(fd).st_mode
        if not (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)):
            why = "changed while the command ran: no longer a character device or FIFO"
            raise _refused(path, flag, why)
        stream.write(data)
