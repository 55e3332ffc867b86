"""The stdin/stdout pump over a connected socket pair, with pipes standing in for stdio."""

from __future__ import annotations

import os
import socket
import threading

from dockyard.cli.frames import frame
from dockyard.cli.stdio import Streamer
from dockyard.cli.transport import Hijacked


def _read_all(fd: int) -> bytes:
    out = b""
    while chunk := os.read(fd, 65536):
        out += chunk
    return out


def _run(
    server_script: bytes, tty: bool, stdin_data: bytes | None, keys: bytes = b"\x10\x11"
) -> tuple[bool, bytes, bytes, bytes]:
    """Streamer against a fake daemon that sends `server_script` after reading stdin."""
    client_sock, server_sock = socket.socketpair()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    in_r, in_w = os.pipe()
    received: list[bytes] = []

    def server() -> None:
        data = b""
        if stdin_data is not None:
            while chunk := server_sock.recv(65536):  # until the client's SHUT_WR
                data += chunk
        received.append(data)
        server_sock.sendall(server_script)
        server_sock.close()

    thread = threading.Thread(target=server)
    thread.start()
    if stdin_data is not None:
        os.write(in_w, stdin_data)
    os.close(in_w)
    streamer = Streamer(
        Hijacked(client_sock, b"", ""),
        tty=tty,
        stdin=stdin_data is not None,
        detach_keys=keys,
        stdout_fd=out_w,
        stderr_fd=err_w,
        stdin_fd=in_r,
    )
    detached = streamer.run()
    thread.join(10)
    for fd in (out_w, err_w, in_r):
        os.close(fd)
    out, err = _read_all(out_r), _read_all(err_r)
    os.close(out_r)
    os.close(err_r)
    return detached, out, err, received[0] if received else b""


def test_multiplexed_output_goes_to_separate_streams() -> None:
    script = frame(1, b"out1\n") + frame(2, b"err\n") + frame(1, b"out2\n")
    detached, out, err, _ = _run(script, tty=False, stdin_data=None)
    assert (detached, out, err) == (False, b"out1\nout2\n", b"err\n")


def test_stdin_is_sent_then_write_side_closed() -> None:
    payload = bytes(range(256)) * 64  # includes ctrl-p ctrl-q: data without a TTY
    _, out, _, got = _run(frame(1, b"done\n"), tty=False, stdin_data=payload)
    assert got == payload
    assert out == b"done\n"


def test_tty_output_is_raw() -> None:
    raw = b"\x01\x00\x00\x00\x00\x00\x00\x02hi"  # would be a frame header without a TTY
    _, out, err, _ = _run(raw, tty=True, stdin_data=None)
    assert (out, err) == (raw, b"")


def test_detach_keys_end_the_session_with_tty() -> None:
    client_sock, server_sock = socket.socketpair()
    out_r, out_w = os.pipe()
    in_r, in_w = os.pipe()
    os.write(in_w, b"ls\r\x10\x11")
    streamer = Streamer(
        Hijacked(client_sock, b"", ""),
        tty=True,
        stdin=True,
        detach_keys=b"\x10\x11",
        stdout_fd=out_w,
        stderr_fd=out_w,
        stdin_fd=in_r,
    )
    assert streamer.run() is True
    server_sock.settimeout(5)
    assert server_sock.recv(100) == b"ls\r"
    for fd in (out_r, out_w, in_r, in_w):
        os.close(fd)
    server_sock.close()
