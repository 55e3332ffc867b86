"""The file a trace writes to: named by an environment variable, opened once.

Shared by the daemon's and the runtime's phase traces (engine/trace.py, runtime/trace.py):
close-on-exec, so a container never receives it, yet kept by forked children (which may
still write after pivot_root); appends one line per write, so processes can share a file.
"""

from __future__ import annotations

import os


def open_trace(env: str) -> int:
    """The descriptor of the file ``$env`` names, or -1 (unset, or it cannot be opened)."""
    path = os.environ.get(env)
    if not path:
        return -1
    try:
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return -1


def write_line(fd: int, line: str) -> None:
    try:
        os.write(fd, line.encode())
    except OSError:
        return  # (tracing never fails what it traces; not contextlib: no imports added)
