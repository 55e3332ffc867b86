"""A small HTTP/1.1 server on asyncio streams, shaped for the Docker Engine API.

It speaks keep-alive, Content-Length and chunked bodies in both directions, and
lets a handler *hijack* the connection (attach, exec start) the way Docker does:
``Upgrade: tcp`` gets ``101 UPGRADED``, anything else gets a bare 200 and then the
raw byte stream. Request bodies are bounded unless a handler streams them.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from dockyard.engine import trace

log = logging.getLogger(__name__)

HEAD_LIMIT = 64 * 1024
JSON_BODY_LIMIT = 64 * 1024 * 1024
# An unread body smaller than this is drained to keep the connection alive.
DRAIN_LIMIT = 1024 * 1024
# After refusing a body (413), at most this much of it is read and dropped.
DISCARD_LIMIT = 1 << 30
DISCARD_TIMEOUT = 30.0

REASONS = {
    101: "UPGRADED",
    200: "OK",
    201: "Created",
    204: "No Content",
    304: "Not Modified",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    411: "Length Required",
    413: "Request Entity Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}


class HttpError(Exception):
    """An error answered with ``status`` and Docker's ``{"message": ...}`` body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ProtocolError(Exception):
    """The peer sent something that is not HTTP/1.1; the connection is dropped."""


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class StreamResponse:
    """A chunked response; the status line and headers go out before the first chunk."""

    chunks: AsyncIterator[bytes]
    status: int = 200
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


class Hijacked:
    """Returned by a handler that took the connection over; the server just closes it."""


HIJACKED = Hijacked()

Reply = Response | StreamResponse | Hijacked


def json_response(obj: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(obj).encode() + b"\n", "application/json")


def no_content(status: int = 204) -> Response:
    return Response(status)


