"""The applier's semantics on ordinary (non-hostile) layers; no root needed."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import stat
from pathlib import Path
from types import ModuleType

import pytest
import zstandard

from dockyard.store.layers import LayerError, LayerTooLarge, apply_layer

AS_ROOT = os.geteuid() == 0


def apply(root: Path, data: bytes, **kw: object) -> None:
    apply_layer(io.BytesIO(data), root, **kw)  # type: ignore[arg-type]


def listing(root: Path) -> set[str]:
    out = set()
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            out.add(str(Path(dirpath, n).relative_to(root)))
    return out


@pytest.mark.parametrize(
    "compress",
    [
        lambda b: b,
        gzip.compress,
        lambda b: gzip.compress(b[:1024]) + gzip.compress(b[1024:]),  # multi-member
        lambda b: zstandard.ZstdCompressor().compress(b),
        lzma.compress,
        bz2.compress,
    ],
    ids=["plain", "gzip", "gzip-multi", "zstd", "xz", "bzip2"],
)
def test_compressions_and_diff_id(tb: ModuleType, tmp_path: Path, compress: object) -> None:
    body = os.urandom(300_000)
    tar = tb.make_tar([tb.entry("a/", "dir"), tb.entry("a/big", data=body), tb.entry("a/e")])
    got = apply_layer(io.BytesIO(compress(tar)), tmp_path)  # type: ignore[operator]
    assert got.diff_id == "sha256:" + hashlib.sha256(tar).hexdigest()
    assert got.size == len(tar)
    assert (tmp_path / "a" / "big").read_bytes() == body
    assert (tmp_path / "a" / "e").read_bytes() == b""


def test_corrupt_compressed_stream(tb: ModuleType, tmp_path: Path) -> None:
    gz = gzip.compress(tb.make_tar([tb.entry("f", data=b"x" * 10000)]))
    with pytest.raises(LayerError):
        apply(tmp_path, gz[: len(gz) // 2])
    bad = bytearray(gz)
    bad[len(bad) // 2] ^= 0xFF
    with pytest.raises(LayerError):
        apply(tmp_path, bytes(bad))


def test_zstd_bomb_is_bounded(tb: ModuleType, tmp_path: Path) -> None:
    data = zstandard.ZstdCompressor().compress(tb.make_tar([tb.entry("z", data=bytes(8 << 20))]))
    with pytest.raises(LayerTooLarge):
        apply(tmp_path, data, max_size=1 << 20)


def test_trailing_bytes_and_missing_end_marker(tb: ModuleType, tmp_path: Path) -> None:
    tar = tb.make_tar([tb.entry("f", data=b"1")])
    got = apply_layer(io.BytesIO(tar + bytes(4096)), tmp_path)
    assert got.size == len(tar) + 4096  # the diff_id covers the whole stream
    no_end = tar[:1024]  # header + one data block, no zero blocks
    d = tmp_path / "b"
    d.mkdir()
    apply(d, no_end)
    assert (d / "f").read_bytes() == b"1"


def test_metadata(tb: ModuleType, tmp_path: Path) -> None:
    apply(
        tmp_path,
        tb.make_tar(
            [
                tb.entry("d/", "dir", mode=0o750, mtime=1_000_000),
                tb.entry("d/f", data=b"x", mode=0o4755, mtime=2_000_000),
                tb.entry("d/ro", data=b"r", mode=0o400),
                tb.entry("d/l", "symlink", link="f", mtime=3_000_000),
                tb.entry("d/p", "fifo", mode=0o600),
                tb.entry("d/h", "hardlink", link="d/f"),
                tb.entry("t/", "dir", mode=0o1777),
            ]
        ),
    )
    d = tmp_path / "d"
    assert d.stat().st_mode & 0o7777 == 0o750
    assert d.stat().st_mtime == 1_000_000  # set after its content was written
    assert (d / "f").stat().st_mode & 0o7777 == 0o4755
    assert (d / "f").stat().st_mtime == 2_000_000
    assert (d / "ro").stat().st_mode & 0o7777 == 0o400
    assert os.readlink(d / "l") == "f" and (d / "l").lstat().st_mtime == 3_000_000
    assert (d / "p").is_fifo()
    assert (d / "h").stat().st_ino == (d / "f").stat().st_ino
    assert (tmp_path / "t").stat().st_mode & 0o7777 == 0o1777


def test_user_xattrs_and_overlay_xattrs_dropped(tb: ModuleType, tmp_path: Path) -> None:
    try:
        os.setxattr(tmp_path, "user.probe", b"1")
    except OSError:
        pytest.skip("no user xattrs on this filesystem")
    pax = {"SCHILY.xattr.user.k": "v", "SCHILY.xattr.trusted.overlay.opaque": "y"}
    apply(tmp_path, tb.make_tar([tb.entry("f", pax=pax), tb.entry("d/", "dir", pax=pax)]))
    for p in (tmp_path / "f", tmp_path / "d"):
        assert os.getxattr(p, "user.k") == b"v"
        assert "trusted.overlay.opaque" not in os.listxattr(p)


def test_layers_whiteouts_and_opaque(tb: ModuleType, tmp_path: Path) -> None:
    e = tb.entry
    apply(
        tmp_path,
        tb.make_tar(
            [
                e("etc/", "dir"),
                e("etc/passwd", data=b"root"),
                e("etc/gone", data=b"g"),
                e("var/", "dir"),
                e("var/cache/", "dir"),
                e("var/cache/a", data=b"a"),
                e("var/cache/sub/", "dir"),
                e("var/cache/sub/b", data=b"b"),
                e("opt/dir/", "dir"),
                e("opt/dir/x", data=b"x"),
            ]
        ),
    )
    apply(
        tmp_path,
        tb.make_tar(
            [
                e("etc/.wh.gone"),
                e("etc/.wh.never-existed"),
                e("var/cache/", "dir"),
                e("var/cache/.wh..wh..opq"),
                e("var/cache/new", data=b"n"),
                e("var/cache/sub/kept", data=b"k"),  # this layer's: survives the opaque
                e("opt/.wh.dir"),
                e("opt/dir", data=b"now a file"),  # a dir replaced by a file
            ]
        ),
    )
    assert listing(tmp_path) == {
        "etc",
        "etc/passwd",
        "var",
        "var/cache",
        "var/cache/new",
        "var/cache/sub",
        "var/cache/sub/kept",
        "opt",
        "opt/dir",
    }
    assert (tmp_path / "opt" / "dir").read_bytes() == b"now a file"


def test_same_layer_whiteout_does_not_hide(tb: ModuleType, tmp_path: Path) -> None:
    apply(tmp_path, tb.make_tar([tb.entry("a", data=b"1"), tb.entry(".wh.a")]))
    assert (tmp_path / "a").read_bytes() == b"1"


def test_opaque_after_entries(tb: ModuleType, tmp_path: Path) -> None:
    apply(tmp_path, tb.make_tar([tb.entry("d/old", data=b"o")]))
    apply(tmp_path, tb.make_tar([tb.entry("d/new", data=b"n"), tb.entry("d/.wh..wh..opq")]))
    assert listing(tmp_path) == {"d", "d/new"}


def test_opaque_after_entries_in_lower_subdir(tb: ModuleType, tmp_path: Path) -> None:
    apply(tmp_path, tb.make_tar([tb.entry("d/sub/old", data=b"o"), tb.entry("d/x", data=b"x")]))
    apply(tmp_path, tb.make_tar([tb.entry("d/sub/new", data=b"n"), tb.entry("d/.wh..wh..opq")]))
    assert listing(tmp_path) == {"d", "d/sub", "d/sub/new"}


def test_type_replacements(tb: ModuleType, tmp_path: Path) -> None:
    e = tb.entry
    apply(
        tmp_path,
        tb.make_tar(
            [e("a/", "dir"), e("a/x", data=b"1"), e("b", data=b"2"), e("c", "symlink", link="b")]
        ),
    )
    apply(
        tmp_path,
        tb.make_tar(
            [e("a", "symlink", link="b"), e("b/", "dir"), e("b/y", data=b"3"), e("c", data=b"4")]
        ),
    )
    assert os.readlink(tmp_path / "a") == "b"
    assert (tmp_path / "b" / "y").read_bytes() == b"3"
    assert not (tmp_path / "c").is_symlink() and (tmp_path / "c").read_bytes() == b"4"


def test_implicit_parents_and_many_dirs(tb: ModuleType, tmp_path: Path) -> None:
    # More directories than the fd cache holds, revisited out of order.
    entries = [tb.entry(f"d{i}/s/f", data=b"x") for i in range(400)]
    entries += [tb.entry(f"d{i}/s/g", data=b"y") for i in range(0, 400, 7)]
    apply(tmp_path, tb.make_tar(entries))
    assert (tmp_path / "d399" / "s" / "f").read_bytes() == b"x"
    assert (tmp_path / "d7" / "s" / "g").read_bytes() == b"y"
    assert len(os.listdir(f"/proc/{os.getpid()}/fd")) < 100  # no fd leak


def test_hardlink_missing_target(tb: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(LayerError, match="hardlink target not found"):
        apply(tmp_path, tb.make_tar([tb.entry("h", "hardlink", link="nope")]))


def test_file_under_a_file(tb: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(LayerError, match="non-directory"):
        apply(tmp_path, tb.make_tar([tb.entry("f", data=b"1"), tb.entry("f/x", data=b"2")]))


def test_overlay_format_whiteouts(tb: ModuleType, tmp_path: Path) -> None:
    # Whether this process may make a 0:0 char device (root, or a user namespace).
    try:
        os.mknod(tmp_path / "probe", stat.S_IFCHR, 0)
        allowed = True
    except PermissionError:
        allowed = False
    target = tmp_path / "t"
    target.mkdir()
    entries = [tb.entry(".wh.x"), tb.entry("d/", "dir")]
    if AS_ROOT:  # trusted.* xattrs need CAP_SYS_ADMIN
        entries.append(tb.entry("d/.wh..wh..opq"))
    layer = tb.make_tar(entries)
    if not allowed:
        with pytest.raises(LayerError, match="overlay whiteout"):
            apply(target, layer, whiteout_format="overlay")
        return
    apply(target, layer, whiteout_format="overlay")
    st = (target / "x").lstat()
    assert st.st_rdev == 0 and stat.S_ISCHR(st.st_mode)
    if AS_ROOT:
        assert os.getxattr(target / "d", "trusted.overlay.opaque") == b"y"


def test_unreadable_target(tmp_path: Path) -> None:
    with pytest.raises(LayerError, match="cannot open layer target"):
        apply(tmp_path / "missing", b"")


@pytest.mark.parametrize("idle", [True, False])
def test_side_hashing_same_digest(
    tb: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, idle: bool
) -> None:
    import dockyard.store.layers.source as source

    monkeypatch.setattr(source, "_idle_core", lambda: idle)
    tar = tb.make_tar([tb.entry(f"f{i}", data=os.urandom(400_000)) for i in range(8)])
    got = apply_layer(io.BytesIO(tar), tmp_path)
    assert got.diff_id == "sha256:" + hashlib.sha256(tar).hexdigest()
    assert got.size == len(tar)
    with pytest.raises(LayerTooLarge):
        apply_layer(io.BytesIO(tar), tmp_path, max_size=1 << 20)


class _Trickle(io.RawIOBase):
    """A stream that hands out a few hundred bytes per read, like a slow socket."""

    def __init__(self, data: bytes, seed: int) -> None:
        self._data = data
        self._pos = 0
        self._sizes = [1 + (seed * 7919 + i * 104729) % 700 for i in range(64)]
        self._n = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        step = self._sizes[self._n % len(self._sizes)]
        self._n += 1
        if size >= 0:
            step = min(step, size)
        out = self._data[self._pos : self._pos + step]
        self._pos += len(out)
        return out


@pytest.mark.parametrize(
    "compress",
    [lambda b: b, gzip.compress, lambda b: zstandard.ZstdCompressor().compress(b)],
    ids=["plain", "gzip", "zstd"],
)
def test_short_reads(tb: ModuleType, tmp_path: Path, compress: object) -> None:
    files = {f"d/f{i}": os.urandom(i * 37) for i in range(40)}
    pax = {"SCHILY.xattr.user.k": "v" * 600, "path": "d/" + "long" * 60}
    tar = tb.make_tar(
        [tb.entry("d/", "dir"), tb.entry("x", pax=pax)]
        + [tb.entry(n, data=d) for n, d in files.items()]
    )
    got = apply_layer(_Trickle(compress(tar), 3), tmp_path)  # type: ignore[operator, arg-type]
    assert got.diff_id == "sha256:" + hashlib.sha256(tar).hexdigest()
    for name, data in files.items():
        assert (tmp_path / name).read_bytes() == data
    assert (tmp_path / "d" / ("long" * 60)).exists()


def test_opaque_keeps_dirs_first_seen_by_a_whiteout(tb: ModuleType, tmp_path: Path) -> None:
    e = tb.entry
    apply(tmp_path, tb.make_tar([e("a/b/x", data=b"x"), e("a/y", data=b"y")]))
    apply(
        tmp_path,
        tb.make_tar([e("a/b/.wh.x"), e("a/b/c", data=b"c"), e("a/.wh..wh..opq")]),
    )
    assert listing(tmp_path) == {"a", "a/b", "a/b/c"}


def test_plain_archive_keeps_whiteout_names_as_files(tb: ModuleType, tmp_path: Path) -> None:
    """`cp` archives are no layers: ".wh." names are files, nothing below is deleted."""
    apply(tmp_path, tb.make_tar([tb.entry("d/keep", data=b"k"), tb.entry("d/old", data=b"o")]))
    apply(
        tmp_path,
        tb.make_tar([tb.entry("d/.wh.keep", data=b"w"), tb.entry("d/.wh..wh..opq", data=b"q")]),
        whiteout_format="none",
    )
    assert listing(tmp_path) == {"d", "d/keep", "d/old", "d/.wh.keep", "d/.wh..wh..opq"}
    assert (tmp_path / "d/.wh.keep").read_bytes() == b"w"
    # The same archive as a layer deletes and hides.
    apply(tmp_path, tb.make_tar([tb.entry("d/.wh.old")]))
    assert not (tmp_path / "d/old").exists()
