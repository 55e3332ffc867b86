"""Layers from directories: a tree, the difference of two trees, an overlayfs upper dir.

All walks are depth-first with the entries of a directory sorted by name
(whiteouts first, as the image spec asks), never follow symlinks, and open
files with O_NOFOLLOW, so a container's filesystem cannot make us read outside it.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dockyard.store.layers import tarread as t
from dockyard.store.layers.plan import (
    OPAQUE_MARKER,
    OVERLAY_OPAQUE_XATTR,
    OVERLAY_XATTR_PREFIX,
    WHITEOUT_PREFIX,
    parents_of,
)
from dockyard.store.layers.tarwriter import LayerDigests, TarWriter

_WHITEOUT_MODE = 0o600


@dataclass(slots=True)
class _Node:
    rel: str  # "a/b" relative to the tree root ("" for the root)
    path: str  # the absolute path on disk
    st: os.stat_result


def _children(node: _Node) -> list[_Node]:
    with os.scandir(node.path) as it:
        entries = sorted(it, key=lambda e: os.fsencode(e.name))
    prefix = node.rel + "/" if node.rel else ""
    return [_Node(prefix + e.name, e.path, e.stat(follow_symlinks=False)) for e in entries]


def _root(path: Path) -> _Node:
    return _Node("", str(path), os.lstat(path))


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _xattrs(path: str) -> dict[str, bytes]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return {}
        raise
    out: dict[str, bytes] = {}
    for name in sorted(names):
        if name.startswith(OVERLAY_XATTR_PREFIX):
            continue  # overlayfs bookkeeping, never part of a layer
        try:
            out[name] = os.getxattr(path, name, follow_symlinks=False)
        except OSError as e:
            if e.errno not in (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
    return out


def _is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OVERLAY_OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


class _Emitter:
    """Writes nodes as tar entries: hardlinks detected, parents written before children."""

    def __init__(self, writer: TarWriter, root: str) -> None:
        self.w = writer
        self.root = root
        self.links: dict[tuple[int, int], str] = {}
        self.written: set[str] = {""}

    def parents(self, rel: str) -> None:
        for parent in parents_of(rel):
            if parent not in self.written:
                path = os.path.join(self.root, parent)
                self.node(_Node(parent, path, os.lstat(path)))

    def node(self, n: _Node) -> None:
        self.parents(n.rel)
        self.written.add(n.rel)
        st = n.st
        mode = st.st_mode
        w = self.w
        rel = n.rel

        def add(
            name: str,
            typeflag: bytes,
            *,
            size: int = 0,
            linkname: str = "",
            devmajor: int = 0,
            devminor: int = 0,
            xattrs: dict[str, bytes] | None = None,
        ) -> None:
            w.add(
                name,
                typeflag,
                mode=stat.S_IMODE(mode),
                uid=st.st_uid,
                gid=st.st_gid,
                size=size,
                mtime_ns=st.st_mtime_ns,
                linkname=linkname,
                devmajor=devmajor,
                devminor=devminor,
                xattrs=xattrs,
            )

        if stat.S_ISDIR(mode):
            add(rel + "/", t.DIR, xattrs=_xattrs(n.path))
        elif stat.S_ISREG(mode):
            key = (st.st_dev, st.st_ino)
            first = self.links.get(key) if st.st_nlink > 1 else None
            if first is not None:
                add(rel, t.LNK, linkname=first)
                return
            fd = os.open(n.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                size = os.fstat(fd).st_size
                add(rel, t.REG, size=size, xattrs=_xattrs(n.path))
                w.copy_from(fd, size, rel)
            finally:
                os.close(fd)
            if st.st_nlink > 1:
                self.links[key] = rel
        elif stat.S_ISLNK(mode):
            add(rel, t.SYM, linkname=os.readlink(n.path), xattrs=_xattrs(n.path))
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            add(
                rel,
                t.CHR if stat.S_ISCHR(mode) else t.BLK,
                devmajor=os.major(st.st_rdev),
                devminor=os.minor(st.st_rdev),
                xattrs=_xattrs(n.path),
            )
        elif stat.S_ISFIFO(mode):
            add(rel, t.FIFO)
        # Sockets are not archived (as Docker does).

    def whiteout(self, rel: str, mtime_ns: int) -> None:
        self.parents(rel)
        self.w.add(rel, t.REG, mode=_WHITEOUT_MODE, mtime_ns=mtime_ns)

    def tree(self, n: _Node, hidden: frozenset[str] = frozenset()) -> None:
        """``n`` and everything under it but the ``hidden`` paths."""
        self.node(n)
        if stat.S_ISDIR(n.st.st_mode):
            for child in _children(n):
                if child.rel not in hidden:
                    self.tree(child, hidden)


def _join(dir_rel: str, name: str) -> str:
    return f"{dir_rel}/{name}" if dir_rel else name


def write_tree(root: Path, out: BinaryIO, *, source_date_epoch: int | None = None) -> LayerDigests:
    """A full deterministic tar of ``root``'s content (export, import, squash)."""
    writer = TarWriter(out, source_date_epoch=source_date_epoch)
    em = _Emitter(writer, str(root))
    for child in _children(_root(root)):
        em.tree(child)
    return writer.close()


