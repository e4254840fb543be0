"""Incremental body reading: limits before and after decompression, corrupt streams."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterator

import pytest

from controller.observers.traces.body import (
    BadEncoding,
    BodyTooLarge,
    LimitedBody,
    UnsupportedEncoding,
)

PAYLOAD = bytes(range(256)) * 64  # 16 KiB


def _read(encoding: str, body: bytes, limit: int, chunk: int = 1000) -> bytes:
    reader = LimitedBody(encoding, limit)
    for start in range(0, len(body), chunk):
        reader.feed(body[start : start + chunk])
    return reader.finish()


COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "": lambda b: b,
    "identity": lambda b: b,
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    " GZIP ": gzip.compress,
    "deflate": zlib.compress,
}


@pytest.mark.parametrize("encoding", COMPRESSORS)
def test_every_supported_encoding_round_trips(encoding: str) -> None:
    assert _read(encoding, COMPRESSORS[encoding](PAYLOAD), limit=len(PAYLOAD)) == PAYLOAD


@pytest.mark.parametrize("encoding", ["gzip", "deflate", ""])
def test_one_byte_over_the_decoded_limit_is_too_large(encoding: str) -> None:
    with pytest.raises(BodyTooLarge):
        _read(encoding, COMPRESSORS[encoding](PAYLOAD), limit=len(PAYLOAD) - 1)


def test_the_wire_size_is_limited_too() -> None:
    noise = zlib.compress(PAYLOAD, 0)  # stored: bigger on the wire than decoded
    with pytest.raises(BodyTooLarge, match="^body larger"):
        _read("deflate", noise, limit=len(PAYLOAD) + 5)


def _lazy_bomb(pulled: list[int], gigabytes: int = 10) -> Iterator[bytes]:
    """A gzip stream of ``gigabytes`` of zeros, compressed lazily one MiB at a time."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"\x00" * (1 << 20)
    for _ in range(gigabytes << 10):  # bounded
        pulled.append(1)
        yield packer.compress(zeros) + packer.flush(zlib.Z_SYNC_FLUSH)


def test_a_gzip_bomb_stops_after_the_limit_not_after_inflating_it_all() -> None:
    pulled: list[int] = []
    reader = LimitedBody("gzip", 4 << 20)

    with pytest.raises(BodyTooLarge, match="decompressed"):
        for chunk in _lazy_bomb(pulled):
            reader.feed(chunk)

    assert len(pulled) == 5  # 5 MiB inflated of the 10 GiB on offer


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (gzip.compress(PAYLOAD)[:-10], "truncated"),
        (gzip.compress(PAYLOAD) + b"extra", "data after the end"),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage!", "corrupt"),
    ],
)
def test_corrupt_gzip_is_a_bad_encoding(body: bytes, message: str) -> None:
    with pytest.raises(BadEncoding, match=message):
        _read("gzip", body, limit=1 << 20)


@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, br"])
def test_other_encodings_are_unsupported(encoding: str) -> None:
    with pytest.raises(UnsupportedEncoding):
        LimitedBody(encoding, 1024)
