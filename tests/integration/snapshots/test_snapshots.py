"""Snapshotters with real mounts: layer chains, whiteouts, deep images, state, leftovers."""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from dockyard.store.layers import apply_layer
from dockyard.store.snapshots import (
    CopySnapshotter,
    Mount,
    OverlaySnapshotter,
    SnapshotError,
    SnapshotExists,
    SnapshotInUse,
    SnapshotNotFound,
    Snapshotter,
    default_snapshotter,
)

pytestmark = pytest.mark.root

Mounter = Callable[..., Any]


def image_layers(tb: ModuleType) -> list[bytes]:
    e = tb.entry
    return [
        tb.make_tar(
            [
                e("bin/", "dir"),
                e("bin/sh", data=b"sh", mode=0o755),
                e("etc/", "dir"),
                e("etc/passwd", data=b"root"),
                e("etc/old.conf", data=b"old"),
                e("var/cache/", "dir"),
                e("var/cache/1", data=b"1"),
                e("var/cache/d/2", data=b"2"),
                e("opt/x/", "dir"),
                e("opt/x/y", data=b"y"),
            ]
        ),
        tb.make_tar(
            [
                e("etc/", "dir"),
                e("etc/.wh.old.conf"),
                e("etc/new.conf", data=b"new"),
                e("var/cache/", "dir"),
                e("var/cache/.wh..wh..opq"),
                e("var/cache/fresh", data=b"f"),
            ]
        ),
        tb.make_tar(
            [
                e("opt/.wh.x"),
                e("opt/x", data=b"file now"),
                e("etc/passwd", data=b"root\nuser"),
            ]
        ),
    ]


EXPECTED = {
    "bin": None,
    "bin/sh": b"sh",
    "etc": None,
    "etc/passwd": b"root\nuser",
    "etc/new.conf": b"new",
    "var": None,
    "var/cache": None,
    "var/cache/fresh": b"f",
    "opt": None,
    "opt/x": b"file now",
}


def unpack(snap: Snapshotter, layers: list[bytes]) -> str:
    parent = None
    for i, layer in enumerate(layers):
        key = f"extract-{i}"
        snap.prepare(key, parent)
        fmt = snap.whiteout_format(key)
        assert fmt == ("overlay" if parent and isinstance(snap, OverlaySnapshotter) else "oci")
        apply_layer(io.BytesIO(layer), snap.apply_dir(key), whiteout_format=fmt)
        name = f"sha256:chain{i}"
        snap.commit(name, key)
        parent = name
    assert parent is not None
    return parent


def content(root: Path) -> dict[str, bytes | None]:
    out: dict[str, bytes | None] = {}
    for p in root.rglob("*"):
        out[str(p.relative_to(root))] = p.read_bytes() if p.is_file() else None
    return out


@pytest.mark.parametrize("kind", [OverlaySnapshotter, CopySnapshotter])
def test_image_chain(
    kind: type[Snapshotter], tb: ModuleType, tmp_path: Path, mount: Mounter
) -> None:
    snap = kind(tmp_path / "snap")
    top = unpack(snap, image_layers(tb))
    assert snap.parent(top) == "sha256:chain1"
    with mount(snap.prepare("ctr", top), tmp_path / "rootfs") as root:
        assert content(root) == EXPECTED
        (root / "written").write_bytes(b"w")
    # The container's write went to its own snapshot only.
    assert (snap.upper_dir("ctr") / "written").read_bytes() == b"w"
    with mount(snap.view("v", top), tmp_path / "view") as view:
        assert content(view) == EXPECTED
        with pytest.raises(OSError):
            (view / "nope").write_bytes(b"")


def test_overlay_and_copy_agree(tb: ModuleType, tmp_path: Path, mount: Mounter) -> None:
    ov = OverlaySnapshotter(tmp_path / "ov")
    cp = CopySnapshotter(tmp_path / "cp")
    layers = image_layers(tb)
    with (
        mount(ov.view("v", unpack(ov, layers)), tmp_path / "a") as a,
        mount(cp.view("v", unpack(cp, layers)), tmp_path / "b") as b,
    ):
        sa, sb = tb.tree_state(a), tb.tree_state(b)
    # Directory mtimes may differ (overlay copy-up vs in-place); everything else agrees.
    assert sa.keys() == sb.keys()
    for k in sa:
        assert sa[k][:4] == sb[k][:4] and sa[k][5:] == sb[k][5:], k