def write_diff(
    upper: Path,
    out: BinaryIO,
    *,
    source_date_epoch: int | None = None,
    hidden: frozenset[str] = frozenset(),
) -> LayerDigests:
    """The layer for an overlayfs upper dir, its whiteouts turned into OCI ones. Paths in
    ``hidden`` ("etc/hosts") are left out, and so are their directories unless something
    else in them is written (a container's own mount points: Docker's init layer)."""
    writer = TarWriter(out, source_date_epoch=source_date_epoch)
    em = _Emitter(writer, str(upper))
    _upper_dir(em, _root(upper), _ancestors(hidden), hidden)
    return writer.close()


def _ancestors(hidden: frozenset[str]) -> frozenset[str]:
    return frozenset(p for rel in hidden for p in parents_of(rel))


def _upper_dir(em: _Emitter, d: _Node, lazy: frozenset[str], hidden: frozenset[str]) -> None:
    kids = [k for k in _children(d) if k.rel not in hidden]
    if d.rel and _is_opaque(d.path):
        em.whiteout(_join(d.rel, OPAQUE_MARKER), d.st.st_mtime_ns)
    for k in kids:
        if _is_whiteout(k.st):
            em.whiteout(_join(d.rel, WHITEOUT_PREFIX + os.path.basename(k.rel)), k.st.st_mtime_ns)
    for k in kids:
        if _is_whiteout(k.st):
            continue
        if k.rel not in lazy:  # (a lazy directory is written as the parent of a child)
            em.node(k)
        if stat.S_ISDIR(k.st.st_mode):
            _upper_dir(em, k, lazy, hidden)


def write_tree_diff(
    lower: Path,
    upper: Path,
    out: BinaryIO,
    *,
    source_date_epoch: int | None = None,
    hidden: frozenset[str] = frozenset(),
) -> LayerDigests:
    """The layer that turns tree ``lower`` into tree ``upper`` (added, changed, whiteouts);
    paths in ``hidden`` are left out (see write_diff)."""
    writer = TarWriter(out, source_date_epoch=source_date_epoch)
    em = _Emitter(writer, str(upper))
    for kind, node, mtime_ns in _compare(_root(lower), _root(upper), hidden):
        if kind == "D":
            parent, _, name = node.rel.rpartition("/")
            em.whiteout(_join(parent, WHITEOUT_PREFIX + name), mtime_ns)
        elif kind == "A":
            em.tree(node, hidden)
        else:
            em.node(node)
    return writer.close()


def _differs(a: _Node, b: _Node) -> bool:
    sa, sb = a.st, b.st
    if (sa.st_mode, sa.st_uid, sa.st_gid) != (sb.st_mode, sb.st_uid, sb.st_gid):
        return True
    mode = sa.st_mode
    if stat.S_ISDIR(mode):
        return _xattrs(a.path) != _xattrs(b.path)
    if stat.S_ISREG(mode) and (sa.st_size != sb.st_size or sa.st_mtime_ns != sb.st_mtime_ns):
        return True
    if stat.S_ISLNK(mode) and os.readlink(a.path) != os.readlink(b.path):
        return True
    if (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)) and sa.st_rdev != sb.st_rdev:
        return True
    return _xattrs(a.path) != _xattrs(b.path)


