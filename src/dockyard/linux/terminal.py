"""Pseudo-terminals inside a container's devpts, and passing fds over unix sockets."""

from __future__ import annotations

import array
import fcntl
import os
import socket
import struct
import termios

TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431
TIOCGPTPEER = 0x5441


def open_pty(ptmx: str = "/dev/ptmx") -> tuple[int, int]:
    """Open a new pty pair from `ptmx`; returns (master, slave).

    The slave is opened through TIOCGPTPEER on the master, so no path lookup under /dev/pts
    can be raced by the container.
    """
    master = os.open(ptmx, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
        slave = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY)
    except BaseException:
        os.close(master)
        raise
    return master, int(slave)


def pty_number(master: int) -> int:
    buf = array.array("i", [0])
    fcntl.ioctl(master, TIOCGPTN, buf)
    return buf[0]


def set_winsize(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def get_winsize(fd: int) -> tuple[int, int]:
    rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    return rows, cols


def make_controlling(fd: int) -> None:
    """Make fd the controlling terminal of this (new session leader) process."""
    fcntl.ioctl(fd, termios.TIOCSCTTY, 0)


def send_fd(sock: socket.socket, fd: int, name: str) -> None:
    """Send one fd with SCM_RIGHTS, the way runc sends a console master (data = its name)."""
    socket.send_fds(sock, [name.encode()], [fd])


def recv_fd(sock: socket.socket) -> tuple[int, str]:
    """Receive one fd sent with SCM_RIGHTS; returns (fd, name)."""
    data, fds, _flags, _addr = socket.recv_fds(sock, 4096, 1)
    if not fds:
        raise OSError("no file descriptor received on the console socket")
    return fds[0], data.decode(errors="replace")
