"""Resolve paths inside a container root without ever following a symlink out of it.

Every lookup behaves as if the process had chroot()ed into the root: an absolute
symlink is relative to the root and ``..`` stops at the root. This is what keeps
mount targets, ``/dev`` set-up and masking inside the container (runc
CVE-2021-30465, CVE-2025-31133, CVE-2025-52565).

The kernel does it for us with openat2(RESOLVE_IN_ROOT). Where openat2 is missing
(old kernels, seccomp profiles of an outer container that answer ENOSYS/EPERM) a
component-by-component walk does the same with O_PATH|O_NOFOLLOW opens relative to
already-verified directory fds, expanding symlinks itself. Setting the environment
variable ``DOCKYARD_NO_OPENAT2=1`` (or calling ``use_openat2(False)``) forces the walk.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat

from dockyard.linux.libc import libc
from dockyard.linux.suppress import suppress

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections import deque
else:
    from _collections import deque  # the C type itself: `collections` costs a millisecond

__all__ = [
    "MAX_SYMLINKS",
    "PathEscapeError",
    "is_dev_null",
    "is_real_dir",
    "mkdirall_in_root",
    "mkfile_in_root",
    "open_in_root",
    "proc_fd_path",
    "same_file",
    "use_openat2",
]

MAX_SYMLINKS = 40  # the kernel's own limit (MAXSYMLINKS)

# openat2 is 437 in the generic syscall table too, so x86_64 and aarch64 agree.
_SYS_OPENAT2 = 437
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_IN_ROOT = 0x10
# A rename racing with ".." makes openat2 answer EAGAIN; a few retries settle it.
_OPENAT2_RETRIES = 16

# A private function object (libc["name"] makes a new one), so that argtypes set
# elsewhere on the shared handle never change how openat2 is called.
_openat2_fn = libc["syscall"]
_openat2_fn.restype = ctypes.c_long
_openat2_fn.argtypes = [
    ctypes.c_long, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t,
]  # fmt: skip

_O_PATH_LOOKUP = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_O_CREAT_EXCL = os.O_CREAT | os.O_EXCL


class PathEscapeError(OSError):
    """A path resolved (or tried to resolve) outside the container root."""


class _OpenHow(ctypes.Structure):
    _fields_ = (
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    )


# None: not yet known; False: the kernel (or a seccomp filter) refused it once.
_openat2_state: bool | None = None


def use_openat2(enabled: bool | None) -> None:
    """Force (True), forbid (False) or auto-detect (None) openat2; tests use it."""
    global _openat2_state
    _openat2_state = enabled


def _openat2_enabled() -> bool:
    if os.environ.get("DOCKYARD_NO_OPENAT2", "") not in ("", "0"):
        return False
    return _openat2_state is not False


def proc_fd_path(fd: int) -> str:
    """The magic-link path that names an open fd."""
    return f"/proc/self/fd/{fd}"


def _os_error(err: int, what: str, path: str) -> OSError:
    cls = PathEscapeError if err == errno.EXDEV else OSError
    return cls(err, f"{what} {path!r}: {os.strerror(err)}", path)


def _takes_mode(flags: int) -> bool:
    # O_TMPFILE includes the O_DIRECTORY bit: test all of its bits, not any.
    return bool(flags & os.O_CREAT) or flags & os.O_TMPFILE == os.O_TMPFILE


def _openat2(root_fd: int, path: str, flags: int, mode: int) -> int | None:
    """Open with openat2; None when openat2 itself is unavailable."""
    global _openat2_state
    how = _OpenHow(
        flags,
        mode if _takes_mode(flags) else 0,
        _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS,
    )
    raw = os.fsencode(path or ".")  # openat2 (like openat) refuses an empty path
    for _ in range(_OPENAT2_RETRIES):
        ret = int(
            _openat2_fn(_SYS_OPENAT2, root_fd, raw, ctypes.addressof(how), ctypes.sizeof(how))
        )
        if ret >= 0:
            _openat2_state = True
            return ret
        err = ctypes.get_errno()
        if err == errno.EAGAIN:
            continue
        if err in (errno.ENOSYS, errno.EPERM) and _openat2_state is None:
            # ENOSYS: old kernel; EPERM: an outer seccomp profile that denies it.
            _openat2_state = False
            return None
        raise _os_error(err, "open in root", path)
    raise _os_error(errno.EAGAIN, "open in root", path)


_SLASH = ""  # marks a trailing slash: the name before it must be a directory


def _split(path: str) -> list[str]:
    """Path components, keeping "." ones and a trailing-slash marker: "file/." and
    "file/" must fail with ENOTDIR as open(2) does, so "file" is not the last one."""
    parts = [c for c in path.split("/") if c]
    if parts and path.endswith("/"):
        parts.append(_SLASH)
    return parts


class _Walker:
    """A stack of verified O_PATH directory fds, the bottom one being the root.

    ``..`` pops the stack, so it can never climb above the root, whatever the
    directory tree looks like.
    """

    def __init__(self, root_fd: int, path: str) -> None:
        self.path = path
        self.stack = [os.dup(root_fd)]
        self.links = 0

    def close(self) -> None:
        for fd in self.stack:
            os.close(fd)
        self.stack.clear()

    @property
    def cur(self) -> int:
        return self.stack[-1]

    def up(self) -> None:
        if len(self.stack) > 1:
            os.close(self.stack.pop())

    def follow(self, link_fd: int, todo: deque[str]) -> None:
        """Queue the target of a symlink (an O_PATH|O_NOFOLLOW fd) for resolution."""
        self.links += 1
        if self.links > MAX_SYMLINKS:
            raise _os_error(errno.ELOOP, "too many symlinks resolving", self.path)
        # readlinkat(fd, "") reads the very link we looked at: no swap in between.
        target = os.readlink("", dir_fd=link_fd)
        if target.startswith("/"):
            while len(self.stack) > 1:
                os.close(self.stack.pop())
        todo.extendleft(reversed(_split(target)))

    def lookup(self, name: str) -> tuple[int, os.stat_result] | None:
        """O_PATH|O_NOFOLLOW open of one component; None if it does not exist."""
        try:
            fd = os.open(name, _O_PATH_LOOKUP, dir_fd=self.cur)
        except FileNotFoundError:
            return None
        return fd, os.fstat(fd)


def _walk(root_fd: int, path: str, flags: int, mode: int, *, mkdir: bool = False) -> int:
    """Resolve ``path`` under ``root_fd`` by hand; with ``mkdir``, create missing dirs."""
    w = _Walker(root_fd, path)
    todo: deque[str] = deque(_split(path))
    try:
        while todo:
            name = todo.popleft()
            if name in (".", _SLASH):
                continue  # the stack holds only directories: nothing to check
            if name == "..":
                w.up()
                continue
            if flags & os.O_CREAT and list(todo) == [_SLASH]:
                # open(2) refuses O_CREAT of "name/" before even looking it up.
                raise _os_error(errno.EISDIR, "open in root", path)
            last = not todo
            found = w.lookup(name)
            if found is None:
                if mkdir:
                    # Made by someone else meanwhile: just look again.
                    with suppress(FileExistsError):
                        os.mkdir(name, mode, dir_fd=w.cur)
                    todo.appendleft(name)
                    continue
                if last and flags & os.O_CREAT:
                    # One component relative to a verified dir, never following a link.
                    return os.open(name, flags | os.O_NOFOLLOW, mode, dir_fd=w.cur)
                raise _os_error(errno.ENOENT, "open in root", path)
            fd, st = found
            # O_CREAT|O_EXCL never follows a trailing symlink, like O_NOFOLLOW.
            nofollow = flags & os.O_NOFOLLOW or flags & _O_CREAT_EXCL == _O_CREAT_EXCL
            if stat.S_ISLNK(st.st_mode) and not (last and nofollow):
                try:
                    w.follow(fd, todo)
                finally:
                    os.close(fd)
                continue
            if not last:
                if not stat.S_ISDIR(st.st_mode):
                    os.close(fd)
                    raise _os_error(errno.ENOTDIR, "open in root", path)
                w.stack.append(fd)
                continue
            return _final(w, name, fd, st, flags, mode)
        # The path ended on a directory (or was empty, or ended with "..").
        return _final_dir(w, flags)
    finally:
        w.close()


def _final(w: _Walker, name: str, fd: int, st: os.stat_result, flags: int, mode: int) -> int:
    """Turn the O_PATH fd of the last component into what the caller asked for."""
    if flags & os.O_DIRECTORY and not stat.S_ISDIR(st.st_mode):
        os.close(fd)
        raise _os_error(errno.ENOTDIR, "open in root", w.path)
    if flags & os.O_CREAT and flags & os.O_EXCL:
        os.close(fd)
        raise _os_error(errno.EEXIST, "open in root", w.path)
    if flags & os.O_PATH:
        if not flags & os.O_CLOEXEC:
            os.set_inheritable(fd, True)
        return fd
    try:
        if stat.S_ISLNK(st.st_mode):  # asked for with O_NOFOLLOW, as open(2) answers
            raise _os_error(errno.ELOOP, "open in root", w.path)
        real = os.open(name, flags | os.O_NOFOLLOW, mode, dir_fd=w.cur)
        got = os.fstat(real)
        if (got.st_dev, got.st_ino) != (st.st_dev, st.st_ino):
            os.close(real)  # swapped between the two opens
            raise _os_error(errno.EAGAIN, "file changed while opening", w.path)
        return real
    finally:
        os.close(fd)


def _final_dir(w: _Walker, flags: int) -> int:
    if flags & os.O_CREAT and flags & os.O_EXCL:
        raise _os_error(errno.EEXIST, "open in root", w.path)
    if flags & os.O_PATH:
        fd = os.dup(w.cur)
        os.set_inheritable(fd, not flags & os.O_CLOEXEC)
        return fd
    return os.open(".", (flags & ~os.O_CREAT) | os.O_DIRECTORY, dir_fd=w.cur)


def open_in_root(
    root_fd: int, path: str, flags: int = os.O_PATH | os.O_CLOEXEC, mode: int = 0
) -> int:
    """Open ``path`` as if the process were chroot()ed into ``root_fd``.

    Absolute symlinks are taken relative to the root and ``..`` stops at the root.
    Magic links (/proc/PID/fd/N and the like) are never followed as such: openat2
    refuses them, the walk resolves their text inside the root like any link.
    Raises OSError (with the path in its message) or PathEscapeError.
    """
    if _openat2_enabled():
        fd = _openat2(root_fd, path, flags, mode)
        if fd is not None:
            return fd
    return _walk(root_fd, path, flags, mode)


def mkdirall_in_root(root_fd: int, path: str, mode: int = 0o755) -> int:
    """Create ``path`` and its missing parents inside the root; return its O_PATH fd.

    Each directory is made with mkdirat relative to its verified parent fd; a
    symlink component is followed, but only inside the root. A component that
    exists and is not a directory raises NotADirectoryError. ``mode`` is subject
    to the umask, like mkdir(2).
    """
    try:
        return _walk(root_fd, path, os.O_PATH | os.O_CLOEXEC | os.O_DIRECTORY, mode, mkdir=True)
    except OSError as e:
        if e.errno == errno.ENOTDIR and not isinstance(e, NotADirectoryError):
            raise NotADirectoryError(e.errno, e.strerror, path) from None
        raise


def mkfile_in_root(root_fd: int, path: str, mode: int = 0o644) -> int:
    """Return an O_PATH fd of the file ``path`` in the root, creating it empty if missing.

    The parent comes from mkdirall_in_root; the file is made with O_CREAT|O_EXCL and
    reopened with O_NOFOLLOW. An existing symlink is followed inside the root. Any
    existing non-directory (a device node, say) is accepted: it is a mount target.
    """
    parts = _split(path)
    if not parts or parts[-1] in (".", "..", _SLASH):
        raise IsADirectoryError(errno.EISDIR, f"not a file path {path!r}", path)
    parent = mkdirall_in_root(root_fd, "/".join(parts[:-1]))
    try:
        name = parts[-1]
        with suppress(FileExistsError):
            os.close(
                os.open(
                    name,
                    os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                    mode,
                    dir_fd=parent,
                )
            )
        fd = os.open(name, _O_PATH_LOOKUP, dir_fd=parent)
    finally:
        os.close(parent)
    st = os.fstat(fd)
    if stat.S_ISLNK(st.st_mode):
        os.close(fd)
        fd = open_in_root(root_fd, path)
        st = os.fstat(fd)
    if stat.S_ISDIR(st.st_mode):
        os.close(fd)
        raise IsADirectoryError(errno.EISDIR, f"is a directory {path!r}", path)
    return fd


def is_real_dir(fd: int) -> bool:
    """True when ``fd`` is a directory itself (an O_PATH|O_NOFOLLOW fd of a link is not)."""
    return stat.S_ISDIR(os.fstat(fd).st_mode)


def same_file(fd: int, path: str) -> bool:
    """True when ``fd`` and ``path`` (followed) name the same inode on the same device."""
    try:
        a = os.fstat(fd)
        b = os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def is_dev_null(fd: int) -> bool:
    """True when ``fd`` is the character device 1:3, the only acceptable mask source."""
    st = os.fstat(fd)
    return stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3
