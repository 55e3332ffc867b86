"""A --console-socket listener for tests: receives the pty master the runtime sends."""

from __future__ import annotations

import os
import select
import socket
import time
from pathlib import Path


class ConsoleSocket:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(1)

    def receive_master(self, timeout: float = 10) -> tuple[int, str]:
        self.sock.settimeout(timeout)
        conn, _ = self.sock.accept()
        with conn:
            data, fds, _flags, _addr = socket.recv_fds(conn, 4096, 1)
        assert fds, "no fd received on the console socket"
        return fds[0], data.decode()

    def close(self) -> None:
        self.sock.close()


def read_until(fd: int, needle: bytes, timeout: float = 10) -> bytes:
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf and time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf
