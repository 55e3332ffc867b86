"""Local terminal and standard streams around a hijacked attach/exec connection."""

from __future__ import annotations

import contextlib
import os
import sys
import threading

from dockyard.cli.errors import CliError
from dockyard.cli.frames import STDERR, SYSTEMERR, Demuxer, EscapeScanner
from dockyard.cli.transport import Hijacked

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal as _signal
    from collections.abc import Callable, Iterator
else:
    import _signal  # signal.py wraps it in enums: ~3 ms of every CLI start


DEFAULT_DETACH_KEYS = b"\x10\x11"  # ctrl-p ctrl-q


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


@contextlib.contextmanager
def raw_terminal(fd: int, enabled: bool) -> Iterator[None]:
    """Put the local terminal in raw mode (as Go's term.MakeRaw) and restore it after."""
    if not enabled or not os.isatty(fd):
        yield
        return
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd, termios.TCSANOW)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def terminal_size() -> tuple[int, int] | None:
    for fd in (1, 0, 2):
        try:
            size = os.get_terminal_size(fd)
        except OSError:
            continue
        if size.lines > 0 and size.columns > 0:
            return size.lines, size.columns
    return None


@contextlib.contextmanager
def on_resize(resize: Callable[[int, int], None], enabled: bool) -> Iterator[None]:
    """Send the terminal size now and on every SIGWINCH."""
    if not enabled:
        yield
        return

    def push(*_: object) -> None:
        size = terminal_size()
        if size:
            with contextlib.suppress(CliError, OSError):
                resize(*size)

    def first() -> None:
        # As the docker CLI: the process (an exec especially) may not have its terminal
        # yet when the stream starts, so retry the first resize for a moment.
        import time

        for attempt in range(1, 11):
            size = terminal_size()
            if size is None:
                return
            try:
                resize(*size)
                return
            except (CliError, OSError):
                time.sleep(0.05 * attempt)

    previous = _signal.signal(_signal.SIGWINCH, push)
    threading.Thread(target=first, daemon=True).start()
    try:
        yield
    finally:
        _signal.signal(_signal.SIGWINCH, previous)


PROXIED = (
    _signal.SIGINT,
    _signal.SIGTERM,
    _signal.SIGHUP,
    _signal.SIGQUIT,
    _signal.SIGUSR1,
    _signal.SIGUSR2,
)


@contextlib.contextmanager
def proxy_signals(kill: Callable[[int], None], enabled: bool) -> Iterator[None]:
    """Forward signals the CLI receives to the container (`--sig-proxy`, without a TTY)."""
    if not enabled:
        yield
        return
    saved = {}

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(CliError, OSError):
            kill(signum)

    for sig in PROXIED:
        saved[sig] = _signal.signal(sig, forward)
    try:
        yield
    finally:
        for sig, handler in saved.items():
            _signal.signal(sig, handler)


class Streamer:
    """Copy stdin to the connection and the connection to stdout/stderr until the output
    ends or the user types the detach keys. `run()` returns True when detached."""

    def __init__(
        self,
        conn: Hijacked,
        tty: bool,
        stdin: bool,
        detach_keys: bytes,
        stdout_fd: int = 1,
        stderr_fd: int = 2,
        stdin_fd: int = 0,
    ) -> None:
        self.conn = conn
        self.tty = tty
        self.stdin = stdin
        self.scanner = EscapeScanner(detach_keys if tty else b"")
        self.out_fd, self.err_fd, self.in_fd = stdout_fd, stderr_fd, stdin_fd
        self.detached = threading.Event()

    def _pump_input(self) -> None:
        try:
            while True:
                data = os.read(self.in_fd, 32768)
                if not data:
                    self.conn.close_write()
                    return
                data, detach = self.scanner.feed(data)
                if data:
                    self.conn.send_all(data)
                if detach:
                    self.detached.set()
                    import socket

                    with contextlib.suppress(OSError):
                        self.conn.sock.shutdown(socket.SHUT_RDWR)
                    return
        except OSError:
            return

    def run(self) -> bool:
        if self.stdin:
            threading.Thread(target=self._pump_input, daemon=True).start()
        demux = None if self.tty else Demuxer()
        while True:
            try:
                data = self.conn.recv()
            except OSError:
                data = b""
            if not data:
                break
            if demux is None:
                write_all(self.out_fd, data)
                continue
            for stream, payload in demux.feed(data):
                if stream == SYSTEMERR:
                    raise CliError(payload.decode("utf-8", "replace").strip())
                write_all(self.err_fd if stream == STDERR else self.out_fd, payload)
        self.conn.close()
        return self.detached.is_set()


def stdin_is_tty() -> bool:
    return sys.stdin is not None and os.isatty(0)
