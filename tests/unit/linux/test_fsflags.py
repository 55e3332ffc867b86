"""The top-directory hint on the snapshots directory (ext4's Orlov spreading)."""

from __future__ import annotations

import array
import fcntl
import os
from pathlib import Path

import pytest

from dockyard.linux.fsflags import FS_IOC_GETFLAGS, FS_TOPDIR_FL, spread_subdirs


def _flags(path: Path) -> int | None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        buf = array.array("i", [0, 0])
        fcntl.ioctl(fd, FS_IOC_GETFLAGS, buf, True)
        return buf[0]
    except OSError:
        return None
    finally:
        os.close(fd)


def test_sets_the_flag_where_the_filesystem_has_it(tmp_path: Path) -> None:
    d = tmp_path / "snapshots"
    d.mkdir()
    before = _flags(d)
    if before is None:
        assert spread_subdirs(d) is False  # no flags here: only a hint not taken
        return
    if os.geteuid() != 0 and not spread_subdirs(d):
        pytest.skip("setting inode flags is refused here")
    assert spread_subdirs(d) is True
    after = _flags(d)
    assert after is not None and after & FS_TOPDIR_FL
    assert after & ~FS_TOPDIR_FL == before & ~FS_TOPDIR_FL  # nothing else changed
    assert spread_subdirs(d) is True  # already set: nothing to do


def test_missing_or_not_a_directory(tmp_path: Path) -> None:
    assert spread_subdirs(tmp_path / "nope") is False
    f = tmp_path / "file"
    f.write_bytes(b"x")
    assert spread_subdirs(f) is False
    link = tmp_path / "link"
    link.symlink_to(tmp_path)
    assert spread_subdirs(link) is False  # never through a symlink


def test_a_new_snapshotter_marks_its_snapshots_dir(tmp_path: Path) -> None:
    from dockyard.store.snapshots.copy import CopySnapshotter

    probe = tmp_path / "probe"
    probe.mkdir()
    if not spread_subdirs(probe):
        pytest.skip("no inode flags on this filesystem")
    snap = CopySnapshotter(tmp_path / "snap")
    flags = _flags(snap.snapshots_dir)
    assert flags is not None and flags & FS_TOPDIR_FL
