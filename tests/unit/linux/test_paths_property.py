"""Property: whatever tree of dirs and symlinks, resolution never leaves the root,
and the openat2 path and the manual walk agree."""

from __future__ import annotations

import os
import shutil
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockyard.linux import paths

NAMES = ["a", "b", "c", "..", "."]
component = st.sampled_from(NAMES)
rel_path = st.lists(component, min_size=1, max_size=6).map("/".join)
any_path = st.tuples(st.booleans(), rel_path, st.booleans()).map(
    lambda t: ("/" if t[0] else "") + t[1] + ("/" if t[2] else "")
)
# An entry: (parent dir among a few, name, kind, link target)
entry = st.tuples(
    st.sampled_from(["", "a", "b", "a/b", "b/c"]),
    st.sampled_from(["a", "b", "c", "l", "m"]),
    st.sampled_from(["dir", "link", "file"]),
    any_path,
)


def build(root: str, entries: list[tuple[str, str, str, str]]) -> None:
    for parent, name, kind, target in entries:
        d = os.path.join(root, parent)
        if not os.path.isdir(d) or os.path.islink(d):
            continue
        p = os.path.join(d, name)
        if os.path.lexists(p):
            continue
        if kind == "dir":
            os.mkdir(p)
        elif kind == "file":
            with open(p, "w") as f:
                f.write("x")
        else:
            os.symlink(target, p)


FLAGS = [
    os.O_PATH | os.O_CLOEXEC,
    os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC,
    os.O_RDONLY | os.O_CLOEXEC,
    os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC,
    os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
    os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC,
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
    os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
]


def outcome(root: str, rfd: int, query: str, flags: int) -> tuple[str, str | int]:
    """("ok", path relative to the root) or ("err", errno); escaping fails the test."""
    try:
        fd = paths.open_in_root(rfd, query, flags, 0o644)
    except OSError as e:
        assert e.errno is not None
        return ("err", e.errno)
    try:
        got = os.readlink(paths.proc_fd_path(fd))
    finally:
        os.close(fd)
    assert got == root or got.startswith(root + "/"), (query, got)
    return ("ok", got[len(root) :] or "/")


def listing(root: str) -> list[tuple[str, bool]]:
    out = []
    for d, dirs, files in os.walk(root):
        out += [(os.path.relpath(os.path.join(d, n), root), True) for n in dirs]
        out += [(os.path.relpath(os.path.join(d, n), root), False) for n in files]
    return sorted(out)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(entry, max_size=14),
    st.lists(st.tuples(any_path, st.sampled_from(FLAGS)), min_size=1, max_size=5),
)
def test_random_trees_never_escape(
    entries: list[tuple[str, str, str, str]], queries: list[tuple[str, int]]
) -> None:
    """Twin trees: one resolved by openat2, one by the walk; same answers, same
    files created, nothing ever resolved or created outside the root."""
    base = tempfile.mkdtemp(prefix="dockyard-paths-")
    fds: list[int] = []
    try:
        # A decoy tree outside the roots with the same names: an escape would find it.
        for d in ("a/b/c", "b/c"):
            os.makedirs(os.path.join(base, d), exist_ok=True)
        roots = [os.path.join(base, "kernel"), os.path.join(base, "walk")]
        for root in roots:
            os.mkdir(root)
            build(root, entries)
            fds.append(os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC))
        decoy = listing(os.path.join(base, "a"))
        for q, flags in queries:
            paths.use_openat2(None)
            kernel = outcome(roots[0], fds[0], q, flags)
            paths.use_openat2(False)
            walked = outcome(roots[1], fds[1], q, flags)
            assert kernel == walked, (q, flags, kernel, walked)
            assert listing(roots[0]) == listing(roots[1])
        assert listing(os.path.join(base, "a")) == decoy
        assert sorted(os.listdir(base)) == ["a", "b", "kernel", "walk"]
    finally:
        for fd in fds:
            os.close(fd)
        paths.use_openat2(None)
        shutil.rmtree(base)


@settings(max_examples=150, deadline=None)
@given(st.lists(entry, max_size=10), rel_path)
def test_mkdirall_stays_inside(entries: list[tuple[str, str, str, str]], query: str) -> None:
    base = tempfile.mkdtemp(prefix="dockyard-paths-")
    try:
        root = os.path.join(base, "root")
        os.mkdir(root)
        build(root, entries)
        before = set(os.listdir(base))
        rfd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            try:
                fd = paths.mkdirall_in_root(rfd, query)
            except OSError:
                pass
            else:
                got = os.readlink(paths.proc_fd_path(fd))
                os.close(fd)
                assert got == root or got.startswith(root + "/")
                assert paths.is_real_dir(rfd)
        finally:
            os.close(rfd)
        assert set(os.listdir(base)) == before
    finally:
        shutil.rmtree(base)
