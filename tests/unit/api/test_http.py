"""The HTTP/1.1 server over a real unix socket: keep-alive, chunked, limits, hijack."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from dockyard.api import http
from dockyard.api.http import (
    HIJACKED,
    HttpError,
    ProtocolError,
    Reply,
    Request,
    StreamResponse,
    json_response,
    parse_head,
)


async def handler(req: Request) -> Reply:
    if req.path == "/echo":
        return json_response({"len": len(await req.body(limit=1000)), "q": req.q("x")})
    if req.path == "/stream":

        async def gen() -> AsyncIterator[bytes]:
            for i in range(3):
                yield f"part{i}\n".encode()

        return StreamResponse(gen())
    if req.path == "/hijack":
        r, w = await req.hijack("application/vnd.docker.raw-stream")
        data = await r.readexactly(5)
        w.write(data.upper())
        await w.drain()
        return HIJACKED
    raise HttpError(404, "page not found")


def run(tmp_path: Path, client: Callable[[str], Awaitable[None]]) -> None:
    async def main() -> None:
        sock = str(tmp_path / "s.sock")
        srv = http.Server(handler, lambda: {"Api-Version": "1.44"})
        await srv.start_unix(sock)
        try:
            await asyncio.wait_for(client(sock), 10)
        finally:
            await srv.close()

    asyncio.run(main())


async def read_response(r: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await r.readuntil(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
    if "content-length" in hdrs:
        body = await r.readexactly(int(hdrs["content-length"]))
    elif hdrs.get("transfer-encoding") == "chunked":
        body = b""
        while True:
            size = int((await r.readuntil(b"\r\n")).strip(), 16)
            chunk = await r.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    else:
        body = b""
    return status, hdrs, body


def test_parse_head() -> None:
    m, t, v, h = parse_head(b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nx-a: 2")
    assert (m, t, v) == ("GET", "/a?b=1", "HTTP/1.1")
    assert h == {"host": "x", "x-a": "1, 2"}
    with pytest.raises(ProtocolError):
        parse_head(b"garbage")
    with pytest.raises(ProtocolError):
        parse_head(b"GET / HTTP/1.1\r\nno colon here")


def test_keep_alive_content_length_and_chunked_bodies(tmp_path: Path) -> None:
    async def client(sock: str) -> None:
        r, w = await asyncio.open_unix_connection(sock)
        w.write(b"POST /echo?x=1 HTTP/1.1\r\nHost: d\r\nContent-Length: 5\r\n\r\nhello")
        st, hdrs, body = await read_response(r)
        assert st == 200 and json.loads(body) == {"len": 5, "q": "1"}
        assert hdrs["api-version"] == "1.44"
        # Same connection, chunked body.
        w.write(
            b"POST /echo HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
        )
        st, _, body = await read_response(r)
        assert st == 200 and json.loads(body)["len"] == 7
        w.close()

    run(tmp_path, client)


def test_body_over_limit_is_413_and_unknown_path_404(tmp_path: Path) -> None:
    async def client(sock: str) -> None:
        r, w = await asyncio.open_unix_connection(sock)
        w.write(b"POST /echo HTTP/1.1\r\nHost: d\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000)
        st, _, body = await read_response(r)
        assert st == 413 and "larger than" in json.loads(body)["message"]
        w.write(b"GET /nope HTTP/1.1\r\nHost: d\r\n\r\n")
        st, _, body = await read_response(r)
        assert st == 404 and json.loads(body) == {"message": "page not found"}
        w.close()

    run(tmp_path, client)


def test_streamed_response_is_chunked(tmp_path: Path) -> None:
    async def client(sock: str) -> None:
        r, w = await asyncio.open_unix_connection(sock)
        w.write(b"GET /stream HTTP/1.1\r\nHost: d\r\n\r\n")
        st, hdrs, body = await read_response(r)
        assert st == 200 and hdrs["transfer-encoding"] == "chunked"
        assert body == b"part0\npart1\npart2\n"
        w.close()

    run(tmp_path, client)


@pytest.mark.parametrize("upgrade", [True, False])
def test_hijack(tmp_path: Path, upgrade: bool) -> None:
    async def client(sock: str) -> None:
        r, w = await asyncio.open_unix_connection(sock)
        extra = b"Connection: Upgrade\r\nUpgrade: tcp\r\n" if upgrade else b""
        w.write(b"POST /hijack HTTP/1.1\r\nHost: d\r\n" + extra + b"\r\n")
        head = await r.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 UPGRADED" if upgrade else b"HTTP/1.1 200 OK")
        assert b"application/vnd.docker.raw-stream" in head
        w.write(b"hello")
        assert await r.readexactly(5) == b"HELLO"
        assert await r.read() == b""  # the server closes a hijacked connection after use
        w.close()

    run(tmp_path, client)


def test_head_request_has_no_body(tmp_path: Path) -> None:
    async def client(sock: str) -> None:
        r, w = await asyncio.open_unix_connection(sock)
        w.write(b"HEAD /nope HTTP/1.1\r\nHost: d\r\n\r\n")
        head = await r.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 404")
        w.write(b"GET /nope HTTP/1.1\r\nHost: d\r\n\r\n")
        st, _, _ = await read_response(r)
        assert st == 404
        w.close()

    run(tmp_path, client)
