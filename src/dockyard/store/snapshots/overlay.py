"""The overlayfs snapshotter: one directory per layer, stacked by the kernel.

A committed snapshot is one layer's tree; an active snapshot adds an upper and
a work dir on top of its parent chain. Lower dirs are named through short
links (``l/<base36 id>``) so that the mount option string, which the kernel
caps at one page, holds deep images; when even that is too long (a long root
path and ~100 layers), a symlink at a short fixed place (``/run/dyl/<hash>``)
stands for ``l/``: 128 layers then take about 2.5 KiB.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

from dockyard.store.snapshots.base import Snapshotter
from dockyard.store.snapshots.errors import SnapshotError
from dockyard.store.snapshots.mount import Mount
from dockyard.store.snapshots.state import ACTIVE, VIEW, Info, State

if TYPE_CHECKING:
    from dockyard.store.layers import LayerDigests

# mount(2) copies at most one page of option data, NUL included.
MAX_MOUNT_DATA = os.sysconf("SC_PAGESIZE") - 1
DEFAULT_ALIAS_DIR = Path("/run/dyl")
# Options that keep the upper dir a plain diff of the lowers (what write_diff reads):
# no index, no redirects of renamed dirs, no metadata-only copy-ups.
BASE_OPTIONS = ("index=off", "redirect_dir=off", "metacopy=off")


def link_name(sid: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        sid, r = divmod(sid, 36)
        out = digits[r] + out
        if not sid:
            return out


class OverlaySnapshotter(Snapshotter):
    driver = "overlayfs"

    def __init__(self, root: Path, *, alias_dir: Path = DEFAULT_ALIAS_DIR) -> None:
        self.links_dir = Path(root) / "l"
        self.links_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.alias_dir = alias_dir
        super().__init__(root)

    def _populate(self, st: State, sid: int, parent: Info | None, kind: str) -> None:
        d = self.snapshot_dir(sid)
        d.mkdir(mode=0o700)
        if kind == VIEW:
            return  # a view has no tree of its own
        (d / "fs").mkdir(mode=0o755)
        if kind == ACTIVE and parent is not None:
            (d / "work").mkdir(mode=0o700)
        link = self.links_dir / link_name(sid)
        link.unlink(missing_ok=True)
        link.symlink_to(f"../snapshots/{sid}/fs")

    def whiteout_format(self, key: str) -> Literal["oci", "overlay"]:
        """Overlay whiteouts on top of a parent; none in a bottom layer.

        A 0:0 device in the lowest lower dir hides nothing but still shows in
        readdir (and then fails to open), so a parentless snapshot gets the OCI
        rules, which there simply delete nothing.
        """
        return "overlay" if self.parent(key) is not None else "oci"

    def lower_dirs(self, key: str) -> list[Path]:
        """The trees under snapshot ``key``, nearest first."""
        st = self.state.read()
        info = self._get(st, key)
        return [self.fs_dir(p.id) for p in st.chain(info.parent)] if info.parent else []

    def changes(self, key: str, hidden: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
        from dockyard.store.layers import changes

        return changes(self.upper_dir(key), self.lower_dirs(key), hidden)

    def diff(
        self,
        key: str,
        out: BinaryIO,
        *,
        source_date_epoch: int | None = None,
        hidden: frozenset[str] = frozenset(),
    ) -> LayerDigests:
        """The upper dir as a layer: overlay whiteouts become OCI ones."""
        from dockyard.store.layers import write_diff

        return write_diff(
            self.upper_dir(key), out, source_date_epoch=source_date_epoch, hidden=hidden
        )

    def _committed(self, sid: int) -> None:
        shutil.rmtree(self.snapshot_dir(sid) / "work", ignore_errors=True)

    def _forget_dir(self, sid: int) -> None:
        (self.links_dir / link_name(sid)).unlink(missing_ok=True)

    def _swept(self, st: State) -> None:
        known = {link_name(i.id) for i in st.snapshots.values()}
        for entry in os.scandir(self.links_dir):
            if entry.name not in known:
                os.unlink(entry.path)

    def _mounts(self, st: State, info: Info) -> list[Mount]:
        lowers = [p.id for p in st.chain(info.parent)] if info.parent else []
        if info.kind == VIEW:
            if not lowers:
                raise SnapshotError(f"view {info.name!r} has no parent to show")
            if len(lowers) == 1:
                return [Mount("bind", str(self.fs_dir(lowers[0])), "", ["ro", "rbind"])]
            return [self._overlay(lowers, None)]
        if not lowers:
            return [Mount("bind", str(self.fs_dir(info.id)), "", ["rw", "rbind"])]
        return [self._overlay(lowers, info.id)]

    def _overlay(self, lowers: list[int], upper: int | None) -> Mount:
        opts = list(BASE_OPTIONS)
        if upper is not None:
            opts.append(f"upperdir={self.fs_dir(upper)}")
            opts.append(f"workdir={self.snapshot_dir(upper) / 'work'}")
        for links in (str(self.links_dir), None):
            if links is None:
                links = self._alias()
            lowerdir = "lowerdir=" + ":".join(f"{links}/{link_name(i)}" for i in lowers)
            if len(lowerdir) + sum(len(o) + 1 for o in opts) <= MAX_MOUNT_DATA:
                # lowerdir before upperdir/workdir, as mount(8) users expect to read it.
                return Mount("overlay", "overlay", "", [*opts[:3], lowerdir, *opts[3:]])
        raise SnapshotError(
            f"too many layers ({len(lowers)}) for one overlay mount's option string"
        )

    def _alias(self) -> str:
        """A short path that stands for ``l/``: a symlink under ``alias_dir``."""
        target = str(self.links_dir.resolve())
        alias = self.alias_dir / hashlib.sha256(os.fsencode(target)).hexdigest()[:6]
        try:
            if os.readlink(alias) == target:
                return str(alias)
        except OSError:
            pass
        try:
            self.alias_dir.mkdir(parents=True, exist_ok=True, mode=0o711)
            tmp = self.alias_dir / f".{alias.name}.{os.getpid()}"
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(target)
            os.replace(tmp, alias)
        except OSError as e:
            raise SnapshotError(
                f"cannot make the short overlay path {alias} for a deep image: {e.strerror}"
            ) from e
        return str(alias)


def overlay_supported(root: Path) -> bool:
    """Whether an overlay mount with an upper dir works on ``root``'s filesystem."""
    if os.geteuid() != 0:
        return False
    try:
        with open("/proc/filesystems") as f:
            if "overlay" not in f.read():
                return False
    except OSError:
        return False
    from dockyard.linux.mounts import MNT_DETACH, mount, umount2

    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".probe-") as tmp:
        for d in ("lower", "upper", "work", "merged"):
            os.mkdir(os.path.join(tmp, d))
        data = f"lowerdir={tmp}/lower,upperdir={tmp}/upper,workdir={tmp}/work"
        try:
            mount("overlay", f"{tmp}/merged", "overlay", 0, data)
        except OSError as e:
            if e.errno in (errno.EINVAL, errno.ENODEV, errno.EPERM, errno.ENOTSUP):
                return False
            raise
        umount2(f"{tmp}/merged", MNT_DETACH)
    return True
