"""Per-phase timestamps of the daemon and its monitors, on only when DOCKYARD_TRACE names a file.

Each mark appends "<pid> <monotonic ms> <label>" to that file (the same clock and layout as
dockyard-runc's DOCKYARD_RUNC_TRACE, so both can point at one file and be read side by side).
Monitors inherit the setting through the environment of their launcher, which is long-lived:
stop a launcher started without it (its pid is in EXEC_ROOT/monitors/monitor-launcher.lock)
to trace monitors too. DOCKYARD_TRACE_MEMORY=1 adds each process's private dirty memory.
Off, a mark costs one global lookup.

    DOCKYARD_TRACE=/tmp/t DOCKYARD_RUNC_TRACE=/tmp/t dockyardd ...; dockyard run --rm busybox true
"""

from __future__ import annotations

import os
import time

from dockyard.linux.tracefile import open_trace, write_line

_fd = open_trace("DOCKYARD_TRACE")


def fd() -> int:
    """The trace file's descriptor (-1 when off), for forks that close all others."""
    return _fd


def enabled() -> bool:
    return _fd >= 0


def mark(label: str) -> None:
    if _fd < 0:
        return
    write_line(_fd, f"{os.getpid()} {time.monotonic_ns() / 1e6:.3f} {label}{_dirty()}\n")


def _dirty() -> str:
    if not os.environ.get("DOCKYARD_TRACE_MEMORY"):
        return ""
    try:
        with open("/proc/self/smaps_rollup") as f:
            for line in f:
                if line.startswith("Private_Dirty:"):
                    return f" [private dirty {line.split()[1]} kB]"
    except OSError:
        pass
    return ""
