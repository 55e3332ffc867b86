"""Pure stream codecs: Docker's 8-byte multiplexed frames and the detach-key scanner."""

from __future__ import annotations

from dockyard.oci.streams import HEADER_SIZE, STDERR, STDIN, STDOUT, SYSTEMERR, read_header
from dockyard.oci.streams import encode_frame as frame

__all__ = [
    "STDERR",
    "STDIN",
    "STDOUT",
    "SYSTEMERR",
    "Demuxer",
    "DetachKeysError",
    "EscapeScanner",
    "FrameError",
    "frame",
    "parse_detach_keys",
]


class FrameError(Exception):
    """The multiplexed stream is malformed."""


class Demuxer:
    """Feed bytes of a multiplexed stream; get (stream, payload) frames back.

    Each frame is [stream:1][0:3][size:4 big-endian] followed by `size` bytes."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buf += data
        frames: list[tuple[int, bytes]] = []
        while len(self._buf) >= HEADER_SIZE:
            stream, size = read_header(self._buf)
            if stream > SYSTEMERR:
                raise FrameError(f"unrecognized stream type {stream}")
            end = HEADER_SIZE + size
            if len(self._buf) < end:
                break
            frames.append((stream, bytes(self._buf[HEADER_SIZE:end])))
            del self._buf[:end]
        return frames

    @property
    def pending(self) -> int:
        return len(self._buf)


class DetachKeysError(ValueError):
    pass


def parse_detach_keys(spec: str) -> bytes:
    """'ctrl-p,ctrl-q' -> b'\\x10\\x11' (Docker's detach-keys syntax: ctrl-<a-z@[\\\\]^_> or
    a single character)."""
    out = bytearray()
    for part in spec.split(","):
        if len(part) == 1:
            out.append(ord(part))
            continue
        if part.startswith("ctrl-") and len(part) == 6:
            ch = part[5].lower()
            if "a" <= ch <= "z":
                out.append(ord(ch) - ord("a") + 1)
                continue
            special = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}
            if part[5] in special:
                out.append(special[part[5]])
                continue
        raise DetachKeysError(f"Unknown character: '{part}'")
    return bytes(out)


class EscapeScanner:
    """Watch stdin for the detach sequence; hold back a partial match until it resolves.

    `feed` returns (bytes to forward, detached?)."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self._held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        if not self.keys:
            return data, False
        out = bytearray()
        for byte in data:
            candidate = self._held + bytes([byte])
            if self.keys.startswith(candidate):
                if candidate == self.keys:
                    return bytes(out), True
                self._held = candidate
                continue
            # Mismatch: flush the held prefix, then retry this byte as a fresh start.
            out += self._held
            self._held = b""
            if self.keys.startswith(bytes([byte])):
                if len(self.keys) == 1:
                    return bytes(out), True
                self._held = bytes([byte])
            else:
                out.append(byte)
        return bytes(out), False

    def flush(self) -> bytes:
        held, self._held = self._held, b""
        return held
