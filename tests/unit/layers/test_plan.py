from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.store.layers import LayerError
from dockyard.store.layers import tarread as t
from dockyard.store.layers.plan import (
    Kind,
    clean_path,
    opaque_keeps,
    parents_of,
    plan,
    whiteout_hides,
    xattr_allowed,
)


def member(name: str, typ: bytes = t.REG, link: str = "") -> t.Member:
    return t.Member(name, typ, 0o644, 0, 0, 0, 0, linkname=link)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("a/b/c", "a/b/c"),
        ("./a/b/", "a/b"),
        ("/etc/passwd", "etc/passwd"),
        ("a//b/./c/", "a/b/c"),
        ("a/b/../c", "a/c"),
        (".", ""),
        ("./", ""),
        ("/", ""),
        (".hidden/.x", ".hidden/.x"),
        ("a/..b/c", "a/..b/c"),
    ],
)
def test_clean_path(raw: str, clean: str) -> None:
    assert clean_path(raw) == clean


@pytest.mark.parametrize("raw", ["..", "../x", "a/../../x", "/../x", "./../x", "a/\0b"])
def test_clean_path_refuses(raw: str) -> None:
    with pytest.raises(LayerError):
        clean_path(raw)


names = st.lists(
    st.sampled_from(["a", "b", ".", "..", "", ".wh.x", "c d", "é"]), min_size=1, max_size=8
).map("/".join)


@given(names)
def test_clean_path_stays_inside(raw: str) -> None:
    try:
        out = clean_path(raw)
    except LayerError:
        return
    parts = out.split("/") if out else []
    assert ".." not in parts and "." not in parts and "" not in parts
    assert not out.startswith("/")
    assert clean_path(out) == out  # idempotent


def test_plan_kinds() -> None:
    assert plan(member("usr/bin/x")).kind is Kind.FILE
    assert plan(member("usr/", t.DIR)).kind is Kind.DIR
    a = plan(member("./", t.DIR))
    assert (a.kind, a.path) == (Kind.DIR, "")
    a = plan(member("a/l", t.SYM, "/etc/passwd"))
    assert (a.kind, a.link, a.parent, a.name) == (Kind.SYMLINK, "/etc/passwd", "a", "l")
    a = plan(member("a/h", t.LNK, "/usr/bin/x"))
    assert (a.kind, a.link) == (Kind.HARDLINK, "usr/bin/x")
    assert plan(member("d", t.CHR)).kind is Kind.CHAR
    assert plan(member("d", t.FIFO)).kind is Kind.FIFO


def test_plan_whiteouts() -> None:
    a = plan(member("etc/.wh.passwd"))
    assert (a.kind, a.parent, a.name, a.path) == (Kind.WHITEOUT, "etc", "passwd", "etc/passwd")
    a = plan(member("var/cache/.wh..wh..opq"))
    assert (a.kind, a.parent) == (Kind.OPAQUE, "var/cache")
    assert plan(member(".wh..wh..opq")).parent == ""
    assert plan(member(".wh..wh.plnk/123")).kind is not Kind.WHITEOUT
    assert plan(member("a/.wh..wh.orph")).kind is Kind.SKIP
    for bad in (".wh..", ".wh...", "x/.wh."):
        with pytest.raises(LayerError):
            plan(member(bad))


def test_plan_refuses() -> None:
    with pytest.raises(LayerError, match="unsupported tar entry type"):
        plan(member("x", b"S"))
    with pytest.raises(LayerError, match="replaces the root"):
        plan(member(".", t.SYM, "/"))
    with pytest.raises(LayerError, match="escapes the root"):
        plan(member("h", t.LNK, "../x"))
    with pytest.raises(LayerError):
        plan(member("h", t.LNK, "/"))
    with pytest.raises(LayerError):
        plan(member("s", t.SYM, ""))


def test_whiteout_rules() -> None:
    made = {"a", "a/b"}
    assert whiteout_hides("a/c", made)
    assert not whiteout_hides("a/b", made)  # same layer: not hidden
    assert opaque_keeps("a/b", made) and not opaque_keeps("a/old", made)
    assert not xattr_allowed("trusted.overlay.opaque", overlay_xattrs=False)
    assert xattr_allowed("trusted.overlay.opaque", overlay_xattrs=True)
    assert xattr_allowed("security.capability", overlay_xattrs=False)
    assert parents_of("a/b/c") == ["a", "a/b"]
    assert parents_of("a") == []


def test_visible_in_layers(tmp_path: Path) -> None:
    from dockyard.store.layers.apply import visible_in_layers

    low, mid = tmp_path / "low", tmp_path / "mid"
    (low / "d" / "sub").mkdir(parents=True)
    (low / "d" / "f").write_bytes(b"")
    (low / "e").mkdir()
    (low / "e" / "g").write_bytes(b"")
    (low / "file").write_bytes(b"")
    mid.mkdir()
    (mid / "e").write_bytes(b"")  # a file hides the dir e below
    (mid / "link").symlink_to("/")
    layers = [str(mid), str(low)]
    assert visible_in_layers(layers, "d/f")
    assert visible_in_layers(layers, "d/sub")
    assert not visible_in_layers(layers, "d/nope")
    assert visible_in_layers(layers, "e") and not visible_in_layers(layers, "e/g")
    assert not visible_in_layers(layers, "file/x")
    assert visible_in_layers(layers, "link") and not visible_in_layers(layers, "link/etc")


def test_without_whiteouts_marked_names_are_plain_entries() -> None:
    for name in ("d/.wh.x", "d/.wh..wh..opq", ".wh..wh.plnk"):
        a = plan(member(name), whiteouts=False)
        assert a.kind is Kind.FILE and f"{a.parent}/{a.name}".lstrip("/") == name
        assert plan(member(name)).kind is not Kind.FILE
