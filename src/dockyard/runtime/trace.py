"""Per-phase timestamps for start-up profiling, on only when DOCKYARD_RUNC_TRACE names a file.

Each mark appends "<pid> <monotonic ms> <cpu ms of this process> <label> faults=<minor page
faults so far>" to that file, so
the parent, stage1 and the init of one `run` can be laid side by side. The file is opened
once (close-on-exec, so the container never receives it) and kept for the forked children,
which can still write after pivot_root. Off, a mark costs one global lookup.
"""

from __future__ import annotations

import os

_fd = -1
_path = os.environ.get("DOCKYARD_RUNC_TRACE")
if _path:
    try:
        _fd = os.open(_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        _fd = -1
del _path


def fd() -> int:
    """The trace file's descriptor (-1 when off), for forks that close all others."""
    return _fd


def mark(label: str) -> None:
    if _fd < 0:
        return
    import time

    try:
        with open("/proc/self/stat", "rb") as f:
            faults = f.read().rsplit(b")", 1)[1].split()[7].decode()
    except OSError:
        faults = "?"
    now, cpu = time.monotonic_ns() / 1e6, time.process_time() * 1e3
    line = f"{os.getpid()} {now:.3f} {cpu:.2f} {label} faults={faults}\n"
    try:
        os.write(_fd, line.encode())
    except OSError:
        return  # (not contextlib: tracing must not add imports)
