"""`docker cp` both ways, as tar streams, resolving every path inside the container's view.

The view is the rootfs with the container's volumes, bind mounts and /etc files over it, as
Docker 20.10 shows it to a copy (engine.mountpoints.ContainerFS). Paths are opened relative
to directory fds, so a symlink in the container (``/etc -> /``, ``x -> ../../..``) can never
reach the host; directory walks use fd-relative calls only (scandir on an fd, O_NOFOLLOW
opens) and step into a mount's source where a child is a mount point.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import os
import posixpath
import shutil
import stat
import tarfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO

from dockyard.engine.errors import EngineError, InvalidParameter, NotFound
from dockyard.engine.mountpoints import ContainerFS, MountPoint, route

# Docker's own messages (daemon/archive.go); it answers them with a 500.
ROOTFS_READ_ONLY = "container rootfs is marked read-only"
VOLUME_READ_ONLY = "mounted volume is marked read-only"


class ReadOnlyTarget(EngineError):
    """A copy into a read-only rootfs or read-only mount (500, as Docker answers)."""


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


def _abs(path: str) -> str:
    return path if path.startswith("/") else "/" + path


@contextmanager
def _view(rootfs: str, mounts: Sequence[MountPoint]) -> Iterator[ContainerFS]:
    fs = ContainerFS(rootfs, mounts)
    try:
        yield fs
    finally:
        fs.close()


class NoSuchPath(NotFound):
    """A path that is not in the container (the engine names the container)."""

    def __init__(self, path: str, container: str = "") -> None:
        super().__init__(f"Could not find the file {path} in container {container}".rstrip())
        self.path = path


def _open_target(fs: ContainerFS, path: str) -> tuple[tuple[str, ...], int]:
    """(resolved path, O_PATH fd): the link itself for the last component, as Docker's cp."""
    return _resolve(fs, _abs(path), follow_last=False, not_a_dir="not a directory")


def _resolve(
    fs: ContainerFS, path: str, *, follow_last: bool, not_a_dir: str
) -> tuple[tuple[str, ...], int]:
    """``fs.resolve`` with its errors as Docker words them (``not_a_dir``: what to call a
    path whose parent is not a directory)."""
    try:
        return fs.resolve(path, follow_last=follow_last)
    except FileNotFoundError:
        raise NoSuchPath(path) from None
    except NotADirectoryError:
        raise InvalidParameter(f"{not_a_dir}: {path}") from None
    except OSError as e:
        raise InvalidParameter(f"cannot resolve {path}: {e.strerror}") from None


def _link_target(fs: ContainerFS, where: tuple[str, ...], text: str) -> str:
    """Docker's linkTarget: the link fully resolved in the container, as an absolute path."""
    try:
        resolved, fd = fs.resolve("/" + "/".join(where), follow_last=True)
        os.close(fd)
        return "/" + "/".join(resolved)
    except OSError:
        # Dangling: the target's text, made absolute against the link's directory.
        return posixpath.normpath(posixpath.join("/" + "/".join(where[:-1]), text))


def stat_path(rootfs: str, path: str, mounts: Sequence[MountPoint] = ()) -> PathStat:
    with _view(rootfs, mounts) as fs:
        where, fd = _open_target(fs, path)
        try:
            st = os.fstat(fd)
            link = ""
            if stat.S_ISLNK(st.st_mode):
                link = _link_target(fs, where, os.readlink("", dir_fd=fd))
        finally:
            os.close(fd)
    name = os.path.basename(path.rstrip("/")) or "/"
    return PathStat(name, st.st_size, go_mode(st.st_mode), _rfc3339(st.st_mtime), link)


def write_archive(rootfs: str, path: str, out: BinaryIO, mounts: Sequence[MountPoint] = ()) -> None:
    """A tar of ``path`` (file, link or directory tree) named by its base name."""
    with _view(rootfs, mounts) as fs:
        where, fd = _open_target(fs, path)
        try:
            base = os.path.basename(path.rstrip("/")) or "."
            if path.endswith("/."):
                base = "."
            with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                _add(tar, fs, fd, base, where)
        finally:
            os.close(fd)


