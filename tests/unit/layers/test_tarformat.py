"""The tar header reader and the deterministic writer, against Python's tarfile."""

from __future__ import annotations

import io
import tarfile
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.store.layers import LayerError
from dockyard.store.layers import tarread as t
from dockyard.store.layers.tarwriter import TarWriter, build_header


def first_member(data: bytes) -> t.Member:
    ext = t.Extensions()
    pos = 0
    while True:
        m = t.parse_header(data[pos : pos + 512])
        pos += 512
        if m.type in t.EXTENSIONS:
            ext.add(m.type, data[pos : pos + m.size])
            pos += m.size + (-m.size % 512)
            continue
        return ext.merge(m)


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_reads_tarfile_headers(tb: ModuleType, fmt: int) -> None:
    name = "dir/" + "n" * 90 + "/file.txt"  # > 100 bytes: prefix, longname or PAX
    data = tb.make_tar([tb.entry(name, data=b"abc", mode=0o4755, uid=1000, gid=50)], fmt=fmt)
    m = first_member(data)
    assert (m.name, m.type, m.mode, m.uid, m.gid, m.size) == (name, t.REG, 0o4755, 1000, 50, 3)
    assert m.mtime_ns == tb.MTIME * 1_000_000_000


def test_reads_gnu_base256_and_longlink(tb: ModuleType) -> None:
    link = "target/" + "l" * 200
    data = tb.make_tar(
        [tb.entry("h", "symlink", link=link, uid=3_000_000_000)], fmt=tarfile.GNU_FORMAT
    )
    m = first_member(data)
    assert (m.linkname, m.uid) == (link, 3_000_000_000)


def test_reads_pax_xattrs_and_times(tb: ModuleType) -> None:
    pax = {"SCHILY.xattr.user.k": "v", "mtime": "1600000000.5", "uid": "70000"}
    m = first_member(tb.make_tar([tb.entry("f", pax=pax)]))
    assert m.xattrs == {"user.k": b"v"}
    assert m.mtime_ns == 1_600_000_000_500_000_000
    assert m.uid == 70000


def test_devices(tb: ModuleType) -> None:
    m = first_member(tb.make_tar([tb.entry("null", "char", major=1, minor=3)]))
    assert (m.type, m.devmajor, m.devminor) == (t.CHR, 1, 3)


def test_bad_headers() -> None:
    block = bytearray(build_header("f", t.REG, size=1))
    block[0] ^= 1  # breaks the checksum
    with pytest.raises(LayerError, match="checksum"):
        t.parse_header(bytes(block))
    with pytest.raises(LayerError):
        t.parse_pax(b"99 path=x\n")
    with pytest.raises(LayerError):
        t.parse_pax(b"abc path=x\n")
    with pytest.raises(LayerError):
        t.parse_pax(b"9 pathx\n")
    ext = t.Extensions()
    ext.add(t.PAX_X, b"20 GNU.sparse.map=1\n")
    with pytest.raises(LayerError, match="sparse"):
        ext.merge(t.parse_header(build_header("f", t.REG)))


def test_pax_records_roundtrip() -> None:
    recs = t.parse_pax(b"".join(_records({"path": b"a" * 200, "SCHILY.xattr.k": b"\x00\xff"})))
    assert recs == {"path": b"a" * 200, "SCHILY.xattr.k": b"\x00\xff"}


def _records(d: dict[str, bytes]) -> list[bytes]:
    from dockyard.store.layers.tarwriter import _pax_record

    return [_pax_record(k, v) for k, v in d.items()]


def write(entries: list[dict[str, object]], sde: int | None = None) -> tuple[bytes, str]:
    out = io.BytesIO()
    w = TarWriter(out, source_date_epoch=sde)
    for e in entries:
        data = e.pop("data", b"")
        assert isinstance(data, bytes)
        w.add(size=len(data), **e)  # type: ignore[arg-type]
        if data:
            import os

            r, wfd = os.pipe()
            os.write(wfd, data)
            os.close(wfd)
            w.copy_from(r, len(data), "x")
            os.close(r)
    d = w.close()
    assert d.size == len(out.getvalue())
    return out.getvalue(), d.diff_id


def test_writer_output_is_read_by_tarfile() -> None:
    data, _ = write(
        [
            {"name": "d/", "typeflag": t.DIR, "mode": 0o755},
            {"name": "d/f", "typeflag": t.REG, "mode": 0o644, "data": b"hello", "uid": 7},
            {"name": "d/" + "x" * 150, "typeflag": t.REG, "xattrs": {"user.a": b"\x01\x02"}},
            {"name": "d/l", "typeflag": t.SYM, "linkname": "/" + "y" * 120},
            {"name": "d/dev", "typeflag": t.CHR, "devmajor": 1, "devminor": 3},
        ]
    )
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        members = tf.getmembers()
        assert [m.name for m in members] == ["d", "d/f", "d/" + "x" * 150, "d/l", "d/dev"]
        assert members[1].uid == 7 and tf.extractfile(members[1]).read() == b"hello"  # type: ignore[union-attr]
        assert members[2].pax_headers["SCHILY.xattr.user.a"]
        assert members[3].linkname == "/" + "y" * 120
        assert (members[4].devmajor, members[4].devminor) == (1, 3)
        assert all(m.uname == "" and m.gname == "" for m in members)
    assert len(data) % 512 == 0 and data.endswith(bytes(1024))


def test_pax_only_when_needed() -> None:
    assert len(build_header("short", t.REG)) == 512
    assert len(build_header("é", t.REG)) > 512  # non-ASCII name goes to PAX
    assert len(build_header("f", t.REG, uid=1 << 22)) > 512
    assert len(build_header("f", t.REG, xattrs={"user.a": b"1"})) > 512


def test_source_date_epoch_clamps() -> None:
    late = {"name": "f", "typeflag": t.REG, "mtime_ns": 2_000_000_000 * 10**9}
    early = {"name": "f", "typeflag": t.REG, "mtime_ns": 1_000_000_000 * 10**9}
    assert (
        write([dict(late)], sde=1_500_000_000)[1]
        == write([{**late, "mtime_ns": 1_500_000_000 * 10**9}])[1]
    )
    assert write([dict(early)], sde=1_500_000_000)[1] == write([dict(early)])[1]


entry_names = st.text(
    alphabet=st.characters(blacklist_characters="/\0", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=120,
).filter(lambda s: s not in (".", ".."))


@settings(max_examples=60, deadline=None)
@given(st.lists(entry_names, min_size=1, max_size=5, unique=True), st.binary(max_size=700))
def test_writer_reader_roundtrip(names: list[str], body: bytes) -> None:
    entries: list[dict[str, object]] = [
        {"name": n, "typeflag": t.REG, "data": body, "mode": 0o640} for n in names
    ]
    data, digest = write([dict(e) for e in entries])
    assert write([dict(e) for e in entries])[1] == digest  # deterministic
    pos, got = 0, []
    ext = t.Extensions()
    while data[pos : pos + 512] != t.ZERO_BLOCK:
        m = t.parse_header(data[pos : pos + 512])
        pos += 512
        if m.type in t.EXTENSIONS:
            ext.add(m.type, data[pos : pos + m.size])
        else:
            m = ext.merge(m)
            got.append((m.name, data[pos : pos + m.size], m.mode))
        pos += m.size + (-m.size % 512)
    assert got == [(n, body, 0o640) for n in names]
