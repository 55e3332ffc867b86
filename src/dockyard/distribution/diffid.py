"""The uncompressed digest (diff id) of a layer, computed while its blob downloads.

Handing the store a layer's diff id and size saves it reading and decompressing the blob a
second time. Only what can be followed incrementally is done here: plain tars (diff id =
blob digest) and gzip (several members allowed, as pigz and some tools write). Anything
else, or a stream this cannot follow, yields None and the store computes the facts itself.
The store still compares the result with the image config's ``rootfs.diff_ids``.
"""

from __future__ import annotations

import hashlib
import zlib

from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest

# A bomb stops being followed here; the store's own limit then applies to its read.
MAX_EXPANSION = 64 << 30


class DiffDigester:
    def __init__(self, media_type: str) -> None:
        self.kind = (
            "none"
            if media_type in mt.UNCOMPRESSED_LAYERS
            else "gzip"
            if media_type in mt.GZIP_LAYERS
            else ""
        )
        self._hash = hashlib.sha256()
        self.size = 0
        self.fed = 0  # compressed bytes seen
        self.failed = self.kind == ""
        self._z: zlib._Decompress | None = None

    def update(self, data: bytes) -> None:
        self.fed += len(data)
        if self.failed:
            return
        if self.kind == "none":
            self._hash.update(data)
            self.size += len(data)
            return
        try:
            while data:
                if self._z is None or self._z.eof:
                    self._z = zlib.decompressobj(31)  # the first or the next gzip member
                out = self._z.decompress(data)
                self._hash.update(out)
                self.size += len(out)
                if self.size > MAX_EXPANSION:
                    self.failed = True
                    return
                data = self._z.unused_data if self._z.eof else b""
        except zlib.error:
            self.failed = True

    def result(self) -> tuple[Digest, int] | None:
        """(diff id, uncompressed size), or None when not followed to a clean end."""
        if self.failed:
            return None
        if self.kind == "gzip" and (self._z is None or not self._z.eof):
            return None  # no member, or the last one cut short: the store will judge
        return Digest.from_hex(self._hash.hexdigest()), self.size
