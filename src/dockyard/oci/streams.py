"""Docker's multiplexed stream frames (attach and logs without a TTY): the 8-byte header.

[stream:1][0:3][size:4 big-endian] then ``size`` bytes of payload. Standard library only:
the CLI's hot path and the container monitor both import it.
"""

from __future__ import annotations

import struct

__all__ = ["HEADER_SIZE", "STDERR", "STDIN", "STDOUT", "SYSTEMERR", "encode_frame", "read_header"]

STDIN, STDOUT, STDERR, SYSTEMERR = 0, 1, 2, 3

_HEADER = struct.Struct(">BxxxI")
HEADER_SIZE = _HEADER.size


def encode_frame(stream: int, data: bytes) -> bytes:
    """One frame: the header for ``stream`` and ``len(data)``, then ``data``."""
    return _HEADER.pack(stream, len(data)) + data


def read_header(buf: bytes | bytearray) -> tuple[int, int]:
    """(stream, payload size) from the first HEADER_SIZE bytes of ``buf`` (the caller checks
    there are that many, and which stream numbers it accepts)."""
    stream, size = _HEADER.unpack_from(buf)
    return stream, size
