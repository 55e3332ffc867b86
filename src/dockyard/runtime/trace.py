"""Per-phase timestamps for start-up profiling, on only when DOCKYARD_RUNC_TRACE names a file.

Each mark appends "<pid> <monotonic ms> <cpu ms of this process> <label> faults=<minor page
faults so far>" to that file, so
the parent, stage1 and the init of one `run` can be laid side by side. The file is opened
once (linux/tracefile.py) and kept for the forked children. Off, a mark costs one global
lookup.
"""

from __future__ import annotations

import os

from dockyard.linux.tracefile import open_trace, write_line

_fd = open_trace("DOCKYARD_RUNC_TRACE")


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
    write_line(_fd, f"{os.getpid()} {now:.3f} {cpu:.2f} {label} faults={faults}\n")