def _tarinfo(name: str, st: os.stat_result) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.mode = stat.S_IMODE(st.st_mode)
    ti.uid, ti.gid = st.st_uid, st.st_gid
    ti.mtime = int(st.st_mtime)
    return ti


def _children(fs: ContainerFS, dfd: int, where: tuple[str, ...]) -> list[str]:
    """A directory's entries, plus mount points right under it that the rootfs lacks (a
    stopped container's mount points may not exist yet: the runtime makes them at start)."""
    names = {e.name for e in os.scandir(dfd)}
    for m in fs.mounts_under(where):
        names.add(m)
    return sorted(names)


def _add(tar: tarfile.TarFile, fs: ContainerFS, fd: int, name: str, where: tuple[str, ...]) -> None:
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
            for child in _children(fs, dfd, where):
                try:
                    cfd = fs.open_child(dfd, (*where, child))
                except FileNotFoundError:
                    continue  # removed while we walk
                try:
                    _add(tar, fs, cfd, f"{name}/{child}" if name != "." else child, (*where, child))
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


def _extract_dir(fs: ContainerFS, path: str, read_only_rootfs: bool) -> tuple[tuple[str, ...], int]:
    """(resolved path, O_RDONLY directory fd) of ``path`` in the view (the target of a PUT),
    after Docker's checks in its order: not found, not a directory, then read-only mount or
    rootfs."""
    path = _abs(path)
    where, pfd = _resolve(
        fs, path, follow_last=True, not_a_dir="extraction point is not a directory"
    )
    try:
        if not stat.S_ISDIR(os.fstat(pfd).st_mode):
            raise InvalidParameter("extraction point is not a directory")
        owner = fs.owner(where)
        if owner is not None and not owner.writable:
            raise ReadOnlyTarget(VOLUME_READ_ONLY)
        if owner is None and read_only_rootfs:
            raise ReadOnlyTarget(ROOTFS_READ_ONLY)
        return where, _reopen_dir(pfd)
    finally:
        os.close(pfd)


def _reopen_dir(fd: int) -> int:
    return os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def _apply(stream: BinaryIO, dir_fd: int) -> None:
    from pathlib import Path

    from dockyard.store.layers import LayerError, apply_layer

    try:
        # A cp archive is no image layer: a ".wh.x" in it is a file named so, as in Docker.
        apply_layer(stream, Path(f"/proc/self/fd/{dir_fd}"), whiteout_format="none")
    except LayerError as e:
        raise InvalidParameter(f"cannot extract the archive: {e}") from None


def put_archive(
    rootfs: str,
    path: str,
    stream: BinaryIO,
    mounts: Sequence[MountPoint] = (),
    *,
    read_only_rootfs: bool = False,
) -> None:
    """Unpack the tar ``stream`` into directory ``path`` with the store's safe applier; the
    members that fall in a mount below ``path`` go into that mount, as with Docker."""
    with _view(rootfs, mounts) as fs:
        where, fd = _extract_dir(fs, path, read_only_rootfs)
        try:
            below = fs.mounts_below(where)
            if not below:
                _apply(stream, fd)
            else:
                _Router(fs, where, fd, below).run(stream)
        finally:
            os.close(fd)


class _Run:
    """One run of members for one directory: a tar written into a pipe that the store's
    applier reads in a thread (memory stays bounded, nothing is spooled to disk)."""

    def __init__(self, dir_fd: int) -> None:
        self.dir_fd = dir_fd  # owned: closed by finish()
        r, w = os.pipe()
        self.reader = os.fdopen(r, "rb")
        self.out = os.fdopen(w, "wb")
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._apply, name="cp-extract", daemon=True)
        self.thread.start()
        self.writer = tarfile.open(fileobj=self.out, mode="w|", format=tarfile.PAX_FORMAT)  # noqa: SIM115

    def _apply(self) -> None:
        try:
            _apply(self.reader, self.dir_fd)
        except BaseException as e:
            self.error = e
        finally:
            self.reader.close()  # a writer still going gets EPIPE, not a hang

    def add(self, info: tarfile.TarInfo, data: Any) -> None:
        try:
            self.writer.addfile(info, data)
        except BrokenPipeError:
            self.finish()  # raises the applier's own error
            raise InvalidParameter("cannot extract the archive: the extraction stopped") from None

    def finish(self) -> None:
        try:
            # The applier may stop reading at the end-of-archive blocks: EPIPE is fine.
            with contextlib.suppress(BrokenPipeError):
                self.writer.close()
            with contextlib.suppress(BrokenPipeError):
                self.out.close()
        finally:
            self.thread.join()
            os.close(self.dir_fd)
            self.dir_fd = -1
        if self.error is not None:
            raise self.error

    def abort(self) -> None:
        """End the run after an error elsewhere (what was sent stays applied, as Docker's)."""
        if self.dir_fd < 0:
            return
        with contextlib.suppress(BaseException):
            self.finish()


