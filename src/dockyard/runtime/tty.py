"""`run` with a terminal and no --console-socket: receive the master ourselves and copy
between it and our stdio (raw mode when stdin is a terminal), as runc does."""

from __future__ import annotations

import os
import select
import signal
import socket
import termios
import tty
from collections.abc import Callable
from types import FrameType

from dockyard.linux.terminal import get_winsize, recv_fd, set_winsize


class ConsoleProxy:
    def __init__(self) -> None:
        self.ours, self.theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.master = -1
        self.saved: list[object] | None = None

    def receive(self) -> None:
        self.theirs.close()
        self.master, _name = recv_fd(self.ours)
        self.ours.close()
        if os.isatty(0):
            self.saved = termios.tcgetattr(0)
            tty.setraw(0)
            self._resize()
            signal.signal(signal.SIGWINCH, self._on_winch)

    def _on_winch(self, _sig: int, _frame: FrameType | None) -> None:
        self._resize()

    def _resize(self) -> None:
        try:
            rows, cols = get_winsize(0)
            set_winsize(self.master, rows, cols)
        except OSError:
            pass

    def pump(self, done: Callable[[], bool]) -> None:
        stdin_open = True
        while True:
            fds = [self.master] + ([0] if stdin_open else [])
            try:
                ready, _, _ = select.select(fds, [], [], 0.1)
            except InterruptedError:
                continue
            if self.master in ready:
                try:
                    data = os.read(self.master, 65536)
                except OSError:
                    data = b""
                if not data:
                    return
                os.write(1, data)
            if 0 in ready:
                data = os.read(0, 65536)
                if not data:
                    stdin_open = False
                else:
                    os.write(self.master, data)
            if not ready and done():
                return

    def restore(self) -> None:
        if self.saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, self.saved)  # type: ignore[arg-type]
        if self.master >= 0:
            os.close(self.master)
