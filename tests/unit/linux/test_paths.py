"""Path resolution inside a root: a symlink maze, errors, creation helpers."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.linux import paths
from dockyard.linux.paths import (
    mkdirall_in_root,
    mkfile_in_root,
    open_in_root,
    proc_fd_path,
)


def real(fd: int) -> str:
    try:
        return os.readlink(proc_fd_path(fd))
    finally:
        os.close(fd)


@pytest.fixture
def maze(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A root full of hostile links, plus a secret outside it."""
    (tmp_path / "secret").write_text("host secret\n")
    root = tmp_path / "root"
    for d in ("etc", "a/b/c", "dir"):
        (root / d).mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (root / "a/b/c/file").write_text("deep\n")
    links = {
        "abs_passwd": "/etc/passwd",
        "dotdot": "../../../../../../..",
        "dotdot_secret": "../secret",
        "deep_up": "a/b/c/../../../../../secret",
        "loop1": "loop2",
        "loop2": "loop1",
        "self": "self",
        "dangling": "/nonexistent/x",
        "to_link": "abs_passwd",
        "to_abs_dir": "/a/b",
        "proc_magic": "/proc/self/root/etc/passwd",
        "a/b/up": "../../..",
        "a/b/c/rootlink": "/",
        "dir/chain": "../to_link",
        "host_etc": "/etc",
    }
    for name, target in links.items():
        os.symlink(target, root / name)
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        yield root, fd
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    ("path", "expect"),
    [
        ("abs_passwd", "etc/passwd"),
        ("/abs_passwd", "etc/passwd"),
        ("to_link", "etc/passwd"),
        ("dir/chain", "etc/passwd"),
        ("dotdot", ""),
        ("dotdot/etc/passwd", "etc/passwd"),
        ("../../../../etc/passwd", "etc/passwd"),
        ("to_abs_dir/c/file", "a/b/c/file"),
        ("a/b/up/a/b/c/rootlink/etc", "etc"),
        ("a/b/c/rootlink/../../..", ""),
        ("host_etc/passwd", "etc/passwd"),
        ("/", ""),
        ("", ""),
        (".", ""),
        ("a/./b/../b/c", "a/b/c"),
    ],
)
def test_maze_resolves_inside(
    maze: tuple[Path, int], resolver: str, path: str, expect: str
) -> None:
    root, rfd = maze
    got = real(open_in_root(rfd, path))
    want = str(root / expect) if expect else str(root)
    assert got == want


@pytest.mark.parametrize(
    ("path", "err"),
    [
        ("dotdot_secret", errno.ENOENT),  # ../secret clamps to /secret: absent in root
        ("deep_up", errno.ENOENT),
        ("dangling", errno.ENOENT),
        ("loop1", errno.ELOOP),
        ("self", errno.ELOOP),
        ("etc/passwd/x", errno.ENOTDIR),
        ("nope/x", errno.ENOENT),
    ],
)
def test_maze_errors_never_escape(
    maze: tuple[Path, int], resolver: str, path: str, err: int
) -> None:
    _, rfd = maze
    with pytest.raises(OSError) as info:
        os.close(open_in_root(rfd, path))
    assert info.value.errno == err
    assert path in str(info.value)


def test_magic_link_is_not_followed_out(maze: tuple[Path, int], resolver: str) -> None:
    # /proc/self/root inside the root does not exist; a magic link would be refused.
    _, rfd = maze
    with pytest.raises(OSError):
        os.close(open_in_root(rfd, "proc_magic"))


def test_reads_content_through_links(maze: tuple[Path, int], resolver: str) -> None:
    _, rfd = maze
    fd = open_in_root(rfd, "to_link", os.O_RDONLY | os.O_CLOEXEC)
    try:
        assert os.read(fd, 100).startswith(b"root:x:0:0")
    finally:
        os.close(fd)


