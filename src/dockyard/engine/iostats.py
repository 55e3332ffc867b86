"""A container's network and block I/O counters, in the shapes of Docker 20.10's stats.

Networks: Docker reports the interfaces its network driver gave the container (eth0 and so
on, never lo), read in the container's network namespace, and no ``networks`` key at all for
``--network none`` or ``host``; we read /proc/<init pid>/net/dev and report every interface
but lo, and nothing when the container shares the host's namespace. Block I/O: the cgroup's
counters as Docker gets them from containerd: on cgroup v1 the throttle files (the only ones
a kernel without CFQ fills) and every other list empty; on v2 io.stat's read and write bytes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

# /proc/net/dev columns: 8 receive counters, then 8 transmit counters.
_RX = {"rx_bytes": 0, "rx_packets": 1, "rx_errors": 2, "rx_dropped": 3}
_TX = {"tx_bytes": 8, "tx_packets": 9, "tx_errors": 10, "tx_dropped": 11}

BLKIO_KEYS = (
    "io_service_bytes_recursive",
    "io_serviced_recursive",
    "io_queue_recursive",
    "io_service_time_recursive",
    "io_wait_time_recursive",
    "io_merged_recursive",
    "io_time_recursive",
    "sectors_recursive",
)


def parse_net_dev(text: str) -> dict[str, dict[str, int]]:
    """Interface -> Docker's NetworkStats counters, from /proc/net/dev; lo left out (pure)."""
    out: dict[str, dict[str, int]] = {}
    for line in text.splitlines():
        name, sep, rest = line.partition(":")
        if not sep or "|" in line:
            continue  # the two header lines
        name = name.strip()
        fields = rest.split()
        if name == "lo" or len(fields) < 16 or not all(f.isdigit() for f in fields):
            continue
        counters = {k: int(fields[i]) for k, i in _RX.items()}
        counters.update({k: int(fields[i]) for k, i in _TX.items()})
        out[name] = counters
    return out


def parse_blkio_v1(text: str) -> list[dict[str, Any]]:
    """Entries of a v1 blkio file ("MAJ:MIN Op value" lines; the closing "Total N" and
    any malformed line skipped), as Docker's BlkioStatEntry (pure)."""
    out: list[dict[str, Any]] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3 or not parts[2].isdigit():
            continue
        major, sep, minor = parts[0].partition(":")
        if not sep or not major.isdigit() or not minor.isdigit():
            continue
        out.append(
            {"major": int(major), "minor": int(minor), "op": parts[1], "value": int(parts[2])}
        )
    return out


def parse_io_stat(text: str) -> list[dict[str, Any]]:
    """io_service_bytes_recursive from v2 io.stat ("MAJ:MIN rbytes=N wbytes=N …"): a "read"
    and a "write" entry per device, as Docker 20.10 makes them (pure)."""
    out: list[dict[str, Any]] = []
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        major, sep, minor = parts[0].partition(":")
        if not sep or not major.isdigit() or not minor.isdigit():
            continue
        kv = dict(p.partition("=")[::2] for p in parts[1:])
        for op, key in (("read", "rbytes"), ("write", "wbytes")):
            value = kv.get(key, "0")
            out.append(
                {
                    "major": int(major),
                    "minor": int(minor),
                    "op": op,
                    "value": int(value) if value.isdigit() else 0,
                }
            )
    return out


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _throttle(blkio_dir: Path, name: str) -> list[dict[str, Any]]:
    # The _recursive files came with kernel 4.x; a leaf cgroup's plain file is the same.
    path = blkio_dir / f"blkio.throttle.{name}_recursive"
    if not path.exists():
        path = blkio_dir / f"blkio.throttle.{name}"
    return parse_blkio_v1(_read(path))


def blkio_v1(blkio_dir: Path) -> dict[str, Any]:
    stats: dict[str, Any] = {k: [] for k in BLKIO_KEYS}
    stats["io_service_bytes_recursive"] = _throttle(blkio_dir, "io_service_bytes")
    stats["io_serviced_recursive"] = _throttle(blkio_dir, "io_serviced")
    return stats


def blkio_v2(cgroup_dir: Path) -> dict[str, Any]:
    stats: dict[str, Any] = dict.fromkeys(BLKIO_KEYS)
    stats["io_service_bytes_recursive"] = parse_io_stat(_read(cgroup_dir / "io.stat"))
    return stats


def _same_netns(pid: int) -> bool:
    try:
        mine = os.stat("/proc/self/ns/net")
        theirs = os.stat(f"/proc/{pid}/ns/net")
    except OSError:
        return True  # cannot tell: report nothing rather than the host's interfaces
    return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)


def networks(pid: int) -> dict[str, dict[str, int]]:
    """The container's interfaces (empty with the host's namespace or only lo)."""
    if _same_netns(pid):
        return {}
    return parse_net_dev(_read(Path(f"/proc/{pid}/net/dev")))
