"""What only root can check: devices, ownership, capabilities, overlay whiteouts."""

from __future__ import annotations

import io
import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from dockyard.store.layers import apply_layer, changes, write_diff, write_tree
from dockyard.store.snapshots import OverlaySnapshotter

pytestmark = pytest.mark.root

# security.capability for cap_net_bind_service=ep (VFS_CAP_REVISION_2).
CAP_NET_BIND = bytes.fromhex("01000002" + "00040000" + "00000000" + "00000000" + "00000000")


def special_layer(tb: ModuleType) -> bytes:
    e = tb.entry
    return tb.make_tar(
        [
            e("dev/", "dir"),
            e("dev/null", "char", major=1, minor=3, mode=0o666),
            e("dev/sda", "block", major=8, minor=0, mode=0o660, gid=6),
            e("bin/", "dir", uid=0, gid=0),
            e("bin/su", data=b"#!", mode=0o4755, uid=0, gid=0),
            e("bin/wall", data=b"#!", mode=0o2755, gid=5),
            e("bin/ping", data=b"#!", mode=0o755, pax={}),
            e("home/u/", "dir", uid=1000, gid=1000, mode=0o700),
            e("home/u/f", data=b"f", uid=1000, gid=1000, mode=0o600),
            e("home/u/l", "symlink", link="f", uid=1000, gid=1001),
            e("tmp/", "dir", mode=0o1777),
        ]
    )


def test_devices_owners_setuid(tb: ModuleType, tmp_path: Path) -> None:
    apply_layer(io.BytesIO(special_layer(tb)), tmp_path)
    null = (tmp_path / "dev" / "null").lstat()
    assert stat.S_ISCHR(null.st_mode) and os.major(null.st_rdev) == 1
    assert os.minor(null.st_rdev) == 3 and stat.S_IMODE(null.st_mode) == 0o666
    sda = (tmp_path / "dev" / "sda").lstat()
    assert stat.S_ISBLK(sda.st_mode) and sda.st_rdev == os.makedev(8, 0) and sda.st_gid == 6
    assert stat.S_IMODE((tmp_path / "bin" / "su").stat().st_mode) == 0o4755
    wall = (tmp_path / "bin" / "wall").stat()
    assert stat.S_IMODE(wall.st_mode) == 0o2755 and wall.st_gid == 5
    home = (tmp_path / "home" / "u").stat()
    assert (home.st_uid, home.st_gid, stat.S_IMODE(home.st_mode)) == (1000, 1000, 0o700)
    link = (tmp_path / "home" / "u" / "l").lstat()
    assert (link.st_uid, link.st_gid) == (1000, 1001)
    assert stat.S_IMODE((tmp_path / "tmp").stat().st_mode) == 0o1777


def test_capabilities_and_trusted_xattrs(tb: ModuleType, tmp_path: Path) -> None:
    # tarfile cannot write binary PAX values, so the layer comes from our own writer.
    src = tmp_path / "src"
    (src / "bin").mkdir(parents=True)
    ping = src / "bin" / "ping"
    ping.write_bytes(b"#!")
    os.setxattr(ping, "security.capability", CAP_NET_BIND)
    os.setxattr(ping, "trusted.note", b"t")
    out = io.BytesIO()
    write_tree(src, out)
    dst = tmp_path / "dst"
    dst.mkdir()
    apply_layer(io.BytesIO(out.getvalue()), dst)
    got = dst / "bin" / "ping"
    assert os.getxattr(got, "security.capability") == CAP_NET_BIND
    assert os.getxattr(got, "trusted.note") == b"t"
    getcap = subprocess.run(["getcap", str(got)], capture_output=True, text=True)
    if getcap.returncode == 0:
        assert "cap_net_bind_service" in getcap.stdout