def test_128_layers(tb: ModuleType, tmp_path: Path, mount: Mounter) -> None:
    # A long root path makes the plain option string overflow the page.
    root = tmp_path / ("x" * 60) / "snapshots"
    alias_dir = Path(f"/run/dyt{os.getpid() % 1000}")
    snap = OverlaySnapshotter(root, alias_dir=alias_dir)
    layers = [tb.make_tar([tb.entry(f"layer{i:03}", data=str(i).encode())]) for i in range(127)]
    layers.append(tb.make_tar([tb.entry(".wh.layer000"), tb.entry("top", data=b"top")]))
    try:
        top = unpack(snap, layers)
        mounts = snap.prepare("ctr", top)
        assert len(mounts[0].data) < os.sysconf("SC_PAGESIZE")
        assert mounts[0].data.count(":") == 127  # 128 lower dirs
        assert f"lowerdir={alias_dir}/" in mounts[0].data
        with mount(mounts, tmp_path / "rootfs") as r:
            names = set(os.listdir(r))
            assert len(names) == 127 and "layer000" not in names and "top" in names
            assert (r / "layer126").read_bytes() == b"126"
    finally:
        shutil.rmtree(alias_dir, ignore_errors=True)


def test_state_rules(tmp_path: Path) -> None:
    snap = OverlaySnapshotter(tmp_path / "s")
    mounts = snap.prepare("a", None)
    assert mounts == [Mount("bind", str(snap.upper_dir("a")), "", ["rw", "rbind"])]
    assert mounts[0].to_oci() == {
        "destination": "/",
        "type": "bind",
        "source": str(snap.upper_dir("a")),
        "options": ["rw", "rbind"],
    }
    with pytest.raises(SnapshotExists):
        snap.prepare("a", None)
    with pytest.raises(SnapshotInUse):
        snap.prepare("b", "a")  # parent must be committed
    (snap.upper_dir("a") / "f").write_bytes(b"x" * 10000)
    snap.commit("c1", "a")
    assert not snap.exists("a") and snap.exists("c1")
    assert snap.usage("c1") >= 10000
    snap.prepare("b", "c1")
    assert [i.name for i in snap.list()] == ["b", "c1"]
    with pytest.raises(SnapshotInUse):
        snap.remove("c1")
    with pytest.raises(SnapshotInUse):
        snap.mounts("c1")
    with pytest.raises(SnapshotNotFound):
        snap.remove("zzz")
    snap.remove("b")
    snap.remove("c1")
    assert snap.list() == []
    assert os.listdir(tmp_path / "s" / "snapshots") == []
    assert os.listdir(tmp_path / "s" / "l") == []


def test_leftovers_swept_and_state_survives(tmp_path: Path) -> None:
    root = tmp_path / "s"
    snap = OverlaySnapshotter(root)
    snap.prepare("keep", None)
    (root / "snapshots" / "999" / "fs").mkdir(parents=True)  # a crash before the state write
    (root / "l" / "zz").symlink_to("../snapshots/999/fs")
    state = json.loads((root / "state.json").read_text())
    again = OverlaySnapshotter(root)
    assert again.exists("keep")
    assert not (root / "snapshots" / "999").exists() and not (root / "l" / "zz").exists()
    assert json.loads((root / "state.json").read_text()) == state


def test_default_snapshotter_remembers(tmp_path: Path) -> None:
    first = default_snapshotter(tmp_path)
    assert isinstance(first, OverlaySnapshotter)  # root on ext4 here
    second = default_snapshotter(tmp_path)
    assert type(second) is type(first) and second.root == first.root


def test_too_deep_is_refused_and_not_kept(tmp_path: Path) -> None:
    # Long root and alias paths: the option string overflows after a few dozen layers.
    snap = OverlaySnapshotter(tmp_path / ("y" * 200), alias_dir=tmp_path / ("z" * 100))
    parent = None
    for i in range(200):
        try:
            snap.prepare(f"k{i}", parent)
        except SnapshotError as e:
            assert "too many layers" in str(e)
            assert not snap.exists(f"k{i}") and snap.exists(parent or "")
            break
        snap.commit(f"c{i}", f"k{i}")
        parent = f"c{i}"
    else:
        pytest.fail("200 layers fitted in one page of mount options")
    assert 10 < i < 200


def test_layer_without_parent_entries_keeps_lower_dir_metadata(
    tb: ModuleType, tmp_path: Path, mount: Mounter
) -> None:
    snap = OverlaySnapshotter(tmp_path / "snap")
    e = tb.entry
    lower = tb.make_tar(
        [
            e("opt/", "dir"),
            e("opt/app/", "dir", mode=0o750, uid=1000, gid=1000, mtime=1_234_567),
            e("opt/app/old", data=b"o"),
        ]
    )
    upper = tb.make_tar([e("opt/app/new", data=b"n")])  # no entries for opt/ or opt/app/
    parent = None
    for i, layer in enumerate((lower, upper)):
        snap.prepare(f"k{i}", parent)
        snap.apply_layer(f"k{i}", io.BytesIO(layer))
        snap.commit(f"c{i}", f"k{i}")
        parent = f"c{i}"
    with mount(snap.view("v", parent), tmp_path / "v") as v:
        st = (v / "opt" / "app").stat()
        assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (1000, 1000, 0o750)
        assert st.st_mtime == 1_234_567
        assert sorted(os.listdir(v / "opt" / "app")) == ["new", "old"]
