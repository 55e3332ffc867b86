"""The one socket between the `create` parent and the container's setup processes.

A SOCK_SEQPACKET socketpair carries small JSON messages ({"t": kind, ...}); message
boundaries are kept by the kernel, so each recv is exactly one message (crun's design).
"""

from __future__ import annotations

import _socket

from dockyard.oci import fastjson
from dockyard.runtime.errors import SetupError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_MAX = 65536


class Sync:
    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock

    @classmethod
    def pair(cls) -> tuple[Sync, Sync]:
        # _socket, not socket: socket.py builds enums at import (milliseconds per start).
        a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        a.setblocking(True)
        b.setblocking(True)
        return cls(a), cls(b)

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, kind: str, **fields: Any) -> None:
        try:
            self.sock.send(fastjson.dumps({"t": kind, **fields}).encode())
        except (BrokenPipeError, ConnectionResetError):
            # The other side is gone; its last words (an "error" message) may still be
            # queued for us and say why.
            while self.recv_or_eof() is not None:
                pass
            raise SetupError("container init exited during setup") from None

    def recv(self) -> dict[str, Any]:
        """Next message; an EOF (the other side died) becomes a SetupError."""
        raw = self.sock.recv(_MAX)
        if not raw:
            raise SetupError("container init exited during setup")
        msg: dict[str, Any] = fastjson.loads(raw)
        if msg.get("t") == "error":
            raise SetupError(str(msg.get("msg")))
        return msg

    def recv_or_eof(self) -> dict[str, Any] | None:
        """Like recv, but None when the other side closed its end (e.g. on a successful exec)."""
        raw = self.sock.recv(_MAX)
        if not raw:
            return None
        msg: dict[str, Any] = fastjson.loads(raw)
        if msg.get("t") == "error":
            raise SetupError(str(msg.get("msg")))
        return msg

    def pending_error(self, timeout: float) -> str | None:
        """An "error" message the other side sent (waiting up to timeout), if any."""
        import select

        end_ms = int(timeout * 1000)
        poller = select.poll()
        poller.register(self.sock.fileno(), select.POLLIN)
        while poller.poll(end_ms):
            try:
                raw = self.sock.recv(_MAX)
            except OSError:
                return None
            if not raw:
                return None
            msg = fastjson.loads(raw)
            if isinstance(msg, dict) and msg.get("t") == "error":
                return str(msg.get("msg"))
        return None

    def expect(self, kind: str) -> dict[str, Any]:
        msg = self.recv()
        if msg.get("t") != kind:
            raise SetupError(f"protocol error: expected {kind!r}, got {msg.get('t')!r}")
        return msg

    def close(self) -> None:
        self.sock.close()
