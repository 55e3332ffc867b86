"""Apply a layer tar onto a directory, never following a symlink out of it.

Every filesystem operation is an ``*at()`` call relative to a directory fd that
was itself opened with O_NOFOLLOW from a verified parent, so a name in the
archive can only ever reach inside the target. Verified directory fds are kept
in a small cache (tar entries come grouped by directory); a symlink met on the
way to a parent is resolved the way the kernel does under RESOLVE_IN_ROOT, by
``dockyard.linux.paths``. The final component of an entry is never followed:
an existing entry in the way is removed and replaced.

What each member means is decided by plan.py; this module only executes.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from dockyard.linux.paths import PathEscapeError, mkdirall_in_root, open_in_root, proc_fd_path
from dockyard.store.layers import tarread as t
from dockyard.store.layers.errors import LayerError
from dockyard.store.layers.plan import (
    OVERLAY_OPAQUE_XATTR,
    Action,
    Kind,
    opaque_keeps,
    parents_of,
    plan,
    split_parent,
    whiteout_hides,
    xattr_allowed,
)
from dockyard.store.layers.source import LayerSource

WhiteoutFormat = Literal["oci", "overlay", "none"]

_O_DIR = os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC
_O_NEWFILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_O_READDIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_CACHED_DIRS = 256
_SMALL = 1 << 16  # bodies up to this size are written from a bytes slice
_IGNORED_XATTR_ERRORS = (errno.ENOTSUP, errno.EOPNOTSUPP)


@dataclass(frozen=True, slots=True)
class AppliedLayer:
    diff_id: str  # "sha256:…" of the uncompressed tar
    size: int  # uncompressed bytes


def apply_layer(
    stream: BinaryIO,
    target: Path,
    *,
    max_size: int | None = None,
    whiteout_format: WhiteoutFormat = "oci",
    lower_dirs: Sequence[Path] | None = None,
    overlay_xattrs: bool = False,
) -> AppliedLayer:
    """Apply the (plain, gzip, zstd, xz or bzip2) layer tar read from ``stream`` onto ``target``.

    ``whiteout_format="overlay"`` turns OCI whiteouts into overlayfs ones (0:0 char
    devices, trusted.overlay.opaque) for an overlay upper dir; ``"oci"`` deletes the
    lower entries in place; ``"none"`` (a plain archive, not a layer: `cp`) writes
    ``.wh.`` names as the ordinary files they are. With ``lower_dirs`` (the overlay
    layers below, any order) a whiteout is only written for a path one of them has:
    overlayfs lists a whiteout that hides nothing as a file that cannot be opened.
    ``overlay_xattrs`` lets trusted.overlay.* xattrs from the archive through (never
    wanted for untrusted layers). Raises LayerError (and LayerTooLarge past ``max_size``
    uncompressed bytes); the target is then in an undefined state and must be
    discarded.
    """
    source = LayerSource(stream, max_size=max_size)
    try:
        root_fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        source.close()
        raise LayerError(f"cannot open layer target {target}: {e.strerror}") from e
    applier = _Applier(root_fd, whiteout_format, overlay_xattrs, lower_dirs)
    try:
        applier.run(_Feed(source))
        applier.finish()
        diff_id, size = source.finish()
    finally:
        source.close()
        applier.close()
        os.close(root_fd)
    return AppliedLayer(diff_id, size)


class _Feed:
    """The uncompressed tar as a byte cursor over the source's chunks."""

    __slots__ = ("buf", "pos", "source")

    def __init__(self, source: LayerSource) -> None:
        self.source = source
        self.buf = b""
        self.pos = 0

    def _more(self) -> bytes:
        chunk = self.source.next_chunk()
        if not chunk:
            raise LayerError("truncated layer: unexpected end of the tar stream")
        return chunk

    def block(self) -> bytes | None:
        """The next 512-byte header block; None at a clean end of stream."""
        pos = self.pos
        end = pos + t.BLOCK
        if end <= len(self.buf):
            self.pos = end
            return self.buf[pos:end]
        rest = self.buf[pos:]
        while len(rest) < t.BLOCK:
            chunk = self.source.next_chunk()
            if not chunk:
                if rest:
                    raise LayerError("truncated layer: partial tar header")
                self.buf, self.pos = b"", 0
                return None
            rest += chunk
        self.buf, self.pos = rest, t.BLOCK
        return rest[: t.BLOCK]

    def read(self, n: int) -> bytes:
        out = bytearray()
        while n:
            if self.pos >= len(self.buf):
                self.buf, self.pos = self._more(), 0
            take = self.buf[self.pos : self.pos + n]
            out += take
            self.pos += len(take)
            n -= len(take)
        return bytes(out)

    def skip(self, n: int) -> None:
        while n:
            avail = len(self.buf) - self.pos
            if avail <= 0:
                self.buf, self.pos = self._more(), 0
                continue
            step = min(avail, n)
            self.pos += step
            n -= step

    def copy_to(self, fd: int, n: int) -> None:
        """Write the next ``n`` bytes to ``fd`` straight from the chunks (no copies)."""
        write = os.write
        while n:
            avail = len(self.buf) - self.pos
            if avail <= 0:
                self.buf, self.pos = self._more(), 0
                continue
            step = min(avail, n)
            view = memoryview(self.buf)[self.pos : self.pos + step]
            while view:
                view = view[write(fd, view) :]
            self.pos += step
            n -= step


