"""A deterministic tar writer: USTAR headers, PAX records only when a field needs them.

Headers are normalised so that the same content gives the same bytes on any
machine: no user or group names, seconds-only mtimes (clamped to
SOURCE_DATE_EPOCH when given), PAX records sorted by key, and the archive ends
with exactly two zero blocks. The digest and size of everything written are
computed on the way (they are the layer's diff_id and size).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import BinaryIO

from dockyard.store.layers import tarread as t
from dockyard.store.layers.errors import LayerError

_MAX_OCTAL_7 = 0o7777777  # uid, gid, mode
_MAX_OCTAL_11 = 0o77777777777  # size, mtime
_PAX_NAME = b"././@PaxHeader"
_COPY_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class LayerDigests:
    diff_id: str  # "sha256:…" of the tar written
    size: int  # bytes written


def _octal(value: int, width: int) -> bytes:
    return format(value, "o").zfill(width - 1).encode() + b"\0"


def _pax_record(key: str, value: bytes) -> bytes:
    body = b" " + key.encode("utf-8", "surrogateescape") + b"=" + value + b"\n"
    n = len(body) + 1
    while len(str(n)) + len(body) != n:  # the length counts its own digits
        n = len(str(n)) + len(body)
    return str(n).encode() + body


def _fits(raw: bytes, width: int) -> bool:
    return len(raw) <= width and raw.isascii()


def build_header(
    name: str,
    typeflag: bytes,
    *,
    mode: int = 0o644,
    uid: int = 0,
    gid: int = 0,
    size: int = 0,
    mtime: int = 0,
    linkname: str = "",
    devmajor: int = 0,
    devminor: int = 0,
    xattrs: dict[str, bytes] | None = None,
) -> bytes:
    """The header block(s) of one entry: a PAX extension first when a field needs it."""
    raw_name = name.encode("utf-8", "surrogateescape")
    raw_link = linkname.encode("utf-8", "surrogateescape")
    pax: dict[str, bytes] = {}
    if not _fits(raw_name, 100):
        pax["path"] = raw_name
    if not _fits(raw_link, 100):
        pax["linkpath"] = raw_link
    if uid > _MAX_OCTAL_7:
        pax["uid"] = str(uid).encode()
    if gid > _MAX_OCTAL_7:
        pax["gid"] = str(gid).encode()
    if size > _MAX_OCTAL_11:
        pax["size"] = str(size).encode()
    if not 0 <= mtime <= _MAX_OCTAL_11:
        pax["mtime"] = str(mtime).encode()
    for key, value in (xattrs or {}).items():
        pax["SCHILY.xattr." + key] = value
    out = b""
    if pax:
        body = b"".join(_pax_record(k, pax[k]) for k in sorted(pax))
        out = _block(_PAX_NAME, t.PAX_X, 0o644, 0, 0, len(body), 0, b"", 0, 0)
        out += body + bytes(-len(body) % t.BLOCK)
    return out + _block(
        raw_name[:100],
        typeflag,
        mode & 0o7777,
        min(uid, _MAX_OCTAL_7),
        min(gid, _MAX_OCTAL_7),
        0 if "size" in pax else size,
        min(max(mtime, 0), _MAX_OCTAL_11),
        raw_link[:100],
        devmajor,
        devminor,
    )


def _block(
    name: bytes,
    typeflag: bytes,
    mode: int,
    uid: int,
    gid: int,
    size: int,
    mtime: int,
    linkname: bytes,
    devmajor: int,
    devminor: int,
) -> bytes:
    header = b"".join(
        (
            name.ljust(100, b"\0"),
            _octal(mode, 8),
            _octal(uid, 8),
            _octal(gid, 8),
            _octal(size, 12),
            _octal(mtime, 12),
            b" " * 8,  # checksum, filled below
            typeflag,
            linkname.ljust(100, b"\0"),
            b"ustar\x0000",
            bytes(32),  # uname
            bytes(32),  # gname
            _octal(devmajor, 8),
            _octal(devminor, 8),
            bytes(155),  # prefix
            bytes(12),
        )
    )
    chksum = b"%06o\0 " % sum(header)
    return header[:148] + chksum + header[156:]


class TarWriter:
    """Writes entries to ``out`` while hashing them; ``close()`` returns the digests."""

    def __init__(self, out: BinaryIO, *, source_date_epoch: int | None = None) -> None:
        self._out = out
        self._sde = source_date_epoch
        self._sha = hashlib.sha256()
        self._size = 0

    def _emit(self, data: bytes | memoryview) -> None:
        self._sha.update(data)
        self._out.write(data)
        self._size += len(data)

    def clamp(self, mtime_ns: int) -> int:
        """Seconds, clamped to SOURCE_DATE_EPOCH when one was given."""
        mtime = mtime_ns // 1_000_000_000
        if self._sde is not None and mtime > self._sde:
            return self._sde
        return mtime

    def add(
        self,
        name: str,
        typeflag: bytes,
        *,
        mode: int = 0o644,
        uid: int = 0,
        gid: int = 0,
        size: int = 0,
        mtime_ns: int = 0,
        linkname: str = "",
        devmajor: int = 0,
        devminor: int = 0,
        xattrs: dict[str, bytes] | None = None,
    ) -> None:
        """Write a header; a regular file's ``size`` bytes must follow via ``copy_from``."""
        self._emit(
            build_header(
                name,
                typeflag,
                mode=mode,
                uid=uid,
                gid=gid,
                size=size,
                mtime=self.clamp(mtime_ns),
                linkname=linkname,
                devmajor=devmajor,
                devminor=devminor,
                xattrs=xattrs,
            )
        )

    def copy_from(self, fd: int, size: int, what: str) -> None:
        """Write exactly ``size`` bytes read from ``fd`` and the block padding."""
        left = size
        while left:
            data = os.read(fd, min(left, _COPY_CHUNK))
            if not data:
                raise LayerError(f"file changed while writing the layer: {what!r} shrank")
            self._emit(data)
            left -= len(data)
        if size % t.BLOCK:
            self._emit(bytes(-size % t.BLOCK))

    def close(self) -> LayerDigests:
        self._emit(bytes(2 * t.BLOCK))
        return LayerDigests("sha256:" + self._sha.hexdigest(), self._size)
