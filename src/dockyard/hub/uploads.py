"""The blob upload protocol as a pure state machine: ranges, offsets, transitions.

An upload's offset is the number of bytes received, which is also the size of its data
file; a chunk must start exactly there, so a client that lost track asks `GET` and resumes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from dockyard.hub.errors import RegistryError

_RANGE = re.compile(r"^\s*(?:bytes[ =])?\s*(\d+)-(\d+)(?:/(?:\d+|\*))?\s*$")


class Phase(Enum):
    OPEN = "open"
    COMMITTED = "committed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Chunk:
    start: int
    end: int | None  # inclusive; None when streamed without Content-Range

    @property
    def length(self) -> int | None:
        return None if self.end is None else self.end - self.start + 1


@dataclass(frozen=True)
class UploadState:
    id: str
    repo: str
    offset: int = 0
    phase: Phase = Phase.OPEN

    def accept(self, chunk: Chunk) -> UploadState:
        """Check that `chunk` may be appended now (before any byte of it is written)."""
        self._require_open()
        if chunk.start != self.offset:
            raise RegistryError(
                "BLOB_UPLOAD_INVALID",
                f"chunk starts at {chunk.start}, upload is at {self.offset}",
                status=416,
            )
        return self

    def received(self, count: int) -> UploadState:
        self._require_open()
        return UploadState(self.id, self.repo, self.offset + count, self.phase)

    def commit(self) -> UploadState:
        self._require_open()
        return UploadState(self.id, self.repo, self.offset, Phase.COMMITTED)

    def cancel(self) -> UploadState:
        self._require_open()
        return UploadState(self.id, self.repo, self.offset, Phase.CANCELLED)

    def _require_open(self) -> None:
        if self.phase is not Phase.OPEN:
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", f"upload {self.id} is {self.phase.value}")


def parse_chunk(content_range: str | None, content_length: int | None, offset: int) -> Chunk:
    """Turn PATCH headers into a chunk; a streamed PATCH (no Content-Range) starts at `offset`."""
    if content_range is None:
        return Chunk(offset, None if content_length is None else offset + content_length - 1)
    m = _RANGE.match(content_range)
    if not m:
        raise RegistryError(
            "BLOB_UPLOAD_INVALID", f"invalid Content-Range: {content_range!r}", status=416
        )
    start, end = int(m.group(1)), int(m.group(2))
    if end < start:
        raise RegistryError(
            "BLOB_UPLOAD_INVALID", f"invalid Content-Range: {content_range!r}", status=416
        )
    if content_length is not None and content_length != end - start + 1:
        raise RegistryError(
            "SIZE_INVALID",
            f"Content-Length {content_length} does not match Content-Range {content_range}",
        )
    return Chunk(start, end)


def range_header(offset: int) -> str:
    """The `Range` value reporting `offset` bytes received (registry:2 prints 0-0 when empty)."""
    return f"0-{max(offset - 1, 0)}"
