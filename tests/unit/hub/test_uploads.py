from __future__ import annotations

import pytest

from dockyard.hub.errors import RegistryError
from dockyard.hub.uploads import Chunk, Phase, UploadState, parse_chunk, range_header


def test_streamed_patch_starts_at_offset() -> None:
    assert parse_chunk(None, 10, 5) == Chunk(5, 14)
    assert parse_chunk(None, None, 5) == Chunk(5, None)


@pytest.mark.parametrize("header", ["0-99", "bytes=0-99", "bytes 0-99/100", "0-99/*"])
def test_content_range_forms(header: str) -> None:
    assert parse_chunk(header, 100, 0) == Chunk(0, 99)


def test_content_range_must_match_length() -> None:
    with pytest.raises(RegistryError) as e:
        parse_chunk("0-99", 50, 0)
    assert e.value.code == "SIZE_INVALID"


@pytest.mark.parametrize("header", ["abc", "10-5", "-5", "5-"])
def test_bad_content_range_is_416(header: str) -> None:
    with pytest.raises(RegistryError) as e:
        parse_chunk(header, None, 0)
    assert e.value.status == 416


def test_in_order_chunks_advance() -> None:
    s = UploadState("u" * 16, "alice/web")
    s = s.accept(parse_chunk("0-9", 10, s.offset)).received(10)
    s = s.accept(parse_chunk("10-19", 10, s.offset)).received(10)
    assert s.offset == 20
    assert range_header(s.offset) == "0-19"


@pytest.mark.parametrize("start", [0, 5, 11, 1000])
def test_out_of_order_chunk_is_416(start: int) -> None:
    s = UploadState("u" * 16, "alice/web", offset=10)
    with pytest.raises(RegistryError) as e:
        s.accept(parse_chunk(f"{start}-{start + 9}", 10, s.offset))
    assert e.value.status == 416
    assert e.value.code == "BLOB_UPLOAD_INVALID"


def test_empty_upload_range_header() -> None:
    assert range_header(0) == "0-0"
    assert range_header(1) == "0-0"
    assert range_header(2) == "0-1"


def test_closed_uploads_refuse_everything() -> None:
    s = UploadState("u" * 16, "r").received(3)
    done = s.commit()
    assert done.phase is Phase.COMMITTED and done.offset == 3
    for action in (done.commit, done.cancel, lambda: done.received(1)):
        with pytest.raises(RegistryError) as e:
            action()
        assert e.value.code == "BLOB_UPLOAD_UNKNOWN"
    gone = s.cancel()
    with pytest.raises(RegistryError):
        gone.accept(Chunk(3, 4))