class Request:
    def __init__(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        extra_headers: Mapping[str, str],
    ) -> None:
        self.method = method
        self.target = target
        parts = urlsplit(target)
        self.path = unquote(parts.path)
        self.query: dict[str, list[str]] = parse_qs(parts.query, keep_blank_values=True)
        self.headers = headers
        self.reader = reader
        self.writer = writer
        self.api_version: str | None = None
        self.params: dict[str, str] = {}
        self._extra_headers = extra_headers
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        cl = headers.get("content-length")
        try:
            self._remaining = int(cl) if cl is not None else (0 if not self._chunked else -1)
        except ValueError as e:
            raise ProtocolError(f"bad Content-Length {cl!r}") from e
        if self._remaining < -1:
            raise ProtocolError("negative Content-Length")
        self._body_done = self._remaining == 0
        self._chunk_left = 0
        self.hijacked = False

    # -- query helpers ---------------------------------------------------------

    def q(self, name: str, default: str | None = None) -> str | None:
        vals = self.query.get(name)
        return vals[-1] if vals else default

    def qbool(self, name: str, default: bool = False) -> bool:
        v = self.q(name)
        if v is None:
            return default
        return v.lower() not in ("", "0", "false", "no")

    def qint(self, name: str, default: int | None = None) -> int | None:
        v = self.q(name)
        if v is None or v == "":
            return default
        try:
            return int(v)
        except ValueError:
            raise HttpError(400, f"invalid value for {name}: {v!r} is not an integer") from None

    def qjson(self, name: str) -> Any:
        v = self.q(name)
        if not v:
            return None
        try:
            return json.loads(v)
        except ValueError:
            raise HttpError(400, f"invalid {name} parameter: not JSON") from None

    # -- body ------------------------------------------------------------------

    async def _next_piece(self, maxlen: int) -> bytes:
        """The next piece of the body (at most ``maxlen``); b"" at its end."""
        if self._body_done:
            return b""
        if not self._chunked:
            data = await self.reader.read(min(maxlen, self._remaining))
            if not data:
                raise ProtocolError("connection closed inside the request body")
            self._remaining -= len(data)
            self._body_done = self._remaining == 0
            return data
        if self._chunk_left == 0:
            line = await self.reader.readuntil(b"\r\n")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError as e:
                raise ProtocolError("bad chunk size") from e
            if size == 0:
                # Trailers (rare) end with an empty line.
                while (await self.reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                self._body_done = True
                return b""
            self._chunk_left = size
        data = await self.reader.read(min(maxlen, self._chunk_left))
        if not data:
            raise ProtocolError("connection closed inside a chunk")
        self._chunk_left -= len(data)
        if self._chunk_left == 0 and await self.reader.readexactly(2) != b"\r\n":
            raise ProtocolError("chunk not followed by CRLF")
        return data

    async def iter_body(self, piece: int = 256 * 1024) -> AsyncIterator[bytes]:
        """Stream the body (tar uploads) without holding it in memory."""
        while True:
            data = await self._next_piece(piece)
            if not data:
                return
            yield data

    async def body(self, limit: int = JSON_BODY_LIMIT) -> bytes:
        if self._remaining > limit:
            raise HttpError(413, f"request body is larger than {limit} bytes")
        out = bytearray()
        async for data in self.iter_body():
            out += data
            if len(out) > limit:
                raise HttpError(413, f"request body is larger than {limit} bytes")
        return bytes(out)

    async def json(self, default: Any = None) -> Any:
        raw = await self.body()
        if not raw.strip():
            return default
        try:
            return json.loads(raw)
        except ValueError as e:
            raise HttpError(400, f"invalid JSON: {e}") from None

    @property
    def body_done(self) -> bool:
        return self._body_done

    async def discard(self, limit: int) -> None:
        seen = 0
        while not self._body_done and seen <= limit:
            seen += len(await self._next_piece(1 << 20))

    async def drain(self) -> bool:
        """Read and drop what the handler left of the body; False if too much to keep alive."""
        seen = 0
        while not self._body_done:
            data = await self._next_piece(64 * 1024)
            seen += len(data)
            if seen > DRAIN_LIMIT:
                return False
        return True

    # -- hijacking -------------------------------------------------------------

    async def hijack(self, content_type: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Answer with 101 (Upgrade: tcp) or 200 and hand over the raw connection."""
        upgrade = "upgrade" in self.headers.get("connection", "").lower() and bool(
            self.headers.get("upgrade")
        )
        if upgrade:
            head = "HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
        else:
            head = "HTTP/1.1 200 OK\r\n"
        head += f"Content-Type: {content_type}\r\n"
        for k, v in self._extra_headers.items():
            head += f"{k}: {v}\r\n"
        self.writer.write((head + "\r\n").encode("latin-1"))
        await self.writer.drain()
        self.hijacked = True
        return self.reader, self.writer


Handler = Callable[[Request], Awaitable[Reply]]


def _head_bytes(status: int, headers: Mapping[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def parse_head(raw: bytes) -> tuple[str, str, str, dict[str, str]]:
    """Parse a request line and headers (pure); header names are lowercased."""
    try:
        text = raw.decode("latin-1")
    except UnicodeDecodeError as e:  # pragma: no cover - latin-1 decodes anything
        raise ProtocolError("undecodable head") from e
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise ProtocolError(f"bad request line {lines[0][:80]!r}")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise ProtocolError(f"bad header line {line[:80]!r}")
        key = name.lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return method, target, version, headers


class Server:
    """Serve ``handler`` on a unix socket; ``base_headers()`` go on every response."""

    def __init__(self, handler: Handler, base_headers: Callable[[], dict[str, str]]) -> None:
        self.handler = handler
        self.base_headers = base_headers
        self._server: asyncio.base_events.Server | None = None
        self._conns: set[asyncio.Task[None]] = set()

    async def start_unix(self, path: str) -> None:
        self._server = await asyncio.start_unix_server(self._serve, path=path, limit=HEAD_LIMIT)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for t in list(self._conns):
            t.cancel()
        if self._conns:
            await asyncio.gather(*self._conns, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        try:
            await self._serve_conn(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ProtocolError) as e:
            log.debug("connection dropped: %s", e)
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("connection failed")
        finally:
            self._conns.discard(task)
            writer.close()

    async def _serve_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                raw = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return
            except asyncio.LimitOverrunError:
                writer.write(self._error_bytes(431, "request header too large", close=True))
                return
            method, target, version, headers = parse_head(raw[:-4])
            base = self.base_headers()
            req = Request(method, target, headers, reader, writer, base)
            reply: Reply
            t0 = time.monotonic()
            trace.mark(f"http {method} {target[:60]} in")
            try:
                reply = await self.handler(req)
            except HttpError as e:
                reply = json_response({"message": e.message}, e.status)
            if log.isEnabledFor(logging.DEBUG):
                status = getattr(reply, "status", 101)
                log.debug(
                    "%s %s -> %s in %.1f ms", method, target, status, (time.monotonic() - t0) * 1000
                )
            keep = version == "HTTP/1.1" and "close" not in headers.get("connection", "").lower()
            if isinstance(reply, Hijacked) or req.hijacked:
                return
            if keep:
                try:
                    keep = await req.drain()
                except HttpError:
                    keep = False
            await self._write(req, reply, base, keep)
            trace.mark(f"http {method} {target[:60]} out")
            if not keep or isinstance(reply, StreamResponse):
                if not req.body_done:
                    # A client still sending a refused body would see a broken pipe
                    # instead of our answer: swallow the rest (bounded) before closing.
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(req.discard(DISCARD_LIMIT), DISCARD_TIMEOUT)
                return

    def _error_bytes(self, status: int, message: str, close: bool) -> bytes:
        body = json.dumps({"message": message}).encode() + b"\n"
        hdrs = self.base_headers()
        hdrs["Content-Type"] = "application/json"
        hdrs["Content-Length"] = str(len(body))
        if close:
            hdrs["Connection"] = "close"
        return _head_bytes(status, hdrs) + body

    async def _write(self, req: Request, reply: Reply, base: dict[str, str], keep: bool) -> None:
        w = req.writer
        hdrs = dict(base)
        hdrs["Date"] = email.utils.formatdate(usegmt=True)
        if not keep:
            hdrs["Connection"] = "close"
        if isinstance(reply, Response):
            if reply.content_type:
                hdrs["Content-Type"] = reply.content_type
            hdrs.update(reply.headers)
            if reply.status not in (204, 304):
                hdrs["Content-Length"] = str(len(reply.body))
            w.write(_head_bytes(reply.status, hdrs))
            if req.method != "HEAD" and reply.status not in (204, 304):
                w.write(reply.body)
            await w.drain()
            return
        assert isinstance(reply, StreamResponse)
        hdrs["Content-Type"] = reply.content_type
        hdrs.update(reply.headers)
        hdrs["Transfer-Encoding"] = "chunked"
        # A stream may block for long (events, logs -f, wait); the connection is
        # closed after it, and a peer hanging up meanwhile cancels it.
        hdrs["Connection"] = "close"
        w.write(_head_bytes(reply.status, hdrs))
        await w.drain()
        chunks = reply.chunks

        async def pump() -> None:
            try:
                async for chunk in chunks:
                    if chunk:
                        w.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        await w.drain()
            finally:
                aclose = getattr(chunks, "aclose", None)
                if aclose is not None:
                    await aclose()
            w.write(b"0\r\n\r\n")
            await w.drain()

        pump_task = asyncio.ensure_future(pump())
        eof_task = asyncio.ensure_future(req.reader.read(1))
        try:
            await asyncio.wait({pump_task, eof_task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not pump_task.done():
                pump_task.cancel()
            eof_task.cancel()
            await asyncio.gather(pump_task, eof_task, return_exceptions=True)
        if not pump_task.cancelled() and pump_task.exception() is not None:
            exc = pump_task.exception()
            assert exc is not None
            raise exc