def _within(path: str, top: str) -> bool:
    return not top or path == top or path.startswith(top + "/")


def find_in_layers(layers: Sequence[str], path: str) -> os.stat_result | None:
    """The lstat of ``path`` as the overlay stack ``layers`` (nearest first) shows it."""
    parts = path.split("/")
    live = list(layers)  # the layers still merged at the current depth
    for depth in range(1, len(parts) + 1):
        rel = "/".join(parts[:depth])
        last = depth == len(parts)
        below: list[str] = []
        for layer in live:
            # Every earlier prefix was checked to be a real dir in this layer, so
            # the lstat follows no symlink.
            full = os.path.join(layer, rel)
            try:
                st = os.lstat(full)
            except OSError:
                continue
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                break  # a whiteout hides this and every layer below
            if last:
                return st
            if not stat.S_ISDIR(st.st_mode):
                break  # a file hides the layers below, and holds no children
            below.append(layer)
            try:
                if os.getxattr(full, OVERLAY_OPAQUE_XATTR, follow_symlinks=False) == b"y":
                    break
            except OSError:
                pass
        if not below:
            return None
        live = below
    return None


def visible_in_layers(layers: Sequence[str], path: str) -> bool:
    """Whether ``path`` exists in the overlay stack ``layers`` (nearest first)."""
    return find_in_layers(layers, path) is not None


def _read_umask() -> int:
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


