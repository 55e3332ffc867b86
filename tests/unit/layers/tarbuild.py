"""Build (possibly hostile) tar archives for the layer tests, with tarfile's writer only."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from pathlib import Path

MTIME = 1_600_000_000

_TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "char": tarfile.CHRTYPE,
    "block": tarfile.BLKTYPE,
    "fifo": tarfile.FIFOTYPE,
}


def entry(
    name: str,
    kind: str = "file",
    data: bytes = b"",
    *,
    mode: int | None = None,
    link: str = "",
    uid: int = 0,
    gid: int = 0,
    mtime: int = MTIME,
    pax: dict[str, str] | None = None,
    major: int = 0,
    minor: int = 0,
) -> tuple[tarfile.TarInfo, bytes]:
    ti = tarfile.TarInfo(name)
    ti.type = _TYPES[kind]
    ti.mode = mode if mode is not None else (0o755 if kind == "dir" else 0o644)
    ti.linkname = link
    ti.uid, ti.gid = uid, gid
    ti.mtime = mtime
    ti.size = len(data)
    ti.devmajor, ti.devminor = major, minor
    if pax:
        ti.pax_headers = dict(pax)
    return ti, data


def make_tar(entries: list[tuple[tarfile.TarInfo, bytes]], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for ti, data in entries:
            tf.addfile(ti, io.BytesIO(data) if ti.isreg() else None)
    return buf.getvalue()


def tree_state(root: Path, *, skip: Path | None = None) -> dict[str, tuple[object, ...]]:
    """Everything observable about a tree (no following of symlinks)."""
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if skip is not None and Path(dirpath) == skip:
            dirnames[:] = []
            continue
        dirnames[:] = [d for d in dirnames if skip is None or Path(dirpath, d) != skip]
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            st = p.lstat()
            extra: object = None
            if stat.S_ISLNK(st.st_mode):
                extra = os.readlink(p)
            elif stat.S_ISREG(st.st_mode):
                extra = hashlib.sha256(p.read_bytes()).hexdigest()
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                extra = st.st_rdev
            xattrs = tuple(
                sorted(
                    (k, os.getxattr(p, k, follow_symlinks=False))
                    for k in os.listxattr(p, follow_symlinks=False)
                )
            )
            out[str(p.relative_to(root))] = (
                st.st_mode,
                st.st_uid,
                st.st_gid,
                st.st_nlink if not stat.S_ISDIR(st.st_mode) else 0,
                st.st_mtime_ns if not stat.S_ISDIR(st.st_mode) else 0,
                extra,
                xattrs,
            )
    return out
