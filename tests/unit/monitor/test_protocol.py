"""Pure parts of the monitor protocol: frames, detach keys, exit codes, options."""

from __future__ import annotations

import os
import signal
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.engine.monitor.protocol import (
    DetachScanner,
    FrameDecoder,
    MonitorOptions,
    ProtocolError,
    decode_message,
    encode_frame,
    encode_message,
    exit_code_from_status,
    parse_detach_keys,
    signal_number,
)


def test_frame_header_is_dockers() -> None:
    assert encode_frame(1, b"hi") == b"\x01\x00\x00\x00\x00\x00\x00\x02hi"
    big = encode_frame(2, b"x" * 70000)
    assert big[:8] == bytes([2, 0, 0, 0]) + struct.pack(">I", 70000)


@given(
    st.lists(st.tuples(st.sampled_from([1, 2]), st.binary(max_size=300)), max_size=20),
    st.integers(min_value=1, max_value=50),
)
def test_frames_roundtrip_in_any_chunking(frames: list[tuple[int, bytes]], step: int) -> None:
    wire = b"".join(encode_frame(s, d) for s, d in frames)
    dec = FrameDecoder()
    got: list[tuple[int, bytes]] = []
    for i in range(0, len(wire), step):
        got += dec.feed(wire[i : i + step])
    assert got == frames
    assert dec.pending == 0


def test_frame_decoder_rejects_bad_stream_type() -> None:
    with pytest.raises(ProtocolError):
        FrameDecoder().feed(b"\x07\x00\x00\x00\x00\x00\x00\x01x")


def test_detach_keys_syntax() -> None:
    assert parse_detach_keys("ctrl-p,ctrl-q") == b"\x10\x11"
    assert parse_detach_keys("a,ctrl-@,ctrl-[") == b"a\x00\x1b"
    assert parse_detach_keys("") == b""
    with pytest.raises(ProtocolError, match="Unknown character"):
        parse_detach_keys("ctrl-1")
    with pytest.raises(ProtocolError):
        parse_detach_keys("shift-a")


def test_detach_scanner_finds_sequence_across_chunks() -> None:
    s = DetachScanner(b"\x10\x11")
    assert s.feed(b"abc\x10") == (b"abc", False)  # \x10 held: may start the sequence
    assert s.feed(b"\x11rest") == (b"", True)


def test_detach_scanner_releases_failed_prefix() -> None:
    s = DetachScanner(b"\x10\x11")
    assert s.feed(b"\x10x") == (b"\x10x", False)
    assert s.feed(b"\x10\x10\x11") == (b"\x10", True)
    off = DetachScanner(b"")
    assert off.feed(b"\x10\x11") == (b"\x10\x11", False)


@given(st.binary(max_size=200))
def test_detach_scanner_forwards_everything_without_the_sequence(data: bytes) -> None:
    keys = b"\x10\x11"
    s = DetachScanner(keys)
    out, detached = s.feed(data)
    if keys in data:
        assert detached
        assert out == data[: data.index(keys)]
    else:
        assert not detached
        # Only a trailing partial match may still be held back.
        held = data[len(out) :]
        assert data.startswith(out)
        assert held in (b"", b"\x10")


def test_exit_codes() -> None:
    assert exit_code_from_status(0) == 0
    assert exit_code_from_status(3 << 8) == 3
    assert exit_code_from_status(signal.SIGKILL) == 137
    assert exit_code_from_status(signal.SIGTERM) == 143
    pid = os.fork()
    if pid == 0:
        os._exit(42)
    _, status = os.waitpid(pid, 0)
    assert exit_code_from_status(status) == 42


def test_signal_numbers() -> None:
    assert signal_number(9) == 9
    assert signal_number("KILL") == 9
    assert signal_number("sigterm") == 15
    assert signal_number("15") == 15
    for bad in ("NOPE", 0, 99, True, None):
        with pytest.raises(ProtocolError):
            signal_number(bad)


def test_options_roundtrip_and_unknown_fields() -> None:
    o = MonitorOptions(
        container_id="c1",
        bundle="/b",
        runtime="/usr/sbin/runc",
        runtime_root="/r",
        state_dir="/s",
        log_path="/s/log",
        tty=True,
        runtime_args=["--debug"],
    )
    back = MonitorOptions.from_json(o.to_json())
    assert back == o
    assert back.runtime_args == ("--debug",)
    assert back.path("exit.json") == "/s/exit.json"
    # Fields a newer daemon adds are ignored by an older monitor.
    assert MonitorOptions.from_json(o.to_json()[:-1] + ', "future": 1}') == o
    with pytest.raises(ProtocolError):
        MonitorOptions.from_json('{"container_id": "x"}')
    with pytest.raises(ProtocolError):
        MonitorOptions.from_json("[]")


def test_messages() -> None:
    assert encode_message({"cmd": "start"}) == b'{"cmd":"start"}\n'
    assert decode_message(b'{"ok":true}') == {"ok": True}
    for bad in (b"nope", b"[1]", b""):
        with pytest.raises(ProtocolError):
            decode_message(bad)