class _Applier:
    def __init__(
        self,
        root_fd: int,
        whiteouts: WhiteoutFormat,
        overlay_xattrs: bool,
        lower_dirs: Sequence[Path] | None = None,
    ) -> None:
        if whiteouts not in ("oci", "overlay", "none"):
            raise ValueError(f"unknown whiteout format {whiteouts!r}")
        self.root = root_fd
        self.overlay = whiteouts == "overlay"
        self.layer = whiteouts != "none"
        self.overlay_xattrs = overlay_xattrs
        self.as_root = os.geteuid() == 0
        self.umask = _read_umask()
        # Relative dir path -> O_PATH fd of that (verified) directory, and the gid a
        # file created in it gets (the dir's own when it is setgid).
        self.dirs: dict[str, int] = {}
        self.via_link: set[str] = set()  # cached paths that went through a symlink
        self.euid, self.egid = os.geteuid(), os.getegid()
        self.new_gid: dict[str, int] = {"": self._gid_for(os.fstat(root_fd))}
        # Paths this layer created: whiteouts and opaque dirs only hide the others.
        self.layer_paths: set[str] = set()
        # Overlay mode: the layers below, dirs made opaque and whiteouts made here.
        self.lower_dirs = None if lower_dirs is None else [str(p) for p in lower_dirs]
        self.opaque_dirs: set[str] = set()
        self.whiteouts: dict[str, list[str]] = {}
        # Directory metadata, set once their content is in place (mtime, read-only modes).
        self.deferred: dict[str, tuple[int, int, int, int]] = {}

    def _gid_for(self, st: os.stat_result) -> int:
        return st.st_gid if st.st_mode & stat.S_ISGID else self.egid

    def close(self) -> None:
        for fd in self.dirs.values():
            os.close(fd)
        self.dirs.clear()

    # --- the archive loop -------------------------------------------------------------

    def run(self, feed: _Feed) -> None:
        ext = t.Extensions()
        zero, file_kind, block_size = t.ZERO_BLOCK, Kind.FILE, t.BLOCK
        while True:
            # The next header, straight from the buffer when it is there (hot path).
            pos = feed.pos
            if pos + block_size <= len(feed.buf):
                block: bytes | None = feed.buf[pos : pos + block_size]
                feed.pos = pos + block_size
            else:
                block = feed.block()
            if block is None or block == zero:
                return
            m = t.parse_header(block)
            if m.type in t.EXTENSIONS:
                if m.size > t.MAX_EXTENSION:
                    raise LayerError(f"tar extension header of {m.size} bytes is too large")
                ext.add(m.type, feed.read(m.size))
                feed.skip(-m.size % block_size)
                continue
            if ext.pending:
                ext.merge(m)
            action = plan(m, self.layer)
            body = m.size if m.has_body else 0
            try:
                if action.kind is file_kind:
                    written = self._file(action, m, feed)
                else:
                    written = self.apply(action, m, feed)
            except PathEscapeError as e:
                raise LayerError(f"layer entry escapes the root: {m.name!r}") from e
            except OSError as e:
                raise LayerError(f"cannot apply layer entry {m.name!r}: {e.strerror}") from e
            left = body - written + (-body % block_size)
            if left:
                if feed.pos + left <= len(feed.buf):
                    feed.pos += left
                else:
                    feed.skip(left)

    def apply(self, a: Action, m: t.Member, feed: _Feed) -> int:
        """Execute one action; return how many body bytes it consumed."""
        kind = a.kind
        if kind is Kind.FILE:
            return self._file(a, m, feed)
        if kind is Kind.DIR:
            self._mkdir(a, m)
        elif kind is Kind.SYMLINK:
            self._symlink(a, m)
        elif kind is Kind.HARDLINK:
            self._hardlink(a)
        elif kind in (Kind.CHAR, Kind.BLOCK, Kind.FIFO):
            self._node(a, m)
        elif kind is Kind.WHITEOUT:
            self._whiteout(a)
        elif kind is Kind.OPAQUE:
            self._opaque(a)
        return 0

    # --- directory fds ------------------------------------------------------------------

    def _dir(self, path: str, *, create: bool = True) -> int:
        """O_PATH fd of directory ``path`` (resolved inside the root), made if missing."""
        if not path:
            return self.root
        fd = self.dirs.get(path)
        if fd is not None:
            if create and path not in self.layer_paths:
                self._holds_layer_entries(path)  # first seen by a lookup that made nothing
            return fd
        parts = path.split("/")
        # Start from the deepest cached ancestor.
        i = len(parts) - 1
        while i > 0 and "/".join(parts[:i]) not in self.dirs:
            i -= 1
        cur = self.dirs["/".join(parts[:i])] if i else self.root
        for j in range(i, len(parts)):
            sub = "/".join(parts[: j + 1])
            fd = self._open_dir(cur, parts[j], sub, create)
            self._remember(sub, fd)
            self.new_gid[sub] = self._gid_for(os.fstat(fd))
            cur = fd
        if create:
            self._holds_layer_entries(path)
        return cur

    def _holds_layer_entries(self, path: str) -> None:
        """``path`` and its parents hold this layer's entries: an opaque marker keeps them."""
        self.layer_paths.add(path)
        self.layer_paths.update(parents_of(path))

    def _open_dir(self, parent_fd: int, name: str, path: str, create: bool) -> int:
        try:
            return os.open(name, _O_DIR, dir_fd=parent_fd)
        except FileNotFoundError:
            if not create:
                raise
            os.mkdir(name, 0o755, dir_fd=parent_fd)
            if self.overlay and self.lower_dirs:
                self._copy_up_meta(path)
            return os.open(name, _O_DIR, dir_fd=parent_fd)
        except NotADirectoryError:
            st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
            if not stat.S_ISLNK(st.st_mode):
                if not create:
                    raise  # a lookup (whiteout, link target): the caller decides
                if path not in self.layer_paths:
                    # A lower layer's file where this layer has a directory (its own
                    # entry for it may come later in the archive): replace it.
                    os.unlink(name, dir_fd=parent_fd)
                    self._forget(path)
                    os.mkdir(name, 0o755, dir_fd=parent_fd)
                    return os.open(name, _O_DIR, dir_fd=parent_fd)
                raise LayerError(
                    f"layer entry path goes through a non-directory: {path!r}"
                ) from None
        # A symlink on the way: resolve it inside the root, as chroot would. What it
        # leads to may be replaced by a later entry under another name, so such fds
        # are dropped on every removal (see _forget).
        self.via_link.add(path)
        if create:
            return mkdirall_in_root(self.root, path)
        return open_in_root(self.root, path, _O_DIR & ~os.O_NOFOLLOW)

    def _copy_up_meta(self, path: str) -> None:
        """An upper dir the layer did not describe takes the lower dir's owner, mode and
        mtime, as overlayfs's own copy-up would; otherwise it would mask them."""
        if self.lower_dirs is None:
            return
        st = find_in_layers(self.lower_dirs, path)
        if st is not None and stat.S_ISDIR(st.st_mode):
            self.deferred.setdefault(
                path, (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), st.st_mtime_ns)
            )

    def _remember(self, path: str, fd: int) -> None:
        dirs = self.dirs
        old = dirs.pop(path, None)
        if old is not None:
            os.close(old)
        dirs[path] = fd
        if len(dirs) > _MAX_CACHED_DIRS:
            oldest = next(iter(dirs))
            os.close(dirs.pop(oldest))
            self.new_gid.pop(oldest, None)

    def _forget(self, path: str) -> None:
        """Drop cached fds at or under ``path`` (it was removed or replaced)."""
        prefix = path + "/"
        stale = [k for k in self.dirs if k == path or k.startswith(prefix)]
        if self.via_link:
            stale += [
                k for k in self.dirs if any(k == v or k.startswith(v + "/") for v in self.via_link)
            ]
            self.via_link.clear()
        for key in set(stale):
            os.close(self.dirs.pop(key))
            self.new_gid.pop(key, None)

    def _remove(self, parent_fd: int, name: str, path: str) -> bool:
        """Remove whatever is at ``name`` (recursively, never following links)."""
        try:
            st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(name, dir_fd=parent_fd)
        else:
            os.unlink(name, dir_fd=parent_fd)
        self._forget(path)
        return True

    # --- entries ------------------------------------------------------------------------

    def _file(self, a: Action, m: t.Member, feed: _Feed) -> int:
        pfd = self._dir(a.parent)
        name = a.name
        perm = m.mode & 0o777
        try:
            fd = os.open(name, _O_NEWFILE, perm, dir_fd=pfd)
        except FileExistsError:
            self._remove(pfd, name, a.path)
            fd = os.open(name, _O_NEWFILE, perm, dir_fd=pfd)
        try:
            size = m.size
            if size:
                buf, pos = feed.buf, feed.pos
                if pos + size <= len(buf) and size <= _SMALL:
                    # The whole (small) body is in the current chunk: one write.
                    if os.write(fd, buf[pos : pos + size]) != size:
                        raise OSError(errno.EIO, "short write")
                    feed.pos = pos + size
                else:
                    feed.copy_to(fd, size)
            # A new file belongs to us and to the group the parent dir hands out;
            # chown only when the archive wants something else.
            if self.as_root and (m.uid != self.euid or m.gid != self.new_gid.get(a.parent)):
                os.fchown(fd, m.uid, m.gid)
            if m.mode & 0o7000 or perm & self.umask:
                os.fchmod(fd, m.mode)  # after fchown, which clears setuid/setgid
            if m.xattrs:
                self._xattrs(fd, m.xattrs)
            os.utime(fd, ns=(m.mtime_ns, m.mtime_ns))
        finally:
            os.close(fd)
        self.layer_paths.add(a.path)
        return m.size

    def _mkdir(self, a: Action, m: t.Member) -> None:
        path = a.path
        self.deferred[path] = (m.uid, m.gid, m.mode, m.mtime_ns)
        self.layer_paths.add(path)
        if not path:
            return
        pfd = self._dir(a.parent)
        try:
            os.mkdir(a.name, 0o700, dir_fd=pfd)
        except FileExistsError:
            st = os.stat(a.name, dir_fd=pfd, follow_symlinks=False)
            if not stat.S_ISDIR(st.st_mode):
                self._remove(pfd, a.name, path)
                os.mkdir(a.name, 0o700, dir_fd=pfd)
        if m.xattrs:
            fd = os.open(a.name, _O_READDIR, dir_fd=pfd)
            try:
                self._xattrs(fd, m.xattrs)
            finally:
                os.close(fd)

    def _symlink(self, a: Action, m: t.Member) -> None:
        pfd = self._dir(a.parent)
        try:
            os.symlink(a.link, a.name, dir_fd=pfd)
        except FileExistsError:
            self._remove(pfd, a.name, a.path)  # forgets cached fds through the old entry
            os.symlink(a.link, a.name, dir_fd=pfd)
        if self.as_root and (m.uid != self.euid or m.gid != self.new_gid.get(a.parent)):
            os.chown(a.name, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
        if m.xattrs:
            self._link_xattrs(pfd, a.name, m.xattrs)
        os.utime(a.name, ns=(m.mtime_ns, m.mtime_ns), dir_fd=pfd, follow_symlinks=False)
        self.layer_paths.add(a.path)

    def _hardlink(self, a: Action) -> None:
        tparent, tname = split_parent(a.link)
        try:
            tfd = os.dup(self._dir(tparent, create=False))
        except (FileNotFoundError, NotADirectoryError):
            raise LayerError(f"hardlink target not found in the layer: {a.link!r}") from None
        try:
            pfd = self._dir(a.parent)
            try:
                os.link(tname, a.name, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
            except FileNotFoundError:
                raise LayerError(f"hardlink target not found in the layer: {a.link!r}") from None
            except FileExistsError:
                src = os.stat(tname, dir_fd=tfd, follow_symlinks=False)
                dst = os.stat(a.name, dir_fd=pfd, follow_symlinks=False)
                if (src.st_dev, src.st_ino) != (dst.st_dev, dst.st_ino):
                    self._remove(pfd, a.name, a.path)
                    os.link(tname, a.name, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
        finally:
            os.close(tfd)
        self.layer_paths.add(a.path)

    def _node(self, a: Action, m: t.Member) -> None:
        pfd = self._dir(a.parent)
        kind = a.kind
        fmt = stat.S_IFCHR if kind is Kind.CHAR else stat.S_IFBLK if kind is Kind.BLOCK else 0
        for attempt in (0, 1):
            try:
                if kind is Kind.FIFO:
                    os.mkfifo(a.name, m.mode & 0o777, dir_fd=pfd)
                else:
                    dev = os.makedev(m.devmajor, m.devminor)
                    os.mknod(a.name, fmt | (m.mode & 0o777), dev, dir_fd=pfd)
                break
            except FileExistsError:
                if attempt:
                    raise
                self._remove(pfd, a.name, a.path)
            except PermissionError:
                raise LayerError(
                    f"cannot create device node {a.path!r}: operation not permitted (not root?)"
                ) from None
        if self.as_root:
            os.chown(a.name, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
        os.chmod(a.name, m.mode, dir_fd=pfd, follow_symlinks=False)
        if m.xattrs:
            self._link_xattrs(pfd, a.name, m.xattrs)
        os.utime(a.name, ns=(m.mtime_ns, m.mtime_ns), dir_fd=pfd, follow_symlinks=False)
        self.layer_paths.add(a.path)

    def _whiteout(self, a: Action) -> None:
        path = a.path
        if not whiteout_hides(path, self.layer_paths):
            return
        if self.overlay:
            # Under a dir this layer made opaque, or for a path no lower layer has,
            # a whiteout hides nothing (and overlayfs would list it as a dead entry).
            if self._under_opaque(a.parent) or not self._in_lower(path):
                return
            pfd = self._dir(a.parent)
            self._remove(pfd, a.name, path)
            try:
                os.mknod(a.name, stat.S_IFCHR, 0, dir_fd=pfd)
            except PermissionError:
                raise LayerError(
                    f"cannot create overlay whiteout {path!r}: operation not permitted"
                ) from None
            self.whiteouts.setdefault(a.parent, []).append(a.name)
            return
        try:
            pfd = self._dir(a.parent, create=False)
        except (FileNotFoundError, NotADirectoryError):
            return  # nothing below to hide
        self._remove(pfd, a.name, path)

    def _under_opaque(self, path: str) -> bool:
        """Whether ``path`` is, or is under, a dir this layer made opaque."""
        return any(_within(path, d) for d in self.opaque_dirs)

    def _in_lower(self, path: str) -> bool:
        """Whether ``path`` shows in the stack of lower layers (always, if they are unknown).

        Walked the way overlayfs looks a path up: nearest layer first, a whiteout or
        a non-directory stops the layers below, an opaque directory too.
        """
        if self.lower_dirs is None:
            return True
        return visible_in_layers(self.lower_dirs, path)

    def _opaque(self, a: Action) -> None:
        dfd = os.open(".", _O_READDIR, dir_fd=self._dir(a.parent))
        try:
            if self.overlay:
                os.setxattr(dfd, OVERLAY_OPAQUE_XATTR, b"y")
                self.opaque_dirs.add(a.parent)
                # Whiteouts made under this dir before the marker now hide nothing.
                for parent in list(self.whiteouts):
                    if _within(parent, a.parent):
                        pfd = self._dir(parent, create=False)
                        for name in self.whiteouts.pop(parent):
                            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
                            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                                os.unlink(name, dir_fd=pfd)
            else:
                self._empty_lower(dfd, a.parent)
        finally:
            os.close(dfd)
        self.layer_paths.add(a.parent)

    def _empty_lower(self, dfd: int, path: str) -> None:
        """Remove what lower layers put under ``path``; keep what this layer made."""
        prefix = path + "/" if path else ""
        for entry in list(os.scandir(dfd)):
            child = prefix + entry.name
            if not opaque_keeps(child, self.layer_paths):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.name, dir_fd=dfd)
                else:
                    os.unlink(entry.name, dir_fd=dfd)
                self._forget(child)
            elif entry.is_dir(follow_symlinks=False):
                sub = os.open(entry.name, _O_READDIR, dir_fd=dfd)
                try:
                    self._empty_lower(sub, child)
                finally:
                    os.close(sub)

    # --- metadata -----------------------------------------------------------------------

    def _xattrs(self, fd: int, xattrs: dict[str, bytes]) -> None:
        for key, value in xattrs.items():
            if not xattr_allowed(key, overlay_xattrs=self.overlay_xattrs):
                continue
            try:
                os.setxattr(fd, key, value)
            except OSError as e:
                if not self._xattr_error_ok(e):
                    raise

    def _link_xattrs(self, parent_fd: int, name: str, xattrs: dict[str, bytes]) -> None:
        # No fsetxattr on a symlink or device: go by name through the parent's fd.
        path = f"{proc_fd_path(parent_fd)}/{name}"
        for key, value in xattrs.items():
            if not xattr_allowed(key, overlay_xattrs=self.overlay_xattrs):
                continue
            try:
                os.setxattr(path, key, value, follow_symlinks=False)
            except OSError as e:
                if not self._xattr_error_ok(e):
                    raise

    def _xattr_error_ok(self, e: OSError) -> bool:
        # The filesystem has no xattrs, or an unprivileged apply cannot set
        # trusted.*/security.*: the rest of the layer is still right.
        return e.errno in _IGNORED_XATTR_ERRORS or (e.errno == errno.EPERM and not self.as_root)

    def finish(self) -> None:
        """Set directory ownership, modes and mtimes, deepest first, now content is in."""
        for path in sorted(self.deferred, key=lambda p: p.count("/") + bool(p), reverse=True):
            uid, gid, mode, mtime_ns = self.deferred[path]
            try:
                if path:
                    parent, name = split_parent(path)
                    fd = os.open(name, _O_READDIR, dir_fd=self._dir(parent, create=False))
                else:
                    fd = os.open(".", _O_READDIR, dir_fd=self.root)
            except OSError as e:
                if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                    continue  # replaced or whited out later in the layer
                raise LayerError(f"cannot finish directory {path!r}: {e.strerror}") from e
            try:
                if self.as_root:
                    os.fchown(fd, uid, gid)
                os.fchmod(fd, mode)
                os.utime(fd, ns=(mtime_ns, mtime_ns))
            except OSError as e:
                raise LayerError(f"cannot finish directory {path!r}: {e.strerror}") from e
            finally:
                os.close(fd)
