"""Docker's multiplexed stream frames and the detach-key scanner."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.cli.frames import (
    Demuxer,
    DetachKeysError,
    EscapeScanner,
    FrameError,
    frame,
    parse_detach_keys,
)


def test_demux_whole_frames() -> None:
    data = frame(1, b"out\n") + frame(2, b"err\n") + frame(1, b"")
    assert Demuxer().feed(data) == [(1, b"out\n"), (2, b"err\n"), (1, b"")]


def test_demux_split_anywhere() -> None:
    data = frame(1, b"hello") + frame(2, b"world!")
    for cut in range(len(data) + 1):
        d = Demuxer()
        got = d.feed(data[:cut]) + d.feed(data[cut:])
        assert got == [(1, b"hello"), (2, b"world!")]
        assert d.pending == 0


@given(
    st.lists(st.tuples(st.sampled_from([0, 1, 2]), st.binary(max_size=300)), max_size=8),
    st.integers(min_value=1, max_value=50),
)
def test_demux_any_chunking(frames: list[tuple[int, bytes]], step: int) -> None:
    data = b"".join(frame(s, p) for s, p in frames)
    d = Demuxer()
    got = []
    for i in range(0, len(data), step):
        got += d.feed(data[i : i + step])
    assert got == frames


def test_demux_rejects_unknown_stream() -> None:
    with pytest.raises(FrameError):
        Demuxer().feed(b"\x07\0\0\0\0\0\0\x01x")


def test_parse_detach_keys() -> None:
    assert parse_detach_keys("ctrl-p,ctrl-q") == b"\x10\x11"
    assert parse_detach_keys("ctrl-a,x") == b"\x01x"
    assert parse_detach_keys("ctrl-@") == b"\x00"
    with pytest.raises(DetachKeysError):
        parse_detach_keys("ctrl-pp")


def test_escape_scanner_detects_sequence_across_reads() -> None:
    s = EscapeScanner(b"\x10\x11")
    assert s.feed(b"ab\x10") == (b"ab", False)
    assert s.feed(b"\x11rest") == (b"", True)


def test_escape_scanner_releases_false_starts() -> None:
    s = EscapeScanner(b"\x10\x11")
    assert s.feed(b"\x10x") == (b"\x10x", False)
    assert s.feed(b"\x10\x10\x11") == (b"\x10", True)


def test_escape_scanner_disabled() -> None:
    assert EscapeScanner(b"").feed(b"\x10\x11") == (b"\x10\x11", False)
