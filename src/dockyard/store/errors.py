"""Errors raised by the store; the API maps them to Docker's status codes."""

from __future__ import annotations

from dockyard.oci.reference import InvalidReference as _OciInvalidReference


class StoreError(Exception):
    """Base of every store error."""


class ContentError(StoreError):
    """Base of content-store errors."""


class BlobNotFound(ContentError):
    def __init__(self, digest: object) -> None:
        super().__init__(f"blob {digest} not found")
        self.digest = digest


class DigestMismatch(ContentError):
    def __init__(self, expected: object, actual: object) -> None:
        super().__init__(f"digest mismatch: expected {expected}, got {actual}")
        self.expected, self.actual = expected, actual


class SizeMismatch(ContentError):
    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(f"size mismatch: expected {expected} bytes, got {actual}")
        self.expected, self.actual = expected, actual


class IngestLocked(ContentError):
    def __init__(self, ref: str) -> None:
        super().__init__(f"ingest {ref!r} is in use by another writer")
        self.ref = ref


class MetadataError(StoreError):
    """The metadata database could not be used."""


class ImageError(StoreError):
    """Base of image-operation errors."""


class ImageNotFound(ImageError):
    def __init__(self, ref: str) -> None:
        super().__init__(f"No such image: {ref}")
        self.ref = ref


class AmbiguousImage(ImageError):
    def __init__(self, prefix: str) -> None:
        super().__init__(f"multiple IDs found with provided prefix: {prefix}")


class ConflictError(ImageError):
    """A request that conflicts with the store's state (Docker answers 409)."""


class ImageInUse(ConflictError):
    """The image is used by a container."""


class InvalidReference(ImageError, _OciInvalidReference):
    """An image reference that does not parse; the message is Docker's."""


class InvalidImage(ImageError):
    """A manifest, config or layer that is malformed or does not match what it claims."""


class ImageCorrupt(ImageError):
    """A stored image whose blobs are missing or do not verify."""


class ArchiveError(ImageError):
    """An image archive (docker-archive or OCI layout) that cannot be loaded."""


class InvalidChange(ImageError):
    """A ``--change`` instruction that is not allowed or does not parse."""


class UnpackError(ImageError):
    """A layer could not be applied into a snapshot."""
