"""Raw-socket HTTP clients for the slow-client tests.

A slow client cannot be written with httpx (it sends a request whole), so these speak bytes.
Every socket has a timeout and every loop ends at a deadline or after a fixed number of bytes,
so a receiver that never closes a connection fails the test instead of hanging it.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

SOCKET_TIMEOUT = 5.0
_GONE = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


@dataclass
class RawClient:
    """One connection: what the server sent, and when (monotonic) it was opened and closed."""

    sock: socket.socket
    opened_at: float
    received: bytearray = field(default_factory=bytearray)
    closed_at: float | None = None

    @property
    def lifetime(self) -> float | None:
        """Seconds from connect to the server's close (EOF or reset); None while open."""
        return None if self.closed_at is None else self.closed_at - self.opened_at

    def send(self, data: bytes) -> None:
        """Send ``data`` unless closed; a failed send means the server has closed it."""
        if self.closed_at is None:
            try:
                self.sock.sendall(data)
            except _GONE:
                self.closed_at = time.monotonic()

    def poll(self, wait: float = 0.0) -> bool:
        """Take what has arrived within ``wait`` seconds; True once the server has closed."""
        if self.closed_at is None and select.select([self.sock], [], [], wait)[0]:
            try:
                data = self.sock.recv(65536)
            except _GONE:
                data = b""
            if data:
                self.received += data
            else:
                self.closed_at = time.monotonic()
        return self.closed_at is not None

    def wait_closed(self, within: float) -> bool:
        """Poll until the server closes or ``within`` seconds have passed."""
        deadline = time.monotonic() + within
        while not self.poll(max(0.0, deadline - time.monotonic())):
            if time.monotonic() >= deadline:
                return False
        return True


@contextmanager
def raw_clients(port: int, count: int) -> Iterator[list[RawClient]]:
    """``count`` connections to 127.0.0.1:``port``, all closed on exit."""
    clients: list[RawClient] = []
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT)
            clients.append(RawClient(sock, time.monotonic()))
        yield clients
    finally:
        for client in clients:
            client.sock.close()


def drip(clients: list[RawClient], payload: bytes, *, interval: float, within: float) -> None:
    """Send ``payload`` one byte per ``interval`` to every open client, for ``within`` seconds
    at most or until all are closed (whichever is first)."""
    if len(payload) * interval < within:
        raise ValueError("payload too short: it would end before the deadline")
    deadline = time.monotonic() + within
    for at in range(len(payload)):
        if all([client.poll() for client in clients]) or time.monotonic() >= deadline:
            return
        for client in clients:
            client.send(payload[at : at + 1])
        time.sleep(interval)


def http_post(body: bytes, path: str = "/v1/traces", length: int | None = None) -> bytes:
    """A keep-alive protobuf POST: the head, then ``body`` (``length`` may announce more)."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n"
        f"Content-Length: {len(body) if length is None else length}\r\n\r\n"
    )
    return head.encode() + body


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def read_response(client: RawClient, within: float) -> int:
    """Read one whole response (head and Content-Length body) off ``client``; its status."""
    deadline = time.monotonic() + within
    while True:
        head, sep, rest = bytes(client.received).partition(b"\r\n\r\n")
        if sep and len(rest) >= _content_length(head):
            del client.received[: len(head) + len(sep) + _content_length(head)]
            return int(head.split(b" ", 2)[1])
        remaining = deadline - time.monotonic()
        if client.closed_at is not None or remaining <= 0:
            raise AssertionError(f"no whole response in {within}s: {bytes(client.received)!r}")
        client.poll(min(0.05, remaining))
