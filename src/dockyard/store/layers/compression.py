"""Detect a layer's compression and stream it decompressed in bounded chunks.

gzip goes through zlib's streaming decompressor (multi-member archives as pigz
writes them included), zstd through the ``zstandard`` package (imported only
when a zstd layer shows up), xz and bzip2 through the standard library. Every
chunk handed out is at most ``chunk`` bytes, whatever the compression ratio, so
a decompression bomb is caught by the caller's size quota before memory grows.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Iterator
from typing import IO, BinaryIO, Protocol, cast

from dockyard.store.layers.errors import LayerError

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
XZ_MAGIC = b"\xfd7zXZ\x00"
BZIP2_MAGIC = b"BZh"


def detect(head: bytes) -> str:
    """The compression named by the first bytes of a stream: plain, gzip, zstd, xz, bzip2."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head.startswith(XZ_MAGIC):
        return "xz"
    if head.startswith(BZIP2_MAGIC) and len(head) > 3 and head[3:4].isdigit():
        return "bzip2"
    return "plain"


class _Decomp(Protocol):
    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes, max_length: int = ...) -> bytes: ...


class Prefixed:
    """A reader that first returns already-peeked bytes, then the stream."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = head
        self._stream = stream

    def read(self, n: int = -1) -> bytes:
        if self._head:
            out, self._head = self._head, b""
            return out
        return self._stream.read(n)


def chunks(stream: BinaryIO, *, chunk: int = 1 << 20) -> Iterator[bytes]:
    """Yield the decompressed content of ``stream`` in chunks of at most ``chunk`` bytes."""
    return open_layer(stream, chunk=chunk)[1]


def open_layer(stream: BinaryIO, *, chunk: int = 1 << 20) -> tuple[str, Iterator[bytes]]:
    """Peek at ``stream``: its compression, and an iterator over its decompressed chunks."""
    head = stream.read(chunk)
    kind = detect(head) if head else "plain"
    if kind == "plain":
        return kind, _plain(head, stream, chunk)
    if kind == "zstd":
        return kind, _zstd(Prefixed(head, stream), chunk)
    return kind, _zlib_like(kind, head, stream, chunk)


def _plain(head: bytes, stream: BinaryIO, chunk: int) -> Iterator[bytes]:
    if not head:
        return
    yield head
    while data := stream.read(chunk):
        yield data


def _zstd(src: Prefixed, chunk: int) -> Iterator[bytes]:
    import zstandard

    reader = zstandard.ZstdDecompressor().stream_reader(
        cast("IO[bytes]", src), read_size=chunk, read_across_frames=True, closefd=False
    )
    try:
        while data := reader.read(chunk):
            yield data
    except zstandard.ZstdError as e:
        raise LayerError(f"corrupt zstd layer: {e}") from None


def _new(kind: str) -> _Decomp:
    if kind == "gzip":
        return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    if kind == "xz":
        return lzma.LZMADecompressor()
    return bz2.BZ2Decompressor()


def _zlib_like(kind: str, head: bytes, stream: BinaryIO, chunk: int) -> Iterator[bytes]:
    d = _new(kind)
    pending = head
    full = False  # the last call filled its output: more may be held back
    try:
        while True:
            if d.eof:
                pending = d.unused_data + pending
                # NUL padding may follow the last member; anything else is a new member.
                while not pending.lstrip(b"\0"):
                    pending = stream.read(chunk)
                    if not pending:
                        return
                d, pending, full = _new(kind), pending.lstrip(b"\0"), False
            if not pending and not full and _hungry(d):
                pending = stream.read(chunk)
                if not pending:
                    raise LayerError(f"truncated {kind} layer: unexpected end of stream")
            out = d.decompress(pending, chunk)
            pending = getattr(d, "unconsumed_tail", b"")
            full = len(out) >= chunk
            if out:
                yield out
    except (zlib.error, lzma.LZMAError, OSError, EOFError) as e:
        raise LayerError(f"corrupt {kind} layer: {e}") from None


def _hungry(d: _Decomp) -> bool:
    # zlib hands back unconsumed input (unconsumed_tail); lzma and bz2 keep it and
    # say whether they need more with needs_input.
    needs = getattr(d, "needs_input", None)
    return True if needs is None else bool(needs)