def _compare(
    lower: _Node, upper: _Node, hidden: frozenset[str] = frozenset()
) -> Iterator[tuple[str, _Node, int]]:
    """("D", lower node, parent mtime) / ("A", upper subtree root) / ("C", upper node)."""
    lows = {os.path.basename(n.rel): n for n in _children(lower) if n.rel not in hidden}
    ups = [n for n in _children(upper) if n.rel not in hidden]
    names = {os.path.basename(n.rel) for n in ups}
    for name in sorted(lows, key=os.fsencode):
        if name not in names:
            yield "D", lows[name], upper.st.st_mtime_ns
    for u in ups:
        low = lows.get(os.path.basename(u.rel))
        if low is None:
            yield "A", u, 0
            continue
        u_dir = stat.S_ISDIR(u.st.st_mode)
        if u_dir != stat.S_ISDIR(low.st.st_mode):
            yield "A", u, 0  # a type change replaces the whole entry
            continue
        if _differs(low, u):
            yield "C", u, 0
        if u_dir:
            yield from _compare(low, u, hidden)


def tree_changes(
    lower: Path, upper: Path, hidden: frozenset[str] = frozenset()
) -> list[tuple[str, str]]:
    """Docker's diff kinds between two trees: ("A"|"C"|"D", "/path"), sorted by path;
    ``hidden`` as in ``changes``."""
    out: dict[str, str] = {}
    for kind, node, _ in _compare(_root(lower), _root(upper), hidden):
        for parent in parents_of(node.rel):
            out.setdefault(parent, "C")
        if kind == "A":
            _added(node, out, hidden)
        else:
            out[node.rel] = kind
    return _listed(out, hidden)


def _added(n: _Node, out: dict[str, str], hidden: frozenset[str]) -> None:
    out[n.rel] = "A"
    if stat.S_ISDIR(n.st.st_mode):
        for child in _children(n):
            if child.rel not in hidden:
                _added(child, out, hidden)


def changes(
    upper: Path, lowers: Sequence[Path] = (), hidden: frozenset[str] = frozenset()
) -> list[tuple[str, str]]:
    """Docker's diff kinds for an overlay upper dir over ``lowers`` (any order), by path.
    Paths in ``hidden`` are not listed, nor their directories when nothing else in them
    changed (see write_diff)."""
    out: dict[str, str] = {}
    _upper_changes(_root(upper), [str(p) for p in lowers], out, hidden)
    return _listed(out, hidden)


def _listed(out: dict[str, str], hidden: frozenset[str]) -> list[tuple[str, str]]:
    """The changes by path, without the directories of hidden paths that only hold them."""
    for d in sorted(_ancestors(hidden), key=len, reverse=True):  # deepest first
        if d in out and not any(p.startswith(d + "/") for p in out):
            del out[d]
    return sorted(((k, "/" + p) for p, k in out.items()), key=lambda c: c[1])


def _in_lower(rel: str, lowers: list[str]) -> list[str]:
    found = []
    for low in lowers:
        path = os.path.join(low, rel)
        if os.path.lexists(path):
            found.append(path)
    return found


def _upper_changes(
    d: _Node, lowers: list[str], out: dict[str, str], hidden: frozenset[str]
) -> None:
    kids = [k for k in _children(d) if k.rel not in hidden]
    if d.rel and _is_opaque(d.path):
        present = {os.path.basename(k.rel) for k in kids}
        for low in _in_lower(d.rel, lowers):
            if os.path.isdir(low) and not os.path.islink(low):
                for name in os.listdir(low):
                    if name not in present:
                        out[_join(d.rel, name)] = "D"
    for k in kids:
        if _is_whiteout(k.st):
            out[k.rel] = "D"
            continue
        out[k.rel] = "C" if _in_lower(k.rel, lowers) else "A"
        if stat.S_ISDIR(k.st.st_mode):
            _upper_changes(k, lowers, out, hidden)
