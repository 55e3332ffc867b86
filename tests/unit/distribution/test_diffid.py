"""Diff ids computed while a layer downloads: plain, gzip, multi-member, cut short, unknown."""

from __future__ import annotations

import gzip
import hashlib
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.distribution.diffid import DiffDigester
from dockyard.oci import mediatypes as mt


def _feed(d: DiffDigester, blob: bytes, step: int) -> None:
    for i in range(0, len(blob), step):
        d.update(blob[i : i + step])


@settings(max_examples=40, deadline=None)
@given(
    parts=st.lists(st.binary(max_size=3000), min_size=1, max_size=4),
    step=st.integers(1, 5000),
)
def test_gzip_members_any_chunking(parts: list[bytes], step: int) -> None:
    raw = b"".join(parts)
    blob = b"".join(gzip.compress(p) for p in parts)
    d = DiffDigester(mt.OCI_LAYER_GZIP)
    _feed(d, blob, step)
    result = d.result()
    assert result is not None
    assert result[0].hex == hashlib.sha256(raw).hexdigest() and result[1] == len(raw)
    assert d.fed == len(blob)


def test_plain_tar_is_its_own_diff_id() -> None:
    raw = os.urandom(10000)
    d = DiffDigester(mt.DOCKER_LAYER)
    _feed(d, raw, 999)
    assert d.result() == (
        __import__("dockyard.oci.digest", fromlist=["sha256_bytes"]).sha256_bytes(raw),
        len(raw),
    )


def test_cut_short_corrupt_and_unknown_give_none() -> None:
    blob = gzip.compress(os.urandom(5000))
    d = DiffDigester(mt.OCI_LAYER_GZIP)
    d.update(blob[:-4])
    assert d.result() is None
    d = DiffDigester(mt.OCI_LAYER_GZIP)
    d.update(b"not gzip at all")
    assert d.result() is None
    d = DiffDigester(mt.OCI_LAYER_ZSTD)
    d.update(b"whatever")
    assert d.result() is None and d.fed == 8
    assert DiffDigester(mt.OCI_LAYER_GZIP).result() is None
