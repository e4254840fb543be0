"""Paths of every kind an output flag may be given: a device node, a FIFO with a reader.

Device tests never touch the machine's ``/dev/null``: as root they make a null device node in
the test's own folder (a broken write replaces that node, nothing else); without root they use
``/dev/null``, which an unprivileged process cannot rename over.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

READ_TIMEOUT_SECONDS = 30.0


def char_device(path: Path) -> Path:
    """A character device to write to: a null device node at ``path`` (as root)."""
    if os.geteuid() != 0:
        return Path("/dev/null")
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    return path


def is_char_device(path: Path) -> bool:
    return stat.S_ISCHR(os.lstat(path).st_mode)


def is_fifo(path: Path) -> bool:
    return stat.S_ISFIFO(os.lstat(path).st_mode)


class FifoReader:
    """A FIFO at ``path`` and a thread reading everything one writer sends through it.

    The FIFO is held open (by its inode, not its name) from the start: the writer's open never
    blocks, and even a writer that renamed a file over the name cannot leave the reading thread
    stuck: ``data`` unblocks it after its timeout and returns what arrived (nothing).
    """

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.path = path
        self._keep = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self._inode = f"/proc/self/fd/{self._keep}"
        self._chunks: list[bytes] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with open(self._inode, "rb") as fifo:  # blocks until a writer opens the FIFO
            self._chunks.append(fifo.read())  # up to the writer's close

    def data(self, timeout: float = READ_TIMEOUT_SECONDS) -> bytes:
        """Everything written (call once the writer is done); bounded by ``timeout``."""
        self._thread.join(timeout)
        if self._thread.is_alive():  # nobody opened the FIFO to write: release the reader
            os.close(os.open(self._inode, os.O_WRONLY | os.O_NONBLOCK))
            self._thread.join(timeout)
        os.close(self._keep)
        return b"".join(self._chunks)
