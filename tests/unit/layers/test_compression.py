from __future__ import annotations

import bz2
import gzip
import io
import lzma

import pytest
import zstandard

from dockyard.store.layers import LayerError
from dockyard.store.layers.compression import chunks, detect

DATA = bytes(range(256)) * 4000  # 1 MB, compressible


@pytest.mark.parametrize(
    ("blob", "kind"),
    [
        (DATA, "plain"),
        (gzip.compress(DATA), "gzip"),
        (zstandard.ZstdCompressor().compress(DATA), "zstd"),
        (lzma.compress(DATA), "xz"),
        (bz2.compress(DATA), "bzip2"),
        (b"BZ", "plain"),
        (b"", "plain"),
    ],
)
def test_detect(blob: bytes, kind: str) -> None:
    assert detect(blob[:8]) == kind


@pytest.mark.parametrize(
    "blob",
    [
        gzip.compress(DATA),
        gzip.compress(DATA[:1000]) + gzip.compress(DATA[1000:]),
        gzip.compress(DATA) + bytes(1000),  # NUL padding after the last member
        zstandard.ZstdCompressor().compress(DATA[:5])
        + zstandard.ZstdCompressor().compress(DATA[5:]),
        lzma.compress(DATA),
        bz2.compress(DATA),
    ],
    ids=["gzip", "gzip-members", "gzip-padded", "zstd-frames", "xz", "bzip2"],
)
def test_chunks_bounded_and_complete(blob: bytes) -> None:
    got = list(chunks(io.BytesIO(blob), chunk=65536))
    assert b"".join(got) == DATA
    assert max(len(c) for c in got) <= 65536


def test_garbage_after_gzip_member() -> None:
    with pytest.raises(LayerError):
        list(chunks(io.BytesIO(gzip.compress(DATA) + b"\x1f\x8bgarbage"), chunk=65536))


def test_truncated_streams() -> None:
    for blob in (gzip.compress(DATA), lzma.compress(DATA), bz2.compress(DATA)):
        with pytest.raises(LayerError, match=r"truncated|corrupt"):
            list(chunks(io.BytesIO(blob[: len(blob) // 2])))
