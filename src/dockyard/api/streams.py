"""Stream plumbing: Docker's multiplexed frames and piping a hijacked client to a monitor."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import BinaryIO

log = logging.getLogger(__name__)

STDIN, STDOUT, STDERR = 0, 1, 2
_HEADER = struct.Struct(">BxxxI")

RAW_STREAM = "application/vnd.docker.raw-stream"
MUX_STREAM = "application/vnd.docker.multiplexed-stream"


def frame(stream: int, data: bytes) -> bytes:
    """One stdcopy frame: stream byte, three zero bytes, big-endian length, payload."""
    return _HEADER.pack(stream, len(data)) + data


async def open_socket(sock: socket.socket) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Wrap a connected (blocking) unix socket in asyncio streams."""
    sock.setblocking(False)
    return await asyncio.open_unix_connection(sock=sock, limit=1 << 20)


async def open_attach(
    state_dir: str, stdin: bool, stdout: bool, stderr: bool, detach_keys: str | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    """Attach to a container's monitor; returns its streams and output sent with the ack."""
    from dockyard.engine.monitor.client import MonitorHandle

    att = await asyncio.to_thread(
        MonitorHandle(state_dir).attach,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        detach_keys=detach_keys,
    )
    r, w = await open_socket(att.detach_socket())
    return r, w, att.first


async def _copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    while True:
        data = await src.read(65536)
        if not data:
            return
        dst.write(data)
        await dst.drain()


def _half_close(w: asyncio.StreamWriter) -> None:
    """End our side of ``w`` once what is buffered has been sent.

    ``drain`` leaves up to the high-water mark in the transport's buffer: shutting the
    socket down directly would cut that off (and the failing flush would then close the
    whole connection, losing the other direction too). ``write_eof`` shuts down after it.
    """
    if w.can_write_eof():
        with contextlib.suppress(OSError, RuntimeError):
            w.write_eof()
        return
    sock = w.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)


async def splice(
    client_r: asyncio.StreamReader,
    client_w: asyncio.StreamWriter,
    mon_r: asyncio.StreamReader,
    mon_w: asyncio.StreamWriter,
    stdin: bool,
    before_close: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Client input to the monitor, monitor output to the client, until the output ends.

    The client closing its write side (end of stdin) is passed on as a half-close;
    the monitor closing the stream (the process exited) ends the whole exchange.
    """

    async def upstream() -> None:
        try:
            if stdin:
                await _copy(client_r, mon_w)
            else:
                # Still read, to notice a client that goes away.
                while await client_r.read(65536):
                    pass
        except (ConnectionError, OSError):
            pass
        if stdin:
            _half_close(mon_w)

    up = asyncio.ensure_future(upstream())
    try:
        await _copy(mon_r, client_w)
    except (ConnectionError, OSError):
        pass
    finally:
        up.cancel()
        with contextlib.suppress(BaseException):
            await up
        mon_w.close()
        if before_close is not None:
            # e.g. settle an exec's exit code before the client, seeing EOF, asks for it.
            with contextlib.suppress(Exception):
                await before_close()
        _half_close(client_w)


def from_writer(fn: Callable[[BinaryIO], None]) -> AsyncIterator[bytes]:
    """Stream what a blocking ``fn(file)`` writes (tar producers), through a pipe.

    ``fn`` runs in a worker thread; an error in it ends the stream early (the client
    sees a truncated tar), since the status line has already gone out.
    """

    async def gen() -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        rfd, wfd = os.pipe()
        wfile = os.fdopen(wfd, "wb")

        def produce() -> None:
            try:
                fn(wfile)
            except Exception:
                log.warning("stream producer failed", exc_info=True)
            finally:
                with contextlib.suppress(OSError):
                    wfile.close()

        task = loop.run_in_executor(None, produce)
        rfile = os.fdopen(rfd, "rb", buffering=0)
        try:
            while True:
                data = await loop.run_in_executor(None, rfile.read, 1 << 20)
                if not data:
                    break
                yield data
        finally:
            rfile.close()  # a producer still writing gets EPIPE and stops
            with contextlib.suppress(Exception):
                await task

    return gen()
