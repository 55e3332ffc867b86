from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.oci.digest import (
    Digest,
    Digester,
    InvalidDigest,
    digest_bytes,
    is_digest,
    sha256_bytes,
)


def test_parse_sha256_and_sha512() -> None:
    d = Digest.parse("sha256:" + "a" * 64)
    assert (d.algorithm, d.hex, str(d), d.short) == (
        "sha256",
        "a" * 64,
        "sha256:" + "a" * 64,
        "a" * 12,
    )
    assert Digest.parse("sha512:" + "0" * 128).algorithm == "sha512"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("sha256:" + "a" * 63, "length"),
        ("sha256:" + "a" * 65, "length"),
        ("sha512:" + "a" * 64, "length"),
        ("sha256:" + "A" * 64, "format"),
        ("sha256:" + "g" * 64, "format"),
        ("md5:" + "a" * 32, "unsupported digest algorithm"),
        ("sha256", "format"),
        (":" + "a" * 64, "format"),
        ("", "format"),
    ],
)
def test_invalid(value: str, message: str) -> None:
    with pytest.raises(InvalidDigest, match=message):
        Digest.parse(value)
    assert not is_digest(value)


@given(st.lists(st.binary(max_size=300), max_size=8))
def test_streaming_digester_matches_one_shot(chunks: list[bytes]) -> None:
    d = Digester()
    for c in chunks:
        d.update(c)
    whole = b"".join(chunks)
    assert d.digest() == sha256_bytes(whole)
    assert d.size == len(whole)
    assert d.digest().hex == hashlib.sha256(whole).hexdigest()


def test_sha512_digester_and_copy() -> None:
    d = Digester("sha512")
    d.update(b"abc")
    c = d.copy()
    c.update(b"def")
    assert d.digest() == digest_bytes(b"abc", "sha512")
    assert c.digest().hex == hashlib.sha512(b"abcdef").hexdigest()
    with pytest.raises(InvalidDigest):
        Digester("md5")
