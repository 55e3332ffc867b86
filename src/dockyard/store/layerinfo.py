"""What a layer blob is: its compression, its diff_id and uncompressed size."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest, Digester
from dockyard.store.errors import InvalidImage

_CHUNK = 1 << 20


@dataclass(frozen=True)
class LayerFacts:
    compression: str  # "plain", "gzip", "zstd", ...
    diff_id: Digest
    size: int  # uncompressed bytes


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    # B2's decompressor bounds every chunk, so a bomb is stopped by our quota check below.
    from dockyard.store.layers.compression import chunks

    return chunks(stream, chunk=_CHUNK)


def layer_facts(stream: BinaryIO, *, limit: int | None = None) -> LayerFacts:
    """Decompress ``stream`` and hash it; raises InvalidImage on corrupt data or over ``limit``."""
    from dockyard.store.layers.compression import Prefixed, detect
    from dockyard.store.layers.errors import LayerError

    head = stream.read(8)
    kind = detect(head)
    d = Digester()
    try:
        for chunk in _chunks(cast(BinaryIO, Prefixed(head, stream))):
            d.update(chunk)
            if limit is not None and d.size > limit:
                raise InvalidImage(f"layer is larger than the {limit}-byte limit when uncompressed")
    except LayerError as e:
        raise InvalidImage(str(e)) from None
    return LayerFacts(kind, d.digest(), d.size)


def media_type_for(compression: str, docker: bool = False) -> str:
    if compression == "plain":
        return mt.DOCKER_LAYER if docker else mt.OCI_LAYER
    if compression == "gzip":
        return mt.DOCKER_LAYER_GZIP if docker else mt.OCI_LAYER_GZIP
    if compression == "zstd" and not docker:
        return mt.OCI_LAYER_ZSTD
    raise InvalidImage(f"layers compressed with {compression} are not supported")


def open_uncompressed(stream: BinaryIO) -> BinaryIO:
    """A file-like reader over the decompressed content of ``stream``."""
    return cast(BinaryIO, io.BufferedReader(_ChunkReader(_chunks(stream)), _CHUNK))


class _ChunkReader(io.RawIOBase):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        view = memoryview(b)
        while not self._buf:
            try:
                self._buf = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(view), len(self._buf))
        view[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def check_tar(stream: BinaryIO) -> int:
    """Walk every header of an uncompressed tar; return the member count or raise InvalidImage."""
    count = 0
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tf:
            for _ in tf:
                count += 1
    except (tarfile.TarError, EOFError, OSError) as e:
        raise InvalidImage(f"not a valid tar archive: {e}") from None
    return count
