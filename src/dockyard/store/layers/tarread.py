"""Pure parsing of tar headers: USTAR, GNU (long names, base-256 numbers) and PAX.

No I/O: the caller feeds 512-byte header blocks and the bodies of the extension
records (PAX ``x``/``g``, GNU ``L``/``K``) and gets back one ``Member`` per
archive entry. Everything is bounded so a hostile archive cannot make us hold
an unbounded name or PAX record in memory.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from dockyard.store.layers.errors import LayerError

BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)
# A PAX or GNU long-name record larger than this is hostile, not a real layer.
MAX_EXTENSION = 1 << 20

# Type flags.
REG = b"0"
AREG = b"\0"
LNK = b"1"
SYM = b"2"
CHR = b"3"
BLK = b"4"
DIR = b"5"
FIFO = b"6"
CONT = b"7"
PAX_X = b"x"
PAX_G = b"g"
GNU_LONGNAME = b"L"
GNU_LONGLINK = b"K"
EXTENSIONS = frozenset((PAX_X, PAX_G, GNU_LONGNAME, GNU_LONGLINK))
# Entries that carry a body (bytes follow the header).
_HAS_BODY = frozenset((REG, AREG, CONT))

_USTAR_MAGIC = b"ustar\x00"
_ADLER_MOD = 65521
_XATTR_PREFIXES = ("SCHILY.xattr.",)


@dataclass(slots=True)
class Member:
    """One archive entry after the extension records before it were merged in."""

    name: str
    type: bytes
    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, bytes] | None = None

    @property
    def has_body(self) -> bool:
        return self.type in _HAS_BODY


def _num(field: bytes, what: str) -> int:
    """Octal (NUL/space terminated) or GNU base-256 numeric field."""
    if field and field[0] & 0x80:
        # Base-256: big-endian two's complement with the top bit as marker.
        value = int.from_bytes(field, "big", signed=False)
        value &= (1 << (8 * len(field) - 1)) - 1
        if field[0] & 0x40:  # negative
            value -= 1 << (8 * len(field) - 1)
        return value
    text = field.split(b"\0", 1)[0].strip()
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise LayerError(f"invalid tar header: bad {what} field {text[:20]!r}") from None


def _str(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _oct(field: bytes, what: str) -> int:
    """The common case (octal digits, NUL/space padded) fast; anything else via _num."""
    try:
        return int(field.rstrip(b"\0 ") or b"0", 8)
    except ValueError:
        return _num(field, what)


# name, mode, uid, gid, size, mtime, (chksum), typeflag, linkname, magic+version,
# (uname, gname), devmajor, devminor, prefix
_FIELDS = struct.Struct("100s8s8s8s12s12s8xc100s8s64x8s8s155s")


def parse_header(block: bytes) -> Member:
    """Decode one non-zero 512-byte header block (before extension records apply)."""
    (name, mode, uid, gid, size, mtime, typeflag, link, magic, major, minor, prefix) = (
        _FIELDS.unpack_from(block)
    )
    # The checksum is the byte sum with its own field read as eight spaces (8 * 32).
    # adler32's low half is 1 + that sum mod 65521: C speed, and as strong a check.
    stored = block[148:156]
    try:
        want = int(stored.split(b"\0", 1)[0].strip() or b"x", 8)
    except ValueError:
        want = -1
    if want < 0 or (want - (zlib.adler32(block) & 0xFFFF) + 1 + sum(stored) - 256) % _ADLER_MOD:
        raise LayerError("invalid tar header: checksum mismatch (not a tar archive?)")
    try:
        m = Member(
            name.split(b"\0", 1)[0].decode("utf-8", "surrogateescape"),
            typeflag,
            int(mode.rstrip(b"\0 ") or b"0", 8) & 0o7777,
            int(uid.rstrip(b"\0 ") or b"0", 8),
            int(gid.rstrip(b"\0 ") or b"0", 8),
            int(size.rstrip(b"\0 ") or b"0", 8),
            int(mtime.rstrip(b"\0 ") or b"0", 8) * 1_000_000_000,
        )
    except ValueError:
        # Base-256 numbers (GNU) or a malformed field: the careful path.
        m = Member(
            _str(name),
            typeflag,
            _num(mode, "mode") & 0o7777,
            _num(uid, "uid"),
            _num(gid, "gid"),
            _num(size, "size"),
            _num(mtime, "mtime") * 1_000_000_000,
        )
    if prefix[0] and magic[:6] == _USTAR_MAGIC:
        m.name = _str(prefix) + "/" + m.name
    if link[0]:
        m.linkname = _str(link)
    if typeflag in (CHR, BLK):
        m.devmajor = _oct(major, "devmajor")
        m.devminor = _oct(minor, "devminor")
    if m.size < 0 or m.uid < 0 or m.gid < 0:
        raise LayerError(f"invalid tar header for {m.name!r}: negative number")
    return m


def parse_pax(data: bytes) -> dict[str, bytes]:
    """Decode PAX records ``"<len> <key>=<value>\\n"``; values stay bytes (xattrs are binary)."""
    records: dict[str, bytes] = {}
    pos = 0
    end = len(data)
    while pos < end:
        if data[pos] == 0:  # some writers pad the body with NULs
            break
        space = data.find(b" ", pos, min(end, pos + 24))
        if space < 0:
            raise LayerError("invalid PAX header: record without a length")
        try:
            length = int(data[pos:space])
        except ValueError:
            raise LayerError("invalid PAX header: bad record length") from None
        stop = pos + length
        if length <= 0 or stop > end or data[stop - 1 : stop] != b"\n":
            raise LayerError("invalid PAX header: record overruns its header")
        record = data[space + 1 : stop - 1]
        eq = record.find(b"=")
        if eq <= 0:
            raise LayerError("invalid PAX header: record without a key")
        records[record[:eq].decode("utf-8", "surrogateescape")] = record[eq + 1 :]
        pos = stop
    return records


def _pax_int(value: bytes, key: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise LayerError(f"invalid PAX header: bad {key} {value[:20]!r}") from None


def _pax_time_ns(value: bytes) -> int:
    text = value.decode("ascii", "replace")
    neg = text.startswith("-")
    whole, _, frac = text.lstrip("-").partition(".")
    try:
        ns = int(whole or "0") * 1_000_000_000 + int((frac + "000000000")[:9] or "0")
    except ValueError:
        raise LayerError(f"invalid PAX header: bad mtime {text[:30]!r}") from None
    return -ns if neg else ns


class Extensions:
    """Accumulates PAX and GNU extension records until the entry they describe arrives."""

    __slots__ = ("global_pax", "longlink", "longname", "pax", "pending")

    def __init__(self) -> None:
        self.global_pax: dict[str, bytes] = {}
        self.pax: dict[str, bytes] | None = None
        self.longname: str | None = None
        self.longlink: str | None = None
        self.pending = False  # whether any record waits for the next entry

    def add(self, kind: bytes, body: bytes) -> None:
        self.pending = True
        if kind == PAX_X:
            self.pax = parse_pax(body)
        elif kind == PAX_G:
            self.global_pax.update(parse_pax(body))
        elif kind == GNU_LONGNAME:
            self.longname = _str(body)
        else:
            self.longlink = _str(body)

    def merge(self, m: Member) -> Member:
        """Apply the pending records to entry ``m`` and forget the per-entry ones."""
        if self.longname is not None:
            m.name = self.longname
            self.longname = None
        if self.longlink is not None:
            m.linkname = self.longlink
            self.longlink = None
        pax = self.pax
        self.pax = None
        self.pending = bool(self.global_pax)
        if self.global_pax:
            pax = {**self.global_pax, **(pax or {})}
        if pax:
            _apply_pax(m, pax)
        return m


def _apply_pax(m: Member, pax: dict[str, bytes]) -> None:
    for key, value in pax.items():
        if key == "path":
            m.name = value.decode("utf-8", "surrogateescape")
        elif key == "linkpath":
            m.linkname = value.decode("utf-8", "surrogateescape")
        elif key == "size":
            m.size = _pax_int(value, key)
        elif key == "uid":
            m.uid = _pax_int(value, key)
        elif key == "gid":
            m.gid = _pax_int(value, key)
        elif key == "mtime":
            m.mtime_ns = _pax_time_ns(value)
        elif key.startswith(_XATTR_PREFIXES):
            if m.xattrs is None:
                m.xattrs = {}
            m.xattrs[key[len("SCHILY.xattr.") :]] = value
        elif key.startswith("GNU.sparse."):
            raise LayerError("unsupported tar entry: GNU sparse file")
    if m.size < 0 or m.uid < 0 or m.gid < 0:
        raise LayerError(f"invalid PAX header for {m.name!r}: negative number")
