"""One write operation on the store, and the values that flow through it.

An operation holds a lease: every blob it writes is recorded under the lease before or as it
is written, so garbage collection never takes it, and a failed operation knows exactly what
to clean up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, BinaryIO

from dockyard.oci.digest import Digest, sha256_bytes
from dockyard.oci.reference import Reference
from dockyard.store.content import ContentStore, ephemeral_ref
from dockyard.store.errors import InvalidImage
from dockyard.store.metadata import ImageRecord, LayerRecord, Metadata

_CHUNK = 1 << 20


class Operation:
    """One write operation: its lease, and the blobs written under it."""

    def __init__(self, meta: Metadata, content: ContentStore, lease: str) -> None:
        self.meta = meta
        self.content = content
        self.lease = lease

    def hold(self, digest: Digest) -> None:
        self.meta.add_lease_resource(self.lease, "blob", str(digest))

    def put_bytes(self, data: bytes) -> Digest:
        d = sha256_bytes(data)
        self.hold(d)
        return self.content.put_bytes(data, d)

    def put_stream(
        self, stream: BinaryIO, expected: Digest | None = None, limit: int | None = None
    ) -> Digest:
        if expected is not None:
            self.hold(expected)
        ref = ephemeral_ref()
        with self.content.writer(ref, expected) as w:
            while chunk := stream.read(_CHUNK):
                w.write(chunk)
                if limit is not None and w.offset > limit:
                    raise InvalidImage(f"layer is larger than the {limit}-byte limit")
            self.hold(w.digest())
            return w.commit()


@dataclass(frozen=True)
class LayerInput:
    """A layer blob already in the content store, as the distribution client hands it over."""

    digest: Digest
    media_type: str | None = None
    diff_id: Digest | None = None  # trusted only when ``size`` is given too
    size: int | None = None  # uncompressed


@dataclass(frozen=True)
class LoadedImage:
    image_id: str
    tags: list[str]
    replaced: list[tuple[str, str]] = field(default_factory=list)  # (tag, old image id)

    def messages(self) -> list[str]:
        """What ``docker load`` prints."""
        out = [
            f"The image {tag} already exists, renaming the old one with ID {old} to empty string"
            for tag, old in self.replaced
        ]
        if self.tags:
            out += [f"Loaded image: {t}" for t in self.tags]
        else:
            out.append(f"Loaded image ID: {self.image_id}")
        return out


@dataclass
class NewImage:
    """An image checked and staged, waiting to be registered with its references."""

    record: ImageRecord
    layers: list[LayerRecord]
    tags: list[Reference] = field(default_factory=list)
    digest_refs: list[Reference] = field(default_factory=list)


def layer_input(x: LayerInput | tuple[Any, ...]) -> LayerInput:
    if isinstance(x, LayerInput):
        return x
    digest = x[0] if isinstance(x[0], Digest) else Digest.parse(str(x[0]))
    media_type = x[1] if len(x) > 1 else None
    diff_id = None
    if len(x) > 2 and x[2] is not None:
        diff_id = x[2] if isinstance(x[2], Digest) else Digest.parse(str(x[2]))
    size = x[3] if len(x) > 3 else None
    return LayerInput(digest, media_type, diff_id, size)
