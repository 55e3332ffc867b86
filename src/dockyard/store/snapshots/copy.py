"""The copy snapshotter: every snapshot is a full tree, made by copying its parent.

The fallback where overlayfs cannot be used (no root, a filesystem overlay does
not accept as upper). Costly in space and time, but needs nothing from the kernel.
"""

from __future__ import annotations

import shutil
import subprocess

from dockyard.store.snapshots.base import Snapshotter
from dockyard.store.snapshots.errors import SnapshotError
from dockyard.store.snapshots.mount import Mount
from dockyard.store.snapshots.state import VIEW, Info, State

_SETPRIV = shutil.which("setpriv")


class CopySnapshotter(Snapshotter):
    driver = "copy"

    def _populate(self, st: State, sid: int, parent: Info | None, kind: str) -> None:
        d = self.snapshot_dir(sid)
        d.mkdir(mode=0o700)
        fs = d / "fs"
        if kind == VIEW:
            return  # read-only: the parent's own tree is bound, nothing is copied
        if parent is None:
            fs.mkdir(mode=0o755)
            return
        # GNU cp keeps everything a layer can hold: owners, modes, times, xattrs
        # (capabilities), hardlinks, devices; reflinks where the filesystem can.
        cmd = ["cp", "-a", "--reflink=auto", "--", str(self.fs_dir(parent.id)), str(fs)]
        if _SETPRIV:
            # If we are killed mid-copy, cp dies with us rather than racing the sweep.
            cmd = [_SETPRIV, "--pdeathsig", "KILL", "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SnapshotError(f"cannot copy snapshot: {proc.stderr.strip()[:300]}")

    def _mounts(self, st: State, info: Info) -> list[Mount]:
        if info.kind == VIEW:
            if info.parent is None:
                raise SnapshotError(f"view {info.name!r} has no parent to show")
            parent = self._get(st, info.parent)
            return [Mount("bind", str(self.fs_dir(parent.id)), "", ["ro", "rbind"])]
        return [Mount("bind", str(self.fs_dir(info.id)), "", ["rw", "rbind"])]
