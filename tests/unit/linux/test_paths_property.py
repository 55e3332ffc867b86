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
]


def outcome(rfd: int, query: str, flags: int) -> tuple[str, str | int]:
    try:
        fd = paths.open_in_root(rfd, query, flags)
    except OSError as e:
        assert e.errno is not None
        return ("err", e.errno)
    try:
        return ("ok", os.readlink(paths.proc_fd_path(fd)))
    finally:
        os.close(fd)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(entry, max_size=14),
    st.lists(st.tuples(any_path, st.sampled_from(FLAGS)), min_size=1, max_size=5),
)
def test_random_trees_never_escape(
    entries: list[tuple[str, str, str, str]], queries: list[tuple[str, int]]
) -> None:
    base = tempfile.mkdtemp(prefix="dockyard-paths-")
    try:
        # A decoy tree outside the root with the same names: an escape would find it.
        for d in ("a/b/c", "b/c"):
            os.makedirs(os.path.join(base, d), exist_ok=True)
        root = os.path.join(base, "root")
        os.mkdir(root)
        build(root, entries)
        rfd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for q, flags in queries:
                paths.use_openat2(None)
                kernel = outcome(rfd, q, flags)
                paths.use_openat2(False)
                walked = outcome(rfd, q, flags)
                for kind, value in (kernel, walked):
                    if kind == "ok":
                        assert value == root or str(value).startswith(root + "/"), (q, value)
                assert kernel == walked, (q, kernel, walked)
        finally:
            os.close(rfd)
            paths.use_openat2(None)
    finally:
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
