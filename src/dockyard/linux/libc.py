"""The one handle on the C library, and the errno check every wrapper uses."""

from __future__ import annotations

import ctypes
import os


def _load_libc() -> ctypes.CDLL:
    # glibc's soname first: ctypes.util.find_library runs `ldconfig -p` in a subprocess,
    # which costs dockyard-runc milliseconds on every container start.
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        from ctypes.util import find_library

        return ctypes.CDLL(find_library("c") or "libc.so.6", use_errno=True)


libc = _load_libc()
libc.syscall.restype = ctypes.c_long


def check(ret: int, what: str, path: str | None = None) -> int:
    """Raise OSError (with errno) when a libc call returned -1; else return its value."""
    if ret == -1:
        err = ctypes.get_errno()
        if path is None:
            raise OSError(err, f"{what}: {os.strerror(err)}")
        raise OSError(err, f"{what}: {os.strerror(err)}", path)
    return ret


def syscall(number: int, *args: object) -> int:
    """Call a raw syscall by number (for those glibc has no wrapper for)."""
    return check(int(libc.syscall(ctypes.c_long(number), *args)), f"syscall {number}")


def errno_text(e: OSError) -> str:
    """An error's errno as Go (and so runc and dockerd) words it: "no such file or
    directory". Docker's client picks exit codes 126/127 by these words."""
    return (os.strerror(e.errno) if e.errno else str(e)).lower()