def test_special_files_survive_write_tree(tb: ModuleType, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    apply_layer(io.BytesIO(special_layer(tb)), a)
    out = io.BytesIO()
    digests = write_tree(a, out)
    applied = apply_layer(io.BytesIO(out.getvalue()), b)
    assert applied.diff_id == digests.diff_id
    assert tb.tree_state(a) == tb.tree_state(b)


def test_container_upper_diff_reapplies(
    tb: ModuleType, tmp_path: Path, mount: Callable[..., Any]
) -> None:
    """Changes made through a mounted overlay → write_diff → apply on the image → same tree."""
    snap = OverlaySnapshotter(tmp_path / "snap")
    e = tb.entry
    base = tb.make_tar(
        [
            e("etc/", "dir"),
            e("etc/passwd", data=b"root:x:0:0"),
            e("etc/hosts", data=b"127.0.0.1"),
            e("var/lib/", "dir"),
            e("var/lib/a", data=b"a"),
            e("var/lib/b", data=b"b"),
            e("usr/bin/tool", data=b"t", mode=0o755),
        ]
    )
    snap.prepare("x", None)
    apply_layer(io.BytesIO(base), snap.apply_dir("x"), whiteout_format="overlay")
    snap.commit("base", "x")
    mounts = snap.prepare("ctr", "base")
    with mount(mounts, tmp_path / "merged") as m:
        (m / "etc" / "hosts").unlink()
        (m / "etc" / "passwd").write_bytes(b"root:x:0:0\nu:x:1:1")
        (m / "etc" / "new").write_bytes(b"new")
        subprocess.run(["rm", "-rf", str(m / "var" / "lib")], check=True)
        (m / "var" / "lib").mkdir()
        (m / "var" / "lib" / "c").write_bytes(b"c")
        (m / "usr" / "bin" / "tool").chmod(0o700)
        expected = tb.tree_state(m)
    upper = snap.upper_dir("ctr")
    kinds = dict((p, k) for k, p in changes(upper, [snap.upper_dir("base")]))
    assert kinds["/etc/hosts"] == "D" and kinds["/etc/passwd"] == "C"
    assert kinds["/etc/new"] == "A" and kinds["/var/lib/c"] == "A"
    assert kinds["/var/lib/a"] == "D" and kinds["/usr/bin/tool"] == "C"
    diff = io.BytesIO()
    write_diff(upper, diff)
    # Replay on a plain directory (the copy path) and on a new overlay layer.
    plain = tmp_path / "plain"
    plain.mkdir()
    apply_layer(io.BytesIO(base), plain)
    apply_layer(io.BytesIO(diff.getvalue()), plain)
    assert _secs(tb.tree_state(plain)) == _secs(expected)
    snap.prepare("y", "base")
    apply_layer(io.BytesIO(diff.getvalue()), snap.apply_dir("y"), whiteout_format="overlay")
    snap.commit("top", "y")
    with mount(snap.view("v", "top"), tmp_path / "view") as v:
        assert _secs(tb.tree_state(v)) == _secs(expected)


def _secs(state: dict[str, tuple[object, ...]]) -> dict[str, tuple[object, ...]]:
    out = {}
    for k, v in state.items():
        mtime = v[4]
        assert isinstance(mtime, int)
        out[k] = (*v[:4], mtime // 1_000_000_000, *v[5:])
    return out


def test_special_files_through_overlay_snapshot(
    tb: ModuleType, tmp_path: Path, mount: Callable[..., Any]
) -> None:
    """Devices, owners, setuid bits and capabilities survive an overlay layer chain."""
    plain = tmp_path / "plain"
    plain.mkdir()
    apply_layer(io.BytesIO(special_layer(tb)), plain)
    ping = plain / "bin" / "ping"
    os.setxattr(ping, "security.capability", CAP_NET_BIND)
    out = io.BytesIO()
    write_tree(plain, out)
    snap = OverlaySnapshotter(tmp_path / "snap")
    snap.prepare("k0", None)
    apply_layer(io.BytesIO(out.getvalue()), snap.apply_dir("k0"), whiteout_format="overlay")
    snap.commit("c0", "k0")
    # A second layer on top, so the view is a real overlay mount.
    snap.prepare("k1", "c0")
    apply_layer(
        io.BytesIO(tb.make_tar([tb.entry("etc/motd", data=b"hi")])),
        snap.apply_dir("k1"),
        whiteout_format="overlay",
    )
    snap.commit("c1", "k1")
    mounts = snap.view("v", "c1")
    assert mounts[0].type == "overlay"
    with mount(mounts, tmp_path / "view") as v:
        got = tb.tree_state(v)
        assert os.getxattr(v / "bin" / "ping", "security.capability") == CAP_NET_BIND
    want = tb.tree_state(plain)
    del got["etc"], got["etc/motd"]
    assert _secs(got) == _secs(want)
