"""Read a request body chunk by chunk under a hard size limit, decompressing as it arrives.

The OTLP spec requires the limit to hold *after* decompression too. A gzip bomb (kilobytes
that inflate to gigabytes) is stopped as soon as the output passes the limit: decompression
asks zlib for at most ``limit - produced + 1`` bytes at a time, so no more than the limit (plus
one byte) is ever held, whatever the input.
"""

from __future__ import annotations

import zlib

_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
_IDENTITY = frozenset({"", "identity"})


class BodyTooLarge(Exception):
    """The body (compressed or decompressed) passed the limit (HTTP 413)."""


class BadEncoding(Exception):
    """The compressed stream is corrupt or truncated (HTTP 400)."""


class UnsupportedEncoding(Exception):
    """A Content-Encoding this receiver does not decode (HTTP 415)."""


class LimitedBody:
    """Accumulates at most ``limit`` bytes of body, decoded per ``Content-Encoding``."""

    def __init__(self, content_encoding: str, limit: int) -> None:
        encoding = content_encoding.strip().lower()
        if encoding not in _IDENTITY and encoding not in _WBITS:
            raise UnsupportedEncoding(encoding)
        self._limit = limit
        self._received = 0
        self._produced = 0
        self._parts: list[bytes] = []
        self._inflater = None if encoding in _IDENTITY else zlib.decompressobj(_WBITS[encoding])

    @property
    def received(self) -> int:
        """Bytes received on the wire so far."""
        return self._received

    @property
    def produced(self) -> int:
        """Decoded bytes kept so far (what the body holds in memory)."""
        return self._produced

    def feed(self, chunk: bytes) -> None:
        """Take the next chunk; raise BodyTooLarge as soon as either size passes the limit."""
        self._received += len(chunk)
        if self._received > self._limit:
            raise BodyTooLarge(f"body larger than {self._limit} bytes")
        if self._inflater is None:
            self._keep(chunk)
            return
        data = chunk
        while data:
            try:
                out = self._inflater.decompress(data, self._limit - self._produced + 1)
            except zlib.error as exc:
                raise BadEncoding("corrupt compressed body") from exc
            self._keep(out)
            data = self._inflater.unconsumed_tail

    def _keep(self, data: bytes) -> None:
        self._produced += len(data)
        if self._produced > self._limit:
            raise BodyTooLarge(f"decompressed body larger than {self._limit} bytes")
        if data:
            self._parts.append(data)

    def finish(self) -> bytes:
        """The whole decoded body; BadEncoding when the compressed stream is incomplete."""
        if self._inflater is not None:
            if not self._inflater.eof:
                raise BadEncoding("truncated compressed body")
            if self._inflater.unused_data:
                raise BadEncoding("data after the end of the compressed body")
        return b"".join(self._parts)


class ReceiverBusy(Exception):
    """Taking this body would pass the receiver's in-flight byte budget (HTTP 503)."""


class InflightBudget:
    """Decoded request bytes held across all connections at once, and its limit.

    ``max_connections`` bounds how many bodies arrive together and ``max_body_bytes`` each
    one; without a shared budget the worst case is their product (256 x 8 MiB = 2 GiB). The
    receiver's handlers all run on one event loop and ``reserve``/``release`` never await, so
    a plain counter is exact; no lock is needed.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def reserve(self, size: int) -> None:
        """Hold ``size`` more bytes, or raise ReceiverBusy and hold nothing more."""
        if self.held + size > self.limit:
            raise ReceiverBusy(
                f"receiver holds {self.held} of {self.limit} in-flight body bytes; retry later"
            )
        self.held += size

    def release(self, size: int) -> None:
        """Give back bytes reserved earlier."""
        self.held = max(0, self.held - size)