class _Router:
    """Splits a tar whose members reach mount points below the extraction directory into
    runs of consecutive members with the same destination, each streamed to the store's
    applier on its own directory. Only used when such mounts exist."""

    def __init__(
        self,
        fs: ContainerFS,
        where: tuple[str, ...],
        dir_fd: int,
        below: dict[tuple[str, ...], MountPoint],
    ) -> None:
        self.fs, self.where, self.dir_fd, self.below = fs, where, dir_fd, below
        self.target: tuple[str, ...] | None = None
        self.run_: _Run | None = None

    def run(self, stream: BinaryIO) -> None:
        try:
            with tarfile.open(fileobj=stream, mode="r|*") as tar:
                for member in tar:
                    dest = route(self.where, member.name, self.below)
                    if dest is None:
                        raise InvalidParameter(
                            f"cannot extract the archive: {member.name!r} leaves the directory"
                        )
                    target, name = dest
                    data = tar.extractfile(member) if member.isreg() else None
                    self._member(target, name, member, data)
            self._flush()
        except tarfile.TarError as e:
            raise InvalidParameter(f"cannot extract the archive: {e}") from None
        finally:
            if self.run_ is not None:
                self.run_.abort()

    def _member(
        self, target: tuple[str, ...], name: str, member: tarfile.TarInfo, data: Any
    ) -> None:
        if target != self.where:
            mount = self.below[target]
            if not mount.writable:
                raise ReadOnlyTarget(VOLUME_READ_ONLY)
            src_fd = self.fs.source_fd(target)
            if not stat.S_ISDIR(os.fstat(src_fd).st_mode):
                self._flush()
                self._into_file(src_fd, name, member, data)
                return
            if name == "." and not member.isdir():
                raise InvalidParameter(
                    f"cannot extract the archive: {member.name!r} would replace a mount point"
                )
        info = copy.copy(member)
        info.name = name
        if member.islnk():
            # A hard link names another member: it must land in the same directory tree.
            linked = route(self.where, member.linkname, self.below)
            if linked is None or linked[0] != target:
                raise InvalidParameter(
                    f"cannot extract the archive: hard link {member.name!r} crosses a mount point"
                )
            info.linkname = linked[1]
        if target != self.target or self.run_ is None:
            self._flush()
            fd = self.dir_fd if target == self.where else self.fs.source_fd(target)
            self.run_ = _Run(_reopen_dir(fd))
            self.target = target
        self.run_.add(info, data)

    def _into_file(self, src_fd: int, name: str, member: tarfile.TarInfo, data: Any) -> None:
        """A member over a file bind mount (/etc/hosts and the like): its content goes in."""
        if name != "." or not member.isreg() or data is None:
            raise InvalidParameter(
                f"cannot extract the archive: {member.name!r} would replace a mount point"
            )
        wfd = os.open(f"/proc/self/fd/{src_fd}", os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
        with os.fdopen(wfd, "wb") as out:
            shutil.copyfileobj(data, out)

    def _flush(self) -> None:
        if self.run_ is None:
            return
        run, self.run_, self.target = self.run_, None, None
        run.finish()


def changes_json(items: list[tuple[str, str]]) -> list[dict[str, Any]]:
    kinds = {"C": 0, "A": 1, "D": 2}
    return [{"Path": p, "Kind": kinds[k]} for k, p in items]
