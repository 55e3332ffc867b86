"""cp's tar side: paths resolve inside the root, symlinks are archived as links."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from dockyard.engine import archive
from dockyard.engine.errors import NotFound


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    (r / "etc").mkdir(parents=True)
    (r / "etc" / "passwd").write_text("container passwd\n")
    (r / "data" / "sub").mkdir(parents=True)
    (r / "data" / "f").write_text("hello\n")
    (r / "data" / "sub" / "g").write_text("deep\n")
    os.symlink("/", r / "data" / "up")
    os.symlink("../../../../../etc", r / "data" / "rel")
    return r


def names(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: m for m in tar.getmembers()}


def tar_of(root: Path, path: str) -> bytes:
    buf = io.BytesIO()
    archive.write_archive(str(root), path, buf)
    return buf.getvalue()


def test_directory_tree(root: Path) -> None:
    m = names(tar_of(root, "/data"))
    assert {"data", "data/f", "data/sub", "data/sub/g", "data/up", "data/rel"} <= set(m)
    assert m["data/up"].issym() and m["data/up"].linkname == "/"
    assert m["data/f"].size == 6


def test_symlinks_never_leave_the_root(root: Path) -> None:
    # Through an absolute link to "/": the container's /etc, not the host's.
    with tarfile.open(fileobj=io.BytesIO(tar_of(root, "/data/up/etc/passwd"))) as tar:
        f = tar.extractfile("passwd")
        assert f is not None and f.read() == b"container passwd\n"
    # A relative link climbing far above the root stops at the root.
    with tarfile.open(fileobj=io.BytesIO(tar_of(root, "/data/rel/passwd"))) as tar:
        f = tar.extractfile("passwd")
        assert f is not None and f.read() == b"container passwd\n"
    with pytest.raises(NotFound):
        archive.stat_path(str(root), "/data/up/etc/shadow")


def test_stat_header(root: Path) -> None:
    st = archive.stat_path(str(root), "/data/up")
    assert st.link_target == "/" and st.mode & (1 << 27)
    st = archive.stat_path(str(root), "/data")
    assert st.name == "data" and st.mode & (1 << 31)
    import base64
    import json

    decoded = json.loads(base64.b64decode(st.header()))
    assert decoded["name"] == "data" and set(decoded) == {
        "name",
        "size",
        "mode",
        "mtime",
        "linkTarget",
    }


def test_go_mode_bits() -> None:
    assert archive.go_mode(stat.S_IFREG | 0o644) == 0o644
    assert archive.go_mode(stat.S_IFDIR | 0o755) == (1 << 31) | 0o755
    assert archive.go_mode(stat.S_IFLNK | 0o777) == (1 << 27) | 0o777


def test_changes_json() -> None:
    assert archive.changes_json([("C", "/a"), ("A", "/a/b"), ("D", "/c")]) == [
        {"Path": "/a", "Kind": 0},
        {"Path": "/a/b", "Kind": 1},
        {"Path": "/c", "Kind": 2},
    ]
