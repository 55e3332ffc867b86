"""Content digests (``algorithm:hex``) as the OCI image spec defines them."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

# Hex lengths of the algorithms the OCI image spec registers; anything else is refused
# rather than guessed, because a digest we cannot recompute verifies nothing.
_HEX_LENGTHS = {"sha256": 64, "sha512": 128}
_GRAMMAR = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
_HEX = re.compile(r"^[a-f0-9]+$")


class InvalidDigest(ValueError):
    """A string that is not a well-formed, supported digest."""


@dataclass(frozen=True, order=True)
class Digest:
    algorithm: str
    hex: str

    @classmethod
    def parse(cls, value: str) -> Digest:
        if not isinstance(value, str) or not _GRAMMAR.match(value):
            raise InvalidDigest(f"invalid checksum digest format: {value!r}")
        algorithm, _, hexpart = value.partition(":")
        expected = _HEX_LENGTHS.get(algorithm)
        if expected is None:
            raise InvalidDigest(f"unsupported digest algorithm: {algorithm}")
        if not _HEX.match(hexpart):
            raise InvalidDigest(f"invalid checksum digest format: {value!r}")
        if len(hexpart) != expected:
            raise InvalidDigest(f"invalid checksum digest length: {value!r}")
        return cls(algorithm, hexpart)

    @classmethod
    def from_hex(cls, hexpart: str, algorithm: str = "sha256") -> Digest:
        return cls.parse(f"{algorithm}:{hexpart}")

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @property
    def short(self) -> str:
        """The 12-character form Docker prints for image ids."""
        return self.hex[:12]

    def digester(self) -> Digester:
        return Digester(self.algorithm)


def is_digest(value: str) -> bool:
    try:
        Digest.parse(value)
    except InvalidDigest:
        return False
    return True


class Digester:
    """Hashes a stream incrementally and counts its bytes."""

    def __init__(self, algorithm: str = "sha256") -> None:
        if algorithm not in _HEX_LENGTHS:
            raise InvalidDigest(f"unsupported digest algorithm: {algorithm}")
        self.algorithm = algorithm
        self._hash = hashlib.new(algorithm)
        self.size = 0

    def update(self, data: bytes) -> None:
        self._hash.update(data)
        self.size += len(data)

    def digest(self) -> Digest:
        return Digest(self.algorithm, self._hash.hexdigest())

    def copy(self) -> Digester:
        other = Digester(self.algorithm)
        other._hash = self._hash.copy()
        other.size = self.size
        return other


def sha256_bytes(data: bytes) -> Digest:
    return Digest("sha256", hashlib.sha256(data).hexdigest())


def digest_bytes(data: bytes, algorithm: str = "sha256") -> Digest:
    d = Digester(algorithm)
    d.update(data)
    return d.digest()
