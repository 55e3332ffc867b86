"""A container's filesystem as `docker cp` sees it: the rootfs with its volumes and binds on top.

Docker 20.10 bind-mounts a container's volumes, bind mounts and its /etc/hosts, hostname and
resolv.conf over the root before a copy (running or stopped alike); tmpfs mounts are not part
of that view. We build the same view without mounting anything: ``ContainerFS`` resolves a
path one component at a time from O_PATH directory fds, switches to a mount's source where the
path reaches its destination, and expands symlinks itself with the container's root as ``/``
and ``..`` stopping there, so that no path ever leads outside the container's own files.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.linux.paths import MAX_SYMLINKS, mkdirall_in_root, mkfile_in_root

__all__ = ["ContainerFS", "MountPoint", "components", "covering", "mount_points", "route"]

_O_LOOKUP = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC

# The files the engine writes for each container (engine.rootfs.write_etc_files).
_ETC_FILES = (
    ("/etc/hostname", "hostname"),
    ("/etc/hosts", "hosts"),
    ("/etc/resolv.conf", "resolv.conf"),
)


@dataclass(frozen=True)
class MountPoint:
    destination: str  # absolute path inside the container, lexically clean
    source: str  # host path: a volume's directory, a bind source, or an engine file
    writable: bool
    volume: bool  # a user's mount (-v, --mount); False for the engine's /etc files


def components(path: str) -> tuple[str, ...]:
    """The lexical components of a container path, ``..`` stopping at the root (pure)."""
    clean = posixpath.normpath("/" + path)
    return tuple(c for c in clean.split("/") if c and c != ".")


def mount_points(records: Iterable[Mapping[str, Any]], etc_dir: Path | None) -> list[MountPoint]:
    """The mounts a copy sees, from the container's MountPoint records (bind and volume;
    tmpfs is left out, as Docker does) and the engine's /etc files in ``etc_dir`` where no
    user mount takes their place (pure, apart from checking which files exist)."""
    out: list[MountPoint] = []
    for r in records:
        if r.get("Type") not in ("bind", "volume") or not r.get("Source"):
            continue
        dest = "/" + "/".join(components(str(r.get("Destination") or "")))
        if dest == "/":
            continue
        out.append(MountPoint(dest, str(r["Source"]), bool(r.get("RW", True)), True))
    if etc_dir is not None:
        taken = {m.destination for m in out}
        for dest, name in _ETC_FILES:
            src = etc_dir / name
            if dest not in taken and src.is_file():
                out.append(MountPoint(dest, str(src), True, False))
    return out


def covering(mounts: Sequence[MountPoint], path: Sequence[str]) -> MountPoint | None:
    """The mount holding the (resolved) path: the deepest destination above or at it (pure)."""
    best: MountPoint | None = None
    depth = -1
    for m in mounts:
        dest = components(m.destination)
        if len(dest) > depth and tuple(path[: len(dest)]) == dest:
            best, depth = m, len(dest)
    return best


def route(
    base: tuple[str, ...], name: str, mount_paths: Iterable[tuple[str, ...]]
) -> tuple[tuple[str, ...], str] | None:
    """Where a tar member named ``name``, extracted at ``base``, belongs: (the deepest of
    ``base`` and the ``mount_paths`` below it that holds it, its name relative to that);
    None when the name climbs out of ``base`` (pure)."""
    norm = posixpath.normpath("./" + name.lstrip("/"))
    if norm == ".." or norm.startswith("../"):
        return None
    full = base if norm == "." else base + tuple(norm.split("/"))
    best = base
    for k in mount_paths:
        if len(k) > len(best) and full[: len(k)] == k:
            best = k
    return best, "/".join(full[len(best) :]) or "."


def _error(err: int, path: str) -> OSError:
    return OSError(err, f"{os.strerror(err)}: {path}", path)


class ContainerFS:
    """The rootfs directory plus mounts, opened once; close() (or ``with``) releases the fds.

    A mount destination is resolved through the view of the shallower mounts when it is
    opened (``-v data:/link/x`` with ``/link -> /var`` covers ``/var/x``, where the runtime
    mounted it); a missing one is made in the rootfs (or below a shallower mount), as
    the runtime would make it at start.
    """

    def __init__(self, rootfs: str, mounts: Sequence[MountPoint] = ()) -> None:
        self.root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        # resolved destination -> (mount, O_PATH fd of its source)
        self._mounts: dict[tuple[str, ...], tuple[MountPoint, int]] = {}
        try:
            for m in sorted(mounts, key=lambda m: len(components(m.destination))):
                self._add_mount(m)
        except BaseException:
            self.close()
            raise

    def _add_mount(self, m: MountPoint) -> None:
        try:
            # The source is the host's own path (the user's bind source, a volume dir):
            # trusted as the runtime trusts it when it mounts it.
            fd = os.open(m.source, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return  # the source is gone: the runtime could not mount it either
        where = self._destination(m.destination, fd)
        old = self._mounts.pop(where, None)
        if old is not None:
            os.close(old[1])
        self._mounts[where] = (m, fd)

    def _destination(self, dest: str, source_fd: int) -> tuple[str, ...]:
        """Where the runtime mounts ``dest``: resolved in the root. A missing mount point is
        made first, as the runtime (and Docker before a copy) makes it; if that fails (a
        file in the way, say), the lexical path."""
        parts = components(dest)
        for attempt in range(2):
            try:
                where, fd = self.resolve(dest, follow_last=True)
            except OSError:
                if attempt == 0 and not self._make(dest, source_fd):
                    break
                continue
            os.close(fd)
            return where
        return parts

    def _make(self, dest: str, source_fd: int) -> bool:
        """Make the missing part of ``dest`` under its deepest existing ancestor in the view
        (which may be a shallower mount's source)."""
        parts = components(dest)
        for i in range(len(parts) - 1, -1, -1):
            try:
                _where, afd = self.resolve("/" + "/".join(parts[:i]), follow_last=True)
            except OSError:
                continue
            rest = "/".join(parts[i:])
            try:
                if stat.S_ISDIR(os.fstat(source_fd).st_mode):
                    fd = mkdirall_in_root(afd, rest)
                else:
                    fd = mkfile_in_root(afd, rest)
            except OSError:
                return False
            finally:
                os.close(afd)
            os.close(fd)
            return True
        return False

    def close(self) -> None:
        for _m, fd in self._mounts.values():
            os.close(fd)
        self._mounts.clear()
        if self.root_fd >= 0:
            os.close(self.root_fd)
            self.root_fd = -1

    def __enter__(self) -> ContainerFS:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def mounts(self) -> list[MountPoint]:
        return [m for m, _fd in self._mounts.values()]

    def mount_at(self, where: Sequence[str]) -> MountPoint | None:
        """The mount whose (resolved) destination is exactly ``where``."""
        hit = self._mounts.get(tuple(where))
        return hit[0] if hit else None

    def mounts_under(self, where: Sequence[str]) -> list[str]:
        """Names of the mount points directly inside the (resolved) directory ``where``."""
        n = len(where)
        return [k[n] for k in self._mounts if len(k) == n + 1 and k[:n] == tuple(where)]

    def mounts_below(self, where: Sequence[str]) -> dict[tuple[str, ...], MountPoint]:
        """The mounts strictly inside the (resolved) directory ``where``, by resolved path."""
        n, head = len(where), tuple(where)
        return {k: m for k, (m, _fd) in self._mounts.items() if len(k) > n and k[:n] == head}

    def source_fd(self, where: Sequence[str]) -> int:
        """The O_PATH fd of the source of the mount at exactly ``where`` (owned by the view)."""
        return self._mounts[tuple(where)][1]

    def owner(self, where: Sequence[str]) -> MountPoint | None:
        """The mount that holds the resolved path ``where`` (None: the rootfs itself)."""
        for i in range(len(where), 0, -1):
            hit = self._mounts.get(tuple(where[:i]))
            if hit is not None:
                return hit[0]
        return None

    def open_child(self, parent_fd: int, where: Sequence[str]) -> int:
        """O_PATH|O_NOFOLLOW fd of ``where`` (resolved), whose parent is open as ``parent_fd``:
        the mount's source when a mount covers exactly that path."""
        hit = self._mounts.get(tuple(where))
        if hit is not None:
            return os.dup(hit[1])
        return os.open(where[-1], _O_LOOKUP, dir_fd=parent_fd)

    def resolve(self, path: str, *, follow_last: bool = False) -> tuple[tuple[str, ...], int]:
        """(resolved components, O_PATH fd) of ``path`` in the container's view.

        Symlinks are expanded inside the container (absolute ones from its root); the last
        component is followed only with ``follow_last`` or a trailing ``/``. Raises
        FileNotFoundError, NotADirectoryError or OSError(ELOOP).
        """
        must_dir = path.endswith("/") or path.endswith("/.")
        follow_last = follow_last or must_dir
        stack: list[tuple[str, int]] = [("", os.dup(self.root_fd))]
        todo: deque[str] = deque(c for c in path.split("/") if c)
        links = 0
        try:
            while todo:
                name = todo.popleft()
                if name == ".":
                    continue
                if name == "..":
                    if len(stack) > 1:
                        os.close(stack.pop()[1])
                    continue
                where = (*(n for n, _fd in stack[1:]), name)
                last = not todo
                try:
                    fd = self.open_child(stack[-1][1], where)
                except FileNotFoundError:
                    raise _error(errno.ENOENT, path) from None
                st = os.fstat(fd)
                if stat.S_ISLNK(st.st_mode) and (not last or follow_last):
                    links += 1
                    try:
                        if links > MAX_SYMLINKS:
                            raise _error(errno.ELOOP, path)
                        target = os.readlink("", dir_fd=fd)
                    finally:
                        os.close(fd)
                    if target.startswith("/"):
                        while len(stack) > 1:
                            os.close(stack.pop()[1])
                    todo.extendleft(reversed([c for c in target.split("/") if c]))
                    continue
                if (not last or must_dir) and not stat.S_ISDIR(st.st_mode):
                    os.close(fd)
                    raise NotADirectoryError(
                        errno.ENOTDIR, f"{os.strerror(errno.ENOTDIR)}: {path}", path
                    )
                stack.append((name, fd))
            where = tuple(n for n, _fd in stack[1:])
            return where, os.dup(stack[-1][1])
        finally:
            for _n, fd in stack:
                os.close(fd)
