"""Snapshots: the trees containers and layers live in, handed out as mounts (data)."""

from __future__ import annotations

import os
from pathlib import Path

from dockyard.store.snapshots.base import Snapshotter
from dockyard.store.snapshots.copy import CopySnapshotter
from dockyard.store.snapshots.errors import (
    SnapshotError,
    SnapshotExists,
    SnapshotInUse,
    SnapshotNotFound,
)
from dockyard.store.snapshots.mount import Mount
from dockyard.store.snapshots.overlay import OverlaySnapshotter, overlay_supported
from dockyard.store.snapshots.state import Info


def default_snapshotter(root: Path) -> Snapshotter:
    """Overlay where the kernel lets us use it on ``root``, else the copy fallback.

    The choice is remembered in ``root/driver`` so a root keeps its driver.
    """
    root = Path(root)
    marker = root / "driver"
    try:
        driver = marker.read_text().strip()
    except FileNotFoundError:
        driver = "overlayfs" if overlay_supported(root / "overlayfs") else "copy"
        root.mkdir(parents=True, exist_ok=True)
        tmp = root / f".driver.{os.getpid()}.tmp"
        tmp.write_text(driver + "\n")
        os.replace(tmp, marker)  # never a half-written choice
    if driver == "overlayfs":
        return OverlaySnapshotter(root / "overlayfs")
    return CopySnapshotter(root / "copy")


__all__ = [
    "CopySnapshotter",
    "Info",
    "Mount",
    "OverlaySnapshotter",
    "SnapshotError",
    "SnapshotExists",
    "SnapshotInUse",
    "SnapshotNotFound",
    "Snapshotter",
    "default_snapshotter",
    "overlay_supported",
]
