"""Helpers the benchmarks share: free loopback ports and waiting for servers to answer."""

from __future__ import annotations

import socket
import subprocess
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Until something listens on 127.0.0.1:port; fails early if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def wait_socket(path: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Until the Engine API daemon on the unix socket ``path`` answers /_ping."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"daemon exited with {proc.returncode}")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\n\r\n")
            if s.recv(64).startswith(b"HTTP/1.1 200"):
                return
        except OSError:
            pass
        finally:
            s.close()
        time.sleep(0.1)
    raise RuntimeError(f"no answer on {path}")
