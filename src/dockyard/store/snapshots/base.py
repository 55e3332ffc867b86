"""What every snapshotter shares: keys, parents, the state file, the sweep of leftovers.

Layout under ``root``: ``state.json`` and ``snapshots/<id>/`` (``fs`` is the
snapshot's own tree; overlay adds ``work``). A snapshot directory is created
before the state names it and deleted after the state forgets it, so a crash
at any point leaves at worst an unnamed directory, swept when the snapshotter
is next opened.
"""

from __future__ import annotations

import builtins
import os
import shutil
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

from dockyard.linux.fsflags import spread_subdirs
from dockyard.store.snapshots.errors import (
    SnapshotError,
    SnapshotExists,
    SnapshotInUse,
    SnapshotNotFound,
)
from dockyard.store.snapshots.mount import Mount
from dockyard.store.snapshots.state import ACTIVE, COMMITTED, VIEW, Info, State, StateFile

if TYPE_CHECKING:
    from dockyard.store.layers import AppliedLayer, LayerDigests


class Snapshotter:
    """Snapshots named by key (active, view) or by name (committed: chain ids)."""

    driver = ""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.snapshots_dir = self.root / "snapshots"
        self.snapshots_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Each snapshot's tree away from the inodes the last removal freed (see linux/fsflags.py).
        spread_subdirs(self.snapshots_dir)
        os.chmod(self.root, 0o700)
        self.state = StateFile(self.root / "state.json")
        self._sweep()

    # --- the interface ------------------------------------------------------------------

    def prepare(self, key: str, parent: str | None = None) -> list[Mount]:
        """A new writable snapshot on top of committed ``parent``; its mounts."""
        return self._create_mounted(key, parent, ACTIVE)

    def view(self, key: str, parent: str | None = None) -> list[Mount]:
        """A new read-only snapshot of committed ``parent``; its mounts."""
        return self._create_mounted(key, parent, VIEW)

    def _create_mounted(self, key: str, parent: str | None, kind: str) -> builtins.list[Mount]:
        self._create(key, parent, kind)
        try:
            return self.mounts(key)
        except SnapshotError:
            self.remove(key)  # a snapshot nobody can mount (too deep) is not kept
            raise

    def commit(self, name: str, key: str) -> None:
        """Freeze active snapshot ``key`` as ``name``, which can then be a parent."""
        with self.state.edit() as st:
            info = self._get(st, key)
            if info.kind != ACTIVE:
                raise SnapshotInUse(f"snapshot {key!r} is not active ({info.kind})")
            if name in st.snapshots:
                raise SnapshotExists(name)
            del st.snapshots[key]
            st.snapshots[name] = Info(name, COMMITTED, info.parent, info.id, time.time())
        self._committed(info.id)

    def remove(self, key: str) -> None:
        """Remove a snapshot that no other snapshot is built on."""
        with self.state.edit() as st:
            info = self._get(st, key)
            children = st.children(key)
            if children:
                raise SnapshotInUse(
                    f"snapshot {key!r} is the parent of {len(children)} other snapshot(s)"
                )
            del st.snapshots[key]
        self._delete_dir(info.id)

    def mounts(self, key: str) -> list[Mount]:
        st = self.state.read()
        info = self._get(st, key)
        if info.kind == COMMITTED:
            raise SnapshotInUse(f"snapshot {key!r} is committed: prepare or view it instead")
        return self._mounts(st, info)

    def upper_dir(self, key: str) -> Path:
        """The snapshot's own writable tree (an overlay upper dir, or a full copy)."""
        return self.fs_dir(self._get(self.state.read(), key).id)

    def apply_dir(self, key: str) -> Path:
        """Where to apply a layer for active snapshot ``key``."""
        return self.upper_dir(key)

    def whiteout_format(self, key: str) -> Literal["oci", "overlay"]:
        """How to apply a layer into ``apply_dir(key)`` (``apply_layer(whiteout_format=)``)."""
        return "oci"

    def lower_dirs(self, key: str) -> builtins.list[Path]:
        """The trees stacked under ``key`` by the kernel, nearest first (none for copies)."""
        return []

    def apply_layer(
        self, key: str, stream: BinaryIO, *, max_size: int | None = None
    ) -> AppliedLayer:
        """Apply a layer tar into active snapshot ``key`` the way this driver needs it."""
        from dockyard.store.layers import apply_layer

        fmt = self.whiteout_format(key)
        return apply_layer(
            stream,
            self.apply_dir(key),
            max_size=max_size,
            whiteout_format=fmt,
            lower_dirs=self.lower_dirs(key) if fmt == "overlay" else None,
        )

    def parent(self, name: str) -> str | None:
        return self._get(self.state.read(), name).parent

    def exists(self, name: str) -> bool:
        return name in self.state.read().snapshots

    def info(self, name: str) -> Info:
        return self._get(self.state.read(), name)

    def list(self) -> list[Info]:
        return sorted(self.state.read().snapshots.values(), key=lambda i: i.name)

    def usage(self, name: str) -> int:
        """Bytes used by the snapshot's own tree (hardlinked inodes counted once)."""
        return _disk_usage(self.fs_dir(self._get(self.state.read(), name).id))

    def changes(
        self, key: str, hidden: frozenset[str] = frozenset()
    ) -> builtins.list[tuple[str, str]]:
        """Docker's ``diff`` of a snapshot against its parent: ("A"|"C"|"D", "/path"),
        without the paths in ``hidden`` (relative: "etc/hosts")."""
        from dockyard.store.layers import tree_changes

        st = self.state.read()
        info = self._get(st, key)
        lower = self._empty_dir() if info.parent is None else self._parent_dir(st, info)
        return tree_changes(lower, self.fs_dir(info.id), hidden)

    def diff(
        self,
        key: str,
        out: BinaryIO,
        *,
        source_date_epoch: int | None = None,
        hidden: frozenset[str] = frozenset(),
    ) -> LayerDigests:
        """Write the layer tar of a snapshot's changes against its parent to ``out``,
        without the paths in ``hidden``."""
        from dockyard.store.layers import write_tree_diff

        st = self.state.read()
        info = self._get(st, key)
        lower = self._empty_dir() if info.parent is None else self._parent_dir(st, info)
        return write_tree_diff(
            lower, self.fs_dir(info.id), out, source_date_epoch=source_date_epoch, hidden=hidden
        )

    def _parent_dir(self, st: State, info: Info) -> Path:
        assert info.parent is not None
        return self.fs_dir(self._get(st, info.parent).id)

    def _empty_dir(self) -> Path:
        empty = self.root / "empty"
        empty.mkdir(mode=0o755, exist_ok=True)
        return empty

    # --- for the drivers ----------------------------------------------------------------

    def snapshot_dir(self, sid: int) -> Path:
        return self.snapshots_dir / str(sid)

    def fs_dir(self, sid: int) -> Path:
        return self.snapshot_dir(sid) / "fs"

    def _populate(self, st: State, sid: int, parent: Info | None, kind: str) -> None:
        """Make the directories of new snapshot ``sid`` (its state entry comes after)."""
        raise NotImplementedError

    def _mounts(self, st: State, info: Info) -> builtins.list[Mount]:
        raise NotImplementedError

    def _committed(self, sid: int) -> None:
        """Hook after a commit (overlay drops its work dir)."""

    def _forget_dir(self, sid: int) -> None:
        """Hook before a snapshot dir is deleted (overlay drops its link)."""

    # --- internals ----------------------------------------------------------------------

    @staticmethod
    def _get(st: State, key: str) -> Info:
        info = st.snapshots.get(key)
        if info is None:
            raise SnapshotNotFound(key)
        return info

    def _create(self, key: str, parent: str | None, kind: str) -> None:
        if not key:
            raise SnapshotError("snapshot key must not be empty")
        if kind == VIEW and parent is None:
            raise SnapshotError(f"view {key!r} needs a parent snapshot")
        with self.state.edit() as st:
            if key in st.snapshots:
                raise SnapshotExists(key)
            pinfo = None
            if parent is not None:
                pinfo = self._get(st, parent)
                if pinfo.kind != COMMITTED:
                    raise SnapshotInUse(f"parent snapshot {parent!r} is not committed")
            sid = st.next_id
            st.next_id += 1
            try:
                self._populate(st, sid, pinfo, kind)
            except BaseException:
                self._delete_dir(sid)
                raise
            st.snapshots[key] = Info(key, kind, parent, sid, time.time())

    def _delete_dir(self, sid: int) -> None:
        self._forget_dir(sid)
        # Errors are left for the next sweep: the state no longer names this dir.
        shutil.rmtree(self.snapshot_dir(sid), ignore_errors=True)

    def _sweep(self) -> None:
        """Delete snapshot dirs no state entry names (a crash between the two steps)."""
        with self.state.edit() as st:
            known = {str(i.id) for i in st.snapshots.values()}
            for entry in os.scandir(self.snapshots_dir):
                if entry.name in known:
                    continue
                if entry.name.isdigit():
                    self._delete_dir(int(entry.name))
                else:
                    shutil.rmtree(entry.path, ignore_errors=True)
            for leftover in self.root.glob(".state.json.*.tmp"):
                leftover.unlink(missing_ok=True)  # a write cut short before its rename
            self._swept(st)

    def _swept(self, st: State) -> None:
        """Hook: driver-specific leftovers."""


def _disk_usage(path: Path) -> int:
    seen: set[tuple[int, int]] = set()
    total = 0
    stack = [str(path)]
    while stack:
        with os.scandir(stack.pop()) as it:
            for e in it:
                st = e.stat(follow_symlinks=False)
                if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
                    key = (st.st_dev, st.st_ino)
                    if key in seen:
                        continue
                    seen.add(key)
                total += st.st_blocks * 512
                if stat.S_ISDIR(st.st_mode):
                    stack.append(e.path)
    return total
