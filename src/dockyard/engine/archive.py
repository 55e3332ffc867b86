"""`docker cp` both ways, as tar streams, resolving every path inside the container's root.

Paths are opened relative to a directory fd of the root with dockyard.linux.paths, so
a symlink in the container (``/etc -> /``, ``x -> ../../..``) can never reach the host.
Directory walks use fd-relative calls only (scandir on an fd, O_NOFOLLOW opens).
"""

from __future__ import annotations

import base64
import json
import os
import stat
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO

from dockyard.engine.errors import InvalidParameter, NotFound
from dockyard.linux.paths import open_in_root


@dataclass(frozen=True)
class PathStat:
    name: str
    size: int
    mode: int  # Go's os.FileMode bits, as Docker sends them
    mtime: str
    link_target: str

    def header(self) -> str:
        """The X-Docker-Container-Path-Stat header value (base64 of JSON)."""
        data = {
            "name": self.name,
            "size": self.size,
            "mode": self.mode,
            "mtime": self.mtime,
            "linkTarget": self.link_target,
        }
        return base64.b64encode(json.dumps(data).encode()).decode()


# Go's os.FileMode type bits.
_GO_DIR = 1 << 31
_GO_SYMLINK = 1 << 27
_GO_DEVICE = 1 << 26
_GO_PIPE = 1 << 25
_GO_SOCKET = 1 << 24
_GO_CHARDEV = 1 << 21


def go_mode(st_mode: int) -> int:
    """Translate a Unix st_mode into Go's os.FileMode encoding (what the docker CLI expects)."""
    m = stat.S_IMODE(st_mode) & 0o777
    if stat.S_ISDIR(st_mode):
        m |= _GO_DIR
    elif stat.S_ISLNK(st_mode):
        m |= _GO_SYMLINK
    elif stat.S_ISCHR(st_mode):
        m |= _GO_DEVICE | _GO_CHARDEV
    elif stat.S_ISBLK(st_mode):
        m |= _GO_DEVICE
    elif stat.S_ISFIFO(st_mode):
        m |= _GO_PIPE
    elif stat.S_ISSOCK(st_mode):
        m |= _GO_SOCKET
    return m


def _rfc3339(ts: float) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


@contextmanager
def _root_fd(rootfs: str) -> Iterator[int]:
    fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)


def _open_target(root_fd: int, path: str) -> int:
    """O_PATH fd of ``path``: the link itself for the last component, as Docker's cp does."""
    if not path.startswith("/"):
        path = "/" + path
    follow_last = path.endswith("/") or path.endswith("/.")
    flags = os.O_PATH | os.O_CLOEXEC | (0 if follow_last else os.O_NOFOLLOW)
    try:
        return open_in_root(root_fd, path, flags)
    except FileNotFoundError:
        raise NotFound(f"Could not find the file {path} in container") from None
    except NotADirectoryError:
        raise InvalidParameter(f"not a directory: {path}") from None


def stat_path(rootfs: str, path: str) -> PathStat:
    with _root_fd(rootfs) as rfd:
        fd = _open_target(rfd, path)
        try:
            st = os.fstat(fd)
            link = ""
            if stat.S_ISLNK(st.st_mode):
                link = os.readlink("", dir_fd=fd)
        finally:
            os.close(fd)
    name = os.path.basename(path.rstrip("/")) or "/"
    return PathStat(name, st.st_size, go_mode(st.st_mode), _rfc3339(st.st_mtime), link)


def write_archive(rootfs: str, path: str, out: BinaryIO) -> None:
    """A tar of ``path`` (file, link or directory tree) named by its base name."""
    with _root_fd(rootfs) as rfd:
        fd = _open_target(rfd, path)
        try:
            base = os.path.basename(path.rstrip("/")) or "."
            if path.endswith("/."):
                base = "."
            with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                _add(tar, fd, base)
        finally:
            os.close(fd)


def _tarinfo(name: str, st: os.stat_result) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.mode = stat.S_IMODE(st.st_mode)
    ti.uid, ti.gid = st.st_uid, st.st_gid
    ti.mtime = int(st.st_mtime)
    return ti


def _add(tar: tarfile.TarFile, fd: int, name: str) -> None:
    """Add the object behind the O_PATH ``fd`` (and, for a directory, its tree)."""
    st = os.fstat(fd)
    ti = _tarinfo(name, st)
    if stat.S_ISLNK(st.st_mode):
        ti.type = tarfile.SYMTYPE
        ti.linkname = os.readlink("", dir_fd=fd)
        tar.addfile(ti)
    elif stat.S_ISREG(st.st_mode):
        rfd = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)
        with os.fdopen(rfd, "rb") as f:
            ti.size = os.fstat(f.fileno()).st_size
            tar.addfile(ti, f)
    elif stat.S_ISDIR(st.st_mode):
        ti.type = tarfile.DIRTYPE
        tar.addfile(ti)
        dfd = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            names = sorted(e.name for e in os.scandir(dfd))
            for child in names:
                cfd = os.open(child, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
                try:
                    _add(tar, cfd, f"{name}/{child}" if name != "." else child)
                finally:
                    os.close(cfd)
        finally:
            os.close(dfd)
    elif stat.S_ISFIFO(st.st_mode):
        ti.type = tarfile.FIFOTYPE
        tar.addfile(ti)
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        ti.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
        ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        tar.addfile(ti)
    # sockets are skipped, as Docker does


def extract_dir(rootfs: str, path: str) -> int:
    """An O_RDONLY directory fd of ``path`` inside the root (the target of a PUT)."""
    with _root_fd(rootfs) as rfd:
        try:
            fd = open_in_root(rfd, path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise NotFound(f"Could not find the file {path} in container") from None
        except NotADirectoryError:
            raise InvalidParameter(f"extraction point is not a directory: {path}") from None
    return fd


def put_archive(rootfs: str, path: str, stream: BinaryIO) -> None:
    """Unpack the tar ``stream`` into directory ``path`` with the store's safe applier."""
    from pathlib import Path

    from dockyard.store.layers import LayerError, apply_layer

    fd = extract_dir(rootfs, path)
    try:
        try:
            apply_layer(stream, Path(f"/proc/self/fd/{fd}"))
        except LayerError as e:
            raise InvalidParameter(f"cannot extract the archive: {e}") from None
    finally:
        os.close(fd)


def changes_json(items: list[tuple[str, str]]) -> list[dict[str, Any]]:
    kinds = {"C": 0, "A": 1, "D": 2}
    return [{"Path": p, "Kind": kinds[k]} for k, p in items]
