"""GNU tar and our layers agree, both ways (xattrs and capabilities included)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from dockyard.store.layers import apply_layer, write_tree

pytestmark = pytest.mark.root

CAP = bytes.fromhex("0100000200040000000000000000000000000000")


def make_tree(root: Path, busybox_rootfs: Path) -> None:
    shutil.copytree(busybox_rootfs, root, symlinks=True)
    (root / "usr" / "sbin").mkdir(parents=True)
    ping = root / "usr" / "sbin" / "ping"
    ping.write_bytes(b"\x7fELF")
    os.chown(ping, 0, 1)  # before the capability: chown drops file capabilities
    os.chmod(ping, 0o4711)
    os.setxattr(ping, "security.capability", CAP)
    os.setxattr(ping, "user.note", b"\x00\xffbinary")
    os.mknod(root / "dev" / "null", 0o20666, os.makedev(1, 3))
    os.mkfifo(root / "tmp" / "fifo")
    os.link(root / "bin" / "busybox", root / "bin" / "busybox.hard")
    os.symlink("/bin/busybox", root / "usr" / "sbin" / "abs-link")


def test_gnu_tar_reads_our_layers(tb: ModuleType, tmp_path: Path, busybox_rootfs: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, busybox_rootfs)
    out = io.BytesIO()
    write_tree(src, out)
    (tmp_path / "layer.tar").write_bytes(out.getvalue())
    dst = tmp_path / "gnu"
    dst.mkdir()
    subprocess.run(
        [
            "tar",
            "--xattrs",
            "--xattrs-include=*",
            "-xpf",
            str(tmp_path / "layer.tar"),
            "-C",
            str(dst),
        ],
        check=True,
    )
    assert _secs(tb.tree_state(dst)) == _secs(tb.tree_state(src))
    assert os.getxattr(dst / "usr" / "sbin" / "ping", "security.capability") == CAP


def test_we_read_gnu_tar_layers(tb: ModuleType, tmp_path: Path, busybox_rootfs: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, busybox_rootfs)
    layer = tmp_path / "layer.tar"
    subprocess.run(
        [
            "tar",
            "--xattrs",
            "--xattrs-include=*",
            "--format=pax",
            "-cf",
            str(layer),
            "-C",
            str(src),
            ".",
        ],
        check=True,
    )
    dst = tmp_path / "ours"
    dst.mkdir()
    with open(layer, "rb") as f:
        apply_layer(f, dst)
    assert _secs(tb.tree_state(dst)) == _secs(tb.tree_state(src))
    assert os.getxattr(dst / "usr" / "sbin" / "ping", "security.capability") == CAP


def _secs(state: dict[str, tuple[object, ...]]) -> dict[str, tuple[object, ...]]:
    out = {}
    for k, v in state.items():
        mtime = v[4]
        assert isinstance(mtime, int)
        out[k] = (*v[:4], mtime // 1_000_000_000, *v[5:])
    return out
