"""A corpus of hostile layer tarballs (in the spirit of containerd's breakout tests).

Each case is applied to ``tmp/root`` next to a sentinel directory ``tmp/outside``;
whatever happens, nothing outside the root may change, and each case either
applies (contained inside the root) or fails with a LayerError, as listed.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from dockyard.store.layers import LayerError, LayerTooLarge, apply_layer

OK, ERR = "ok", "error"
AS_ROOT = os.geteuid() == 0

# Each case: (id, expected, build(tb, outside_abs) -> tar bytes, optional check(root, outside)).
Case = tuple[str, str, Callable[[Any, str], bytes], Callable[[Path, Path], None] | None]


def _no(p: Path) -> None:
    assert not os.path.lexists(p), f"{p} should not exist"


def _file_is(p: Path, data: bytes) -> None:
    assert not p.is_symlink() and p.read_bytes() == data


CASES: list[Case] = [
    (
        "absolute-path",
        OK,
        lambda tb, o: tb.make_tar([tb.entry(f"{o}/abs", data=b"x")]),
        lambda r, o: _file_is(r / str(o).lstrip("/") / "abs", b"x"),
    ),
    ("dotdot", ERR, lambda tb, o: tb.make_tar([tb.entry("../outside/evil", data=b"x")]), None),
    (
        "dotdot-inner",
        ERR,
        lambda tb, o: tb.make_tar([tb.entry("a/../../outside/evil", data=b"x")]),
        None,
    ),
    ("dot-dotdot", ERR, lambda tb, o: tb.make_tar([tb.entry("./../outside/evil")]), None),
    ("abs-dotdot", ERR, lambda tb, o: tb.make_tar([tb.entry("/../outside/evil")]), None),
    (
        "symlink-abs-then-write",
        OK,
        lambda tb, o: tb.make_tar(
            [tb.entry("lnk", "symlink", link=o), tb.entry("lnk/evil", data=b"x")]
        ),
        lambda r, o: _file_is(r / str(o).lstrip("/") / "evil", b"x"),
    ),
    (
        "symlink-rel-then-write",
        OK,
        lambda tb, o: tb.make_tar(
            [tb.entry("lnk", "symlink", link="../outside"), tb.entry("lnk/evil", data=b"x")]
        ),
        lambda r, o: _file_is(r / "outside" / "evil", b"x"),
    ),
    (
        "symlink-deep-dotdot-then-write",
        OK,
        lambda tb, o: tb.make_tar(
            [
                tb.entry("a/lnk", "symlink", link="../../../../../../.."),
                tb.entry("a/lnk/evil", data=b"x"),
            ]
        ),
        lambda r, o: _file_is(r / "evil", b"x"),
    ),
    (
        "symlink-dir-then-subdir-file",
        OK,
        lambda tb, o: tb.make_tar(
            [
                tb.entry("lnk", "symlink", link=o),
                tb.entry("lnk/sub/", "dir"),
                tb.entry("lnk/sub/f", data=b"y"),
            ]
        ),
        lambda r, o: _file_is(r / str(o).lstrip("/") / "sub" / "f", b"y"),
    ),
    (
        "symlink-to-file-then-overwrite",
        OK,
        lambda tb, o: tb.make_tar(
            [tb.entry("lnk", "symlink", link=f"{o}/secret"), tb.entry("lnk", data=b"overwrite")]
        ),
        lambda r, o: _file_is(r / "lnk", b"overwrite"),
    ),
    (
        "symlink-then-dir-replaces",
        OK,
        lambda tb, o: tb.make_tar(
            [
                tb.entry("lnk", "symlink", link=o),
                tb.entry("lnk/", "dir"),
                tb.entry("lnk/evil", data=b"z"),
            ]
        ),
        lambda r, o: _file_is(r / "lnk" / "evil", b"z"),
    ),
    (
        "symlink-target-replaced-then-write",
        OK,
        lambda tb, o: tb.make_tar(
            [
                tb.entry("d/", "dir"),
                tb.entry("s", "symlink", link="d"),
                tb.entry("s/a", data=b"1"),
                tb.entry("d", "symlink", link=o),
                tb.entry("s/b", data=b"2"),
            ]
        ),
        lambda r, o: _file_is(r / str(o).lstrip("/") / "b", b"2"),
    ),
    (
        "symlink-loop",
        ERR,
        lambda tb, o: tb.make_tar(
            [
                tb.entry("a", "symlink", link="b"),
                tb.entry("b", "symlink", link="a"),
                tb.entry("a/x", data=b"x"),
            ]
        ),
        None,
    ),
    (
        "hardlink-etc-passwd",
        ERR,
        lambda tb, o: tb.make_tar([tb.entry("pw", "hardlink", link="/etc/passwd")]),
        None,
    ),
    (
        "hardlink-outside-abs",
        ERR,
        lambda tb, o: tb.make_tar([tb.entry("h", "hardlink", link=f"{o}/secret")]),
        None,
    ),
    (
        "hardlink-dotdot",
        ERR,
        lambda tb, o: tb.make_tar([tb.entry("h", "hardlink", link="../outside/secret")]),
        None,
    ),
    (
        "hardlink-via-symlink",
        ERR,
        lambda tb, o: tb.make_tar(
            [tb.entry("s", "symlink", link=o), tb.entry("h", "hardlink", link="s/secret")]
        ),
        None,
    ),
    (
        "hardlink-via-rel-symlink",
        ERR,
        lambda tb, o: tb.make_tar(
            [
                tb.entry("s", "symlink", link="../outside"),
                tb.entry("h", "hardlink", link="s/secret"),
            ]
        ),
        None,
    ),
    (
        "hardlink-to-outside-symlink-then-write",
        OK,
        lambda tb, o: tb.make_tar(
            [
                tb.entry("s", "symlink", link=f"{o}/secret"),
                tb.entry("h", "hardlink", link="s"),
                tb.entry("h", data=b"w"),
            ]
        ),
        lambda r, o: _file_is(r / "h", b"w"),
    ),
    (
        "hardlink-to-dir",
        ERR,
        lambda tb, o: tb.make_tar([tb.entry("d/", "dir"), tb.entry("h", "hardlink", link="d")]),
        None,
    ),
    (
        "whiteout-through-symlink",
        OK,
        lambda tb, o: tb.make_tar([tb.entry("s", "symlink", link=o), tb.entry("s/.wh.secret")]),
        None,
    ),
    (
        "whiteout-rel-symlink",
        OK,
        lambda tb, o: tb.make_tar(
            [tb.entry("s", "symlink", link="../outside"), tb.entry("s/.wh.secret")]
        ),
        None,
    ),
    (
        "whiteout-dotdot",
        ERR,
        lambda tb, o: tb.make_tar(
            [
                tb.entry("a/.wh..."),
            ]
        ),
        None,
    ),
    ("whiteout-dot", ERR, lambda tb, o: tb.make_tar([tb.entry(".wh..")]), None),
    ("whiteout-empty", ERR, lambda tb, o: tb.make_tar([tb.entry(".wh.")]), None),
    (
        "whiteout-escaping-parent",
        ERR,
        lambda tb, o: tb.make_tar([tb.entry("../.wh.outside")]),
        None,
    ),
    (
        "opaque-through-symlink",
        OK,
        lambda tb, o: tb.make_tar([tb.entry("s", "symlink", link=o), tb.entry("s/.wh..wh..opq")]),
        None,
    ),
    (
        "device-outside",
        ERR,
        lambda tb, o: tb.make_tar([tb.entry("../outside/null", "char", major=1, minor=3)]),
        None,
    ),
    (
        "device-through-symlink",
        OK if AS_ROOT else ERR,
        lambda tb, o: tb.make_tar(
            [tb.entry("s", "symlink", link=o), tb.entry("s/null", "char", major=1, minor=3)]
        ),
        None,
    ),
    (
        "fifo-through-symlink",
        OK,
        lambda tb, o: tb.make_tar([tb.entry("s", "symlink", link=o), tb.entry("s/fifo", "fifo")]),
        lambda r, o: (r / str(o).lstrip("/") / "fifo").is_fifo() or pytest.fail("no fifo"),
    ),
    (
        "long-name-pax",
        OK,
        lambda tb, o: tb.make_tar([tb.entry("/".join(["d" * 200] * 3) + "/f", data=b"l")]),
        lambda r, o: _file_is(r.joinpath(*(["d" * 200] * 3), "f"), b"l"),
    ),
    ("component-too-long", ERR, lambda tb, o: tb.make_tar([tb.entry("x" * 300)]), None),
    (
        "path-longer-than-path-max",
        OK,
        lambda tb, o: tb.make_tar([tb.entry("/".join(["p" * 250] * 20))]),
        None,
    ),
    (
        "pax-path-override-escape",
        ERR,
        lambda tb, o: tb.make_tar([tb.entry("benign", pax={"path": "../../outside/evil"})]),
        None,
    ),
    (
        "pax-path-abs-symlink-write",
        OK,
        lambda tb, o: tb.make_tar(
            [tb.entry("s", "symlink", link=o), tb.entry("benign", pax={"path": "s/evil"})]
        ),
        None,
    ),
    (
        "pax-linkpath-escape",
        ERR,
        lambda tb, o: tb.make_tar(
            [tb.entry("h", "hardlink", link="x", pax={"linkpath": "../outside/secret"})]
        ),
        None,
    ),
    (
        "pax-nul-in-path",
        ERR,
        lambda tb, o: tb.make_tar([tb.entry("benign", pax={"path": "a\x00b"})]),
        None,
    ),
    (
        "gnu-longname-escape",
        ERR,
        lambda tb, o: tb.make_tar(
            [tb.entry("../" * 40 + "outside/evil", data=b"x")], fmt=tarfile.GNU_FORMAT
        ),
        None,
    ),
    (
        "gnu-longlink-escape",
        ERR,
        lambda tb, o: tb.make_tar(
            [tb.entry("h", "hardlink", link="../" * 40 + "outside/secret")], fmt=tarfile.GNU_FORMAT
        ),
        None,
    ),
    (
        "duplicate-entries",
        OK,
        lambda tb, o: tb.make_tar([tb.entry("f", data=b"one"), tb.entry("f", data=b"two")]),
        lambda r, o: _file_is(r / "f", b"two"),
    ),
    (
        "file-replaces-dir-with-symlink-inside",
        OK,
        lambda tb, o: tb.make_tar(
            [tb.entry("d/", "dir"), tb.entry("d/s", "symlink", link=o), tb.entry("d", data=b"f")]
        ),
        lambda r, o: _file_is(r / "d", b"f"),
    ),
    (
        "symlink-replaces-dir-then-write",
        OK,
        lambda tb, o: tb.make_tar(
            [
                tb.entry("d/", "dir"),
                tb.entry("d/f", data=b"1"),
                tb.entry("d", "symlink", link=o),
                tb.entry("d/evil", data=b"2"),
            ]
        ),
        lambda r, o: _file_is(r / str(o).lstrip("/") / "evil", b"2"),
    ),
    ("root-as-symlink", ERR, lambda tb, o: tb.make_tar([tb.entry(".", "symlink", link=o)]), None),
    ("root-as-file", ERR, lambda tb, o: tb.make_tar([tb.entry("/", data=b"x")]), None),
    ("truncated", ERR, lambda tb, o: tb.make_tar([tb.entry("f", data=b"x" * 5000)])[:2048], None),
    (
        "bad-checksum",
        ERR,
        lambda tb, o: (lambda b: b[:148] + b"0000000\0" + b[156:])(tb.make_tar([tb.entry("f")])),
        None,
    ),
    ("not-a-tar", ERR, lambda tb, o: b"hello world, this is not a tar archive" * 20, None),
]


@pytest.mark.parametrize(
    ("expected", "build", "check"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
@pytest.mark.parametrize("fmt", ["oci", "overlay"])
def test_hostile(
    tb: ModuleType,
    tmp_path: Path,
    fmt: str,
    expected: str,
    build: Callable[[Any, str], bytes],
    check: Callable[[Path, Path], None] | None,
) -> None:
    if fmt == "overlay" and not AS_ROOT:
        pytest.skip("overlay whiteouts (0:0 devices, trusted.* xattrs) need root")
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "secret").write_bytes(b"secret")
    (outside / "sub" / "keep").write_bytes(b"keep")
    root = tmp_path / "root"
    root.mkdir()
    passwd = os.stat("/etc/passwd")
    before = tb.tree_state(tmp_path, skip=root)
    data = build(tb, str(outside))
    if expected == OK:
        apply_layer(io.BytesIO(data), root, whiteout_format=fmt)  # type: ignore[arg-type]
        if check is not None:
            check(root, outside)
    else:
        with pytest.raises(LayerError):
            apply_layer(io.BytesIO(data), root, whiteout_format=fmt)  # type: ignore[arg-type]
    assert tb.tree_state(tmp_path, skip=root) == before
    after = os.stat("/etc/passwd")
    assert (after.st_nlink, after.st_mtime_ns) == (passwd.st_nlink, passwd.st_mtime_ns)


def test_case_count() -> None:
    assert len(CASES) >= 30


def test_decompression_bomb(tb: ModuleType, tmp_path: Path) -> None:
    bomb = gzip.compress(tb.make_tar([tb.entry("zeros", data=bytes(32 << 20))]))
    assert len(bomb) < 100_000
    with pytest.raises(LayerTooLarge):
        apply_layer(io.BytesIO(bomb), tmp_path, max_size=1 << 20)