def test_nofollow_on_last_component(maze: tuple[Path, int], resolver: str) -> None:
    root, rfd = maze
    fd = open_in_root(rfd, "abs_passwd", os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        assert os.readlink(proc_fd_path(fd)) == str(root / "abs_passwd")
    finally:
        os.close(fd)
    with pytest.raises(OSError) as info:
        open_in_root(rfd, "abs_passwd", os.O_RDONLY | os.O_NOFOLLOW)
    assert info.value.errno == errno.ELOOP


def test_create_through_dangling_link_stays_inside(maze: tuple[Path, int], resolver: str) -> None:
    root, rfd = maze
    (root / "nonexistent").mkdir()
    fd = open_in_root(rfd, "dangling", os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    os.close(fd)
    assert (root / "nonexistent/x").is_file()


def test_directory_flag(maze: tuple[Path, int], resolver: str) -> None:
    _, rfd = maze
    with pytest.raises(NotADirectoryError):
        open_in_root(rfd, "etc/passwd", os.O_PATH | os.O_DIRECTORY)
    fd = open_in_root(rfd, "to_abs_dir", os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert paths.is_real_dir(fd)
    finally:
        os.close(fd)


def test_mkdirall_follows_links_only_inside(maze: tuple[Path, int], resolver: str) -> None:
    root, rfd = maze
    assert real(mkdirall_in_root(rfd, "dotdot/new/x/y")) == str(root / "new/x/y")
    assert real(mkdirall_in_root(rfd, "dangling/sub")) == str(root / "nonexistent/x/sub")
    assert real(mkdirall_in_root(rfd, "a/b")) == str(root / "a/b")
    assert not (root.parent / "new").exists()


def test_mkdirall_refuses_a_file_component(maze: tuple[Path, int], resolver: str) -> None:
    _, rfd = maze
    with pytest.raises(NotADirectoryError):
        mkdirall_in_root(rfd, "etc/passwd/sub")
    with pytest.raises(NotADirectoryError):
        mkdirall_in_root(rfd, "to_link")


def test_mkdirall_loop_errors(maze: tuple[Path, int], resolver: str) -> None:
    _, rfd = maze
    with pytest.raises(OSError) as info:
        mkdirall_in_root(rfd, "loop1/x")
    assert info.value.errno == errno.ELOOP


def test_mkfile(maze: tuple[Path, int], resolver: str) -> None:
    root, rfd = maze
    fd = mkfile_in_root(rfd, "dotdot/run/x/file", 0o600)
    assert real(fd) == str(root / "run/x/file")
    assert (root / "run/x/file").stat().st_size == 0
    # Existing file: same inode, content untouched.
    assert real(mkfile_in_root(rfd, "etc/passwd")) == str(root / "etc/passwd")
    assert (root / "etc/passwd").read_text().startswith("root:")
    # A link to a file is followed inside the root.
    assert real(mkfile_in_root(rfd, "to_link")) == str(root / "etc/passwd")
    with pytest.raises(IsADirectoryError):
        mkfile_in_root(rfd, "a/b")
    with pytest.raises(IsADirectoryError):
        mkfile_in_root(rfd, "/")


def test_helpers(tmp_path: Path) -> None:
    fd = os.open("/dev/null", os.O_PATH | os.O_CLOEXEC)
    try:
        assert paths.is_dev_null(fd)
        assert paths.same_file(fd, "/dev/null")
        assert not paths.same_file(fd, "/dev/zero")
        assert not paths.is_real_dir(fd)
    finally:
        os.close(fd)
    (tmp_path / "f").write_text("")
    fd = os.open(tmp_path / "f", os.O_PATH | os.O_CLOEXEC)
    try:
        assert not paths.is_dev_null(fd)
        assert not paths.same_file(fd, str(tmp_path / "missing"))
    finally:
        os.close(fd)
    os.symlink(tmp_path, tmp_path / "l")
    fd = os.open(tmp_path / "l", os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        assert not paths.is_real_dir(fd)
    finally:
        os.close(fd)
    assert proc_fd_path(7) == "/proc/self/fd/7"


def test_forced_fallback_by_env(maze: tuple[Path, int], monkeypatch: pytest.MonkeyPatch) -> None:
    root, rfd = maze
    monkeypatch.setenv("DOCKYARD_NO_OPENAT2", "1")
    called = []
    real_walk = paths._walk

    def spy(*a: object, **k: object) -> int:
        called.append(a)
        return real_walk(*a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(paths, "_walk", spy)
    assert real(open_in_root(rfd, "abs_passwd")) == str(root / "etc/passwd")
    assert called
