"""Build the container's filesystem view: runs in the init, inside its new mount namespace.

Every target is resolved inside the root by dockyard.linux.paths and mounted through
/proc/self/fd/N of an O_PATH fd, so a symlink planted in the image can never redirect a
mount onto the host (runc CVE-2021-30465, CVE-2025-31133, CVE-2025-52565).
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat

from dockyard.linux import mounts as m
from dockyard.linux.paths import (
    PathEscapeError,
    is_dev_null,
    mkdirall_in_root,
    mkfile_in_root,
    open_in_root,
    proc_fd_path,
)
from dockyard.linux.suppress import suppress
from dockyard.runtime.config import Config, Device, Mount
from dockyard.runtime.errors import SetupError
from dockyard.runtime.mountopts import PROPAGATION, REMOUNT_FLAGS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

# (name, major, minor): the nodes a fresh /dev always gets (runtime-spec "Default Devices").
DEFAULT_DEVICES = (
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
)
DEV_SYMLINKS = (
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
)

_ST_TO_MS = (
    (os.ST_NOSUID, m.MS_NOSUID),
    (os.ST_NODEV, m.MS_NODEV),
    (os.ST_NOEXEC, m.MS_NOEXEC),
)
_O_PATH = os.O_PATH | os.O_CLOEXEC


def _locked_flags(fd: int) -> int:
    """nosuid/nodev/noexec already set: a remount in a user namespace must keep them."""
    f = os.statvfs(proc_fd_path(fd)).f_flag
    return sum(ms for st, ms in _ST_TO_MS if f & st)


def _err(what: str, e: OSError) -> SetupError:
    return SetupError(f"{what}: {e.strerror or e}")


class RootfsBuilder:
    def __init__(self, cfg: Config, *, in_userns: bool, new_cgroupns: bool) -> None:
        self.cfg = cfg
        self.in_userns = in_userns
        self.new_cgroupns = new_cgroupns
        self.root_fd = -1
        # Called before the first cgroup mount: the parent may still be placing us in our
        # cgroup (create overlaps that with this work).
        self.before_cgroup_mount: Callable[[], None] = lambda: None

    # -- before pivot_root -------------------------------------------------------------
    def prepare(self) -> None:
        cfg = self.cfg
        prop = PROPAGATION.get(cfg.rootfs_propagation, m.MS_SLAVE | m.MS_REC)
        try:
            # By default (rslave) nothing we mount propagates back to the host's mount table;
            # rootfsPropagation may ask otherwise, as in runc.
            m.mount(None, "/", None, prop, None)
        except OSError as e:
            raise _err("cannot set the propagation of /", e) from None
        if prop & m.MS_SHARED:
            # pivot_root refuses a new root on a shared parent mount; the bind below copies
            # the propagation of the mount it is taken from.
            _make_parent_mount_private(cfg.root)
        try:
            m.mount(cfg.root, cfg.root, None, m.MS_BIND | m.MS_REC, None)
        except OSError as e:
            raise _err(f"cannot bind the root {cfg.root}", e) from None
        self.root_fd = os.open(cfg.root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        for mnt in cfg.mounts:
            self._mount(mnt)
        dev_bound = any(x.destination == "/dev" and x.options.is_bind for x in cfg.mounts)
        if not dev_bound:
            self._default_devices()
        for dev in cfg.devices:
            self._device(dev)

    def _target(self, dest: str, is_dir: bool) -> int:
        try:
            if dest in ("/proc", "/sys"):
                return self._real_dir(dest)
            # Most targets exist already: one openat2(RESOLVE_IN_ROOT) instead of a walk.
            with suppress(FileNotFoundError, NotADirectoryError):
                fd = open_in_root(self.root_fd, dest, _O_PATH)
                if stat.S_ISDIR(os.fstat(fd).st_mode) == is_dir:
                    return fd
                os.close(fd)
            return (
                mkdirall_in_root(self.root_fd, dest)
                if is_dir
                else mkfile_in_root(self.root_fd, dest)
            )
        except PathEscapeError as e:
            raise SetupError(f"mount target {dest} escapes the root: {e}") from None
        except OSError as e:
            raise _err(f"cannot create mount target {dest}", e) from None

    def _real_dir(self, dest: str) -> int:
        """/proc and /sys must be plain directories, never symlinks (runc CVE-2019-19921)."""
        parent = mkdirall_in_root(self.root_fd, posixpath.dirname(dest))
        name = posixpath.basename(dest)
        try:
            try:
                st = os.stat(name, dir_fd=parent, follow_symlinks=False)
            except FileNotFoundError:
                os.mkdir(name, 0o555, dir_fd=parent)
                st = os.stat(name, dir_fd=parent, follow_symlinks=False)
            if not stat.S_ISDIR(st.st_mode):
                raise SetupError(
                    f"mount target {dest} must be a real directory, not a symlink or file"
                )
            return os.open(name, _O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY, dir_fd=parent)
        finally:
            os.close(parent)

    def _reopen(self, dest: str) -> int:
        # After mounting onto /proc/self/fd/N, N still names the covered directory: reopen.
        return open_in_root(self.root_fd, dest, _O_PATH)

    def _mount(self, mnt: Mount) -> None:
        if mnt.type == "cgroup" or mnt.type == "cgroup2":
            self._cgroup_mount(mnt)
            return
        opts = mnt.options
        if opts.is_bind:
            try:
                src_is_dir = stat.S_ISDIR(os.stat(mnt.source).st_mode)
            except OSError as e:
                raise _err(f"bind mount source {mnt.source}", e) from None
            fd = self._target(mnt.destination, src_is_dir)
            try:
                m.mount(
                    mnt.source, proc_fd_path(fd), None, opts.flags & (m.MS_BIND | m.MS_REC), None
                )
            except OSError as e:
                raise _err(f"cannot bind {mnt.source} on {mnt.destination}", e) from None
            finally:
                os.close(fd)
            extra = opts.flags & REMOUNT_FLAGS
            if extra:
                self._remount(mnt.destination, extra)
        else:
            fd = self._target(mnt.destination, True)
            try:
                self._fs_mount(mnt, fd)
            finally:
                os.close(fd)
        self._after_mount(mnt)

    def _fs_mount(self, mnt: Mount, fd: int) -> None:
        opts = mnt.options
        flags = opts.flags & ~(m.MS_BIND | m.MS_REC | m.MS_REMOUNT)
        try:
            m.mount(mnt.source or mnt.type, proc_fd_path(fd), mnt.type, flags, opts.data_str)
        except OSError as e:
            if mnt.type == "sysfs" and e.errno == errno.EPERM:
                # A user namespace without its own network namespace may not mount sysfs.
                m.mount("/sys", proc_fd_path(fd), None, m.MS_BIND | m.MS_REC, None)
                if flags & REMOUNT_FLAGS:
                    self._remount(mnt.destination, flags & REMOUNT_FLAGS)
                return
            raise _err(f"cannot mount {mnt.type} on {mnt.destination}", e) from None

    def _remount(self, dest: str, flags: int) -> None:
        fd = self._reopen(dest)
        try:
            self._remount_fd(fd, dest, flags)
        finally:
            os.close(fd)

    def _remount_fd(self, fd: int, dest: str, flags: int) -> None:
        try:
            base = m.MS_REMOUNT | m.MS_BIND | flags
            try:
                m.mount(None, proc_fd_path(fd), None, base, None)
            except OSError as e:
                if e.errno != errno.EPERM:
                    raise
                m.mount(None, proc_fd_path(fd), None, base | _locked_flags(fd), None)
        except OSError as e:
            raise _err(f"cannot remount {dest}", e) from None

    def _after_mount(self, mnt: Mount) -> None:
        opts = mnt.options
        if not opts.propagation and not (opts.rec_set or opts.rec_clear):
            return
        fd = self._reopen(mnt.destination)
        try:
            for p in opts.propagation:
                m.mount(None, proc_fd_path(fd), None, p, None)
            if opts.rec_set or opts.rec_clear:
                m.mount_setattr_recursive(fd, opts.rec_set, opts.rec_clear)
        except OSError as e:
            raise _err(f"cannot set propagation/attributes of {mnt.destination}", e) from None
        finally:
            os.close(fd)

    def _cgroup_mount(self, mnt: Mount) -> None:
        opts = mnt.options
        flags = opts.flags & ~(m.MS_BIND | m.MS_REC | m.MS_REMOUNT)
        self.before_cgroup_mount()
        hier = cgroup_hierarchies()
        fd = self._target(mnt.destination, True)
        try:
            if hier.v1:
                m.mount("tmpfs", proc_fd_path(fd), "tmpfs", flags & ~m.MS_RDONLY, "mode=755")
            elif self.new_cgroupns:
                m.mount("cgroup2", proc_fd_path(fd), "cgroup2", flags, None)
            else:
                m.mount(
                    hier.v2_host + hier.v2_path, proc_fd_path(fd), None, m.MS_BIND | m.MS_REC, None
                )
                if flags & REMOUNT_FLAGS:
                    self._remount(mnt.destination, flags & REMOUNT_FLAGS)
        except OSError as e:
            raise _err(f"cannot mount cgroups on {mnt.destination}", e) from None
        finally:
            os.close(fd)
        if not hier.v1:
            return
        # The tmpfs just mounted there is ours and empty: nothing in the image can have
        # planted a symlink in it, so its subdirectories are made and opened relative to it
        # (two syscalls each instead of a resolution from the root).
        base = self._reopen(mnt.destination)
        try:
            for name, options, host_mnt, path in hier.v1:
                self._cgroup_v1_mount(base, mnt.destination, name, options, host_mnt + path, flags)
        finally:
            os.close(base)
        if flags & m.MS_RDONLY:
            self._remount(mnt.destination, m.MS_RDONLY | (flags & REMOUNT_FLAGS))

    def _cgroup_v1_mount(
        self, base: int, dest: str, name: str, options: str, host_dir: str, flags: int
    ) -> None:
        sub = posixpath.join(dest, name)
        try:
            with suppress(FileExistsError):
                os.mkdir(name, 0o755, dir_fd=base)
            sfd = os.open(name, _O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY, dir_fd=base)
        except OSError as e:
            raise _err(f"cannot create mount target {sub}", e) from None
        try:
            if self.new_cgroupns and not self.in_userns:
                m.mount("cgroup", proc_fd_path(sfd), "cgroup", flags, options)
            else:
                m.mount(host_dir, proc_fd_path(sfd), None, m.MS_BIND | m.MS_REC, None)
                if flags & REMOUNT_FLAGS:
                    # Reopened: the fd taken before the bind names the covered directory.
                    mounted = os.open(name, _O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY, dir_fd=base)
                    try:
                        self._remount_fd(mounted, sub, flags & REMOUNT_FLAGS)
                    finally:
                        os.close(mounted)
        except OSError as e:
            raise _err(f"cannot mount cgroup {name} on {sub}", e) from None
        finally:
            os.close(sfd)
        for alias in name.split(","):
            if alias != name and "=" not in alias:
                with suppress(FileExistsError):
                    os.symlink(name, alias, dir_fd=base)

    def _default_devices(self) -> None:
        devfd = mkdirall_in_root(self.root_fd, "/dev")
        try:
            for name, major, minor in DEFAULT_DEVICES:
                self._mknod(devfd, f"/dev/{name}", name, stat.S_IFCHR, major, minor, 0o666, 0, 0)
            for name, target in DEV_SYMLINKS:
                _symlink(devfd, target, name)
            if os.path.exists("/proc/kcore"):
                _symlink(devfd, "/proc/kcore", "core")
            _symlink(devfd, "pts/ptmx", "ptmx", replace=True)
        except OSError as e:
            raise _err("cannot set up /dev", e) from None
        finally:
            os.close(devfd)

    def _device(self, dev: Device) -> None:
        kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}[
            dev.type
        ]
        parent = mkdirall_in_root(self.root_fd, posixpath.dirname(dev.path))
        try:
            self._mknod(
                parent,
                dev.path,
                posixpath.basename(dev.path),
                kind,
                dev.major,
                dev.minor,
                dev.mode,
                dev.uid,
                dev.gid,
            )
        except OSError as e:
            raise _err(f"cannot create device {dev.path}", e) from None
        finally:
            os.close(parent)

    def _mknod(
        self,
        parent: int,
        path: str,
        name: str,
        kind: int,
        major: int,
        minor: int,
        mode: int,
        uid: int,
        gid: int,
    ) -> None:
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                raise SetupError(f"device path {path} is a directory")
            os.unlink(name, dir_fd=parent)
        except FileNotFoundError:
            pass
        if self.in_userns and kind != stat.S_IFIFO:
            # mknod is not allowed in a user namespace: bind the host's node instead.
            host = f"/dev/{path.removeprefix('/dev/')}" if path.startswith("/dev/") else path
            fd = mkfile_in_root(self.root_fd, path)
            try:
                m.mount(host, proc_fd_path(fd), None, m.MS_BIND, None)
            finally:
                os.close(fd)
            return
        os.mknod(name, kind | (mode & 0o7777), os.makedev(major, minor), dir_fd=parent)
        fd = os.open(name, _O_PATH | os.O_NOFOLLOW, dir_fd=parent)
        try:
            os.chmod(proc_fd_path(fd), mode & 0o7777)
            os.chown(proc_fd_path(fd), uid, gid)
        finally:
            os.close(fd)

    # -- pivot ---------------------------------------------------------------------------
    def pivot(self, no_pivot: bool) -> None:
        root = self.cfg.root
        try:
            if no_pivot:
                os.chdir(root)
                m.mount(root, "/", None, m.MS_MOVE, None)
                os.chroot(".")
            else:
                old = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
                new = os.open(root, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
                try:
                    # pivot_root(".", ".") stacks the old root under the new one; then detach it.
                    os.fchdir(new)
                    m.pivot_root(".", ".")
                    os.fchdir(old)
                    m.mount(None, ".", None, m.MS_SLAVE | m.MS_REC, None)
                    m.umount2(".", m.MNT_DETACH)
                finally:
                    os.close(old)
                    os.close(new)
            os.chdir("/")
        except OSError as e:
            raise _err("cannot change into the root filesystem", e) from None
        os.close(self.root_fd)
        self.root_fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    # -- after pivot_root ----------------------------------------------------------------
    def finish(self) -> None:
        cfg = self.cfg
        for path in cfg.masked_paths:
            self._mask(path)
        for path in cfg.readonly_paths:
            self._readonly(path)
        if cfg.root_readonly:
            fd = os.open("/", _O_PATH | os.O_DIRECTORY)
            try:
                flags = m.MS_REMOUNT | m.MS_BIND | m.MS_RDONLY
                try:
                    m.mount(None, proc_fd_path(fd), None, flags, None)
                except PermissionError:
                    m.mount(None, proc_fd_path(fd), None, flags | _locked_flags(fd), None)
            except OSError as e:
                raise _err("cannot make the root read-only", e) from None
            finally:
                os.close(fd)

    def _open_existing(self, path: str) -> int | None:
        try:
            return open_in_root(self.root_fd, path, _O_PATH)
        except FileNotFoundError:
            return None
        except PathEscapeError as e:
            raise SetupError(f"path {path} escapes the root: {e}") from None
        except OSError as e:
            if e.errno == errno.ENOENT:
                return None
            raise _err(f"cannot open {path}", e) from None

    def _mask(self, path: str) -> None:
        fd = self._open_existing(path)
        if fd is None:
            return
        try:
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                m.mount("tmpfs", proc_fd_path(fd), "tmpfs", m.MS_RDONLY, None)
                return
            null = self._open_existing("/dev/null")
            if null is None or not is_dev_null(null):
                # Mounting anything else over a mask would expose it (runc CVE-2025-31133).
                if null is not None:
                    os.close(null)
                raise SetupError(f"cannot mask {path}: /dev/null is not the null device")
            try:
                m.mount(proc_fd_path(null), proc_fd_path(fd), None, m.MS_BIND, None)
            finally:
                os.close(null)
        except OSError as e:
            raise _err(f"cannot mask {path}", e) from None
        finally:
            os.close(fd)

    def _readonly(self, path: str) -> None:
        fd = self._open_existing(path)
        if fd is None:
            return
        try:
            m.mount(proc_fd_path(fd), proc_fd_path(fd), None, m.MS_BIND | m.MS_REC, None)
        except OSError as e:
            raise _err(f"cannot make {path} read-only", e) from None
        finally:
            os.close(fd)
        self._remount(path, m.MS_RDONLY | m.MS_REC)


def _make_parent_mount_private(root: str) -> None:
    """Make the mount that contains `root` (the bind of the root sits on it) private."""
    parent = os.path.dirname(root.rstrip("/")) or "/"
    best = "/"
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            inside = parent == point or parent.startswith(point.rstrip("/") + "/")
            if inside and len(point) > len(best):
                best = point
    try:
        m.mount(None, best, None, m.MS_PRIVATE, None)
    except OSError as e:
        raise _err(f"cannot make {best} private for pivot_root", e) from None


def _symlink(dirfd: int, target: str, name: str, replace: bool = False) -> None:
    if replace:
        with suppress(FileNotFoundError):
            os.unlink(name, dir_fd=dirfd)
    with suppress(FileExistsError):
        os.symlink(target, name, dir_fd=dirfd)


class _Hierarchies:
    def __init__(self) -> None:
        # (dir name, mount options, host mount point, cgroup path of this process)
        self.v1: list[tuple[str, str, str, str]] = []
        self.v2_host = "/sys/fs/cgroup"
        self.v2_path = "/"


_HIER_CACHE: list[_Hierarchies] = []


def cgroup_hierarchies() -> _Hierarchies:
    """This process's cgroup hierarchies and where the host mounts each (from /proc/self).

    Call it once before unsharing the cgroup namespace: inside it, paths read as "/".
    """
    if _HIER_CACHE:
        return _HIER_CACHE[0]
    out = _Hierarchies()
    _HIER_CACHE.append(out)
    mounts: dict[str, str] = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fstype, _src, superopts = ([*right.split(), "", "", ""])[:3]
            point = left.split()[4]
            if fstype == "cgroup":
                key = ",".join(
                    sorted(
                        o
                        for o in superopts.split(",")
                        if o not in ("rw", "ro")
                        and not o.startswith("release_agent")
                        and o
                        not in (
                            "clone_children",
                            "noprefix",
                            "xattr",
                            "nsdelegate",
                            "cpuset_v2_mode",
                        )
                    )
                )
                mounts.setdefault(key, point)
            elif fstype == "cgroup2":
                mounts.setdefault("", point)
    with open("/proc/self/cgroup") as f:
        for line in f:
            _hid, ctrls, path = line.rstrip("\n").split(":", 2)
            if not ctrls:
                out.v2_path = path
                out.v2_host = mounts.get("", "/sys/fs/cgroup")
                continue
            key = ",".join(sorted(ctrls.split(",")))
            host = mounts.get(key)
            if host is None:
                continue
            name = ctrls.removeprefix("name=")
            opts = ctrls if not ctrls.startswith("name=") else f"none,{ctrls}"
            out.v1.append((name, opts, host, path))
    return out
