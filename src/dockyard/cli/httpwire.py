"""Minimal HTTP/1.1 client framing over a connected socket (stdlib `socket` only).

Why not http.client: importing it pulls in email parsing and ssl, which alone costs more
than the whole start-up budget of `dockyard ps`. The daemon speaks plain HTTP/1.1 over a
unix socket, so requests, Content-Length/chunked bodies and reading until close suffice."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import _socket
    from typing import IO

MAX_HEAD = 1 << 20

REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


class ProtocolError(OSError):
    """The peer's bytes are not an HTTP/1.x response."""


def read_head(sock: _socket.socket) -> tuple[int, str, dict[str, str], bytes]:
    """(status, reason, lower-cased headers, bytes read past the head)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ProtocolError("the daemon closed the connection before answering")
        buf += chunk
        if len(buf) > MAX_HEAD:
            raise ProtocolError("response head too large")
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise ProtocolError(f"malformed status line: {lines[0]!r}")
    try:
        status = int(parts[1])
    except ValueError:
        raise ProtocolError(f"malformed status line: {lines[0]!r}") from None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return status, parts[2] if len(parts) > 2 else "", headers, rest


class Response:
    """A response whose body is read lazily: read(n), read1(n), read()."""

    def __init__(
        self,
        sock: _socket.socket,
        status: int,
        reason: str,
        headers: dict[str, str],
        pending: bytes,
        method: str,
    ) -> None:
        self.sock: _socket.socket | None = sock
        self.status = status
        self.reason = reason
        self.headers = headers
        self._buf = bytearray(pending)
        self._chunked = headers.get("transfer-encoding", "").lower() == "chunked"
        self._chunk_left = 0
        self._left: int | None = None
        self._done = False
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            self._left = 0
        elif not self._chunked and "content-length" in headers:
            self._left = int(headers["content-length"])
        if self._left == 0:
            self._done = True

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def getheaders(self) -> list[tuple[str, str]]:
        return list(self.headers.items())

    def _fill(self) -> bool:
        if self.sock is None:
            return False
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return False
        self._buf += chunk
        return True

    def _take(self, n: int) -> bytes:
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def read1(self, n: int = 65536) -> bytes:
        """Up to n body bytes; b'' only at the end of the body."""
        if self._done:
            return b""
        if self._chunked:
            return self._read_chunk(n)
        if not self._buf and not self._fill():
            self._done = True
            return b""
        if self._left is not None:
            n = min(n, self._left)
        out = self._take(n)
        if self._left is not None:
            self._left -= len(out)
            if self._left <= 0:
                self._done = True
        return out

    def _read_chunk(self, n: int) -> bytes:
        while self._chunk_left == 0:
            while b"\r\n" not in self._buf:
                if not self._fill():
                    self._done = True
                    return b""
            line, _, _ = bytes(self._buf).partition(b"\r\n")
            del self._buf[: len(line) + 2]
            try:
                size = int(line.split(b";")[0].strip() or b"0", 16)
            except ValueError:
                raise ProtocolError(f"bad chunk size line {line[:40]!r}") from None
            if size == 0:
                self._done = True
                return b""
            self._chunk_left = size
        if not self._buf and not self._fill():
            self._done = True
            return b""
        out = self._take(min(n, self._chunk_left, len(self._buf)))
        self._chunk_left -= len(out)
        if self._chunk_left == 0:
            # The CRLF after the chunk data.
            while len(self._buf) < 2:
                if not self._fill():
                    break
            del self._buf[:2]
        return out

    def read(self, n: int = -1) -> bytes:
        out = bytearray()
        while n < 0 or len(out) < n:
            chunk = self.read1(65536 if n < 0 else n - len(out))
            if not chunk:
                break
            out += chunk
        if n < 0:
            self.close()
        return bytes(out)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def send_request(
    sock: _socket.socket,
    method: str,
    target: str,
    headers: dict[str, str],
    body: bytes | IO[bytes] | None,
) -> None:
    lines = [f"{method} {target} HTTP/1.1", "Host: docker", "User-Agent: dockyard-cli"]
    chunked = False
    if isinstance(body, bytes):
        headers.setdefault("Content-Length", str(len(body)))
    elif body is not None and "Content-Length" not in headers:
        headers["Transfer-Encoding"] = "chunked"
        chunked = True
    lines += [f"{k}: {v}" for k, v in headers.items()]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if isinstance(body, bytes) or body is None:
        sock.sendall(head + (body or b""))
        return
    sock.sendall(head)
    while True:
        data = body.read(65536)
        if not data:
            break
        if chunked:
            sock.sendall(b"%x\r\n" % len(data) + data + b"\r\n")
        else:
            sock.sendall(data)
    if chunked:
        sock.sendall(b"0\r\n\r\n")


_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


def quote(text: str, safe: str = "") -> str:
    """Percent-encode as urllib.parse.quote (UTF-8), without importing urllib."""
    keep = _SAFE | frozenset(safe.encode())
    return "".join(chr(b) if b in keep else f"%{b:02X}" for b in text.encode("utf-8"))


def urlencode(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k)}={quote(v)}" for k, v in pairs)
