"""Turn an OCI mount's options list into mount(2) flags, propagation and data (pure)."""

from __future__ import annotations

from dockyard.linux import mounts as m
from dockyard.runtime.errors import ConfigError
from dockyard.runtime.record import record

# option -> (flags to set, flags to clear)
_FLAGS: dict[str, tuple[int, int]] = {
    "ro": (m.MS_RDONLY, 0),
    "rw": (0, m.MS_RDONLY),
    "nosuid": (m.MS_NOSUID, 0),
    "suid": (0, m.MS_NOSUID),
    "nodev": (m.MS_NODEV, 0),
    "dev": (0, m.MS_NODEV),
    "noexec": (m.MS_NOEXEC, 0),
    "exec": (0, m.MS_NOEXEC),
    "sync": (m.MS_SYNCHRONOUS, 0),
    "async": (0, m.MS_SYNCHRONOUS),
    "dirsync": (m.MS_DIRSYNC, 0),
    "remount": (m.MS_REMOUNT, 0),
    "mand": (m.MS_MANDLOCK, 0),
    "nomand": (0, m.MS_MANDLOCK),
    "atime": (0, m.MS_NOATIME),
    "noatime": (m.MS_NOATIME, 0),
    "diratime": (0, m.MS_NODIRATIME),
    "nodiratime": (m.MS_NODIRATIME, 0),
    "relatime": (m.MS_RELATIME, 0),
    "norelatime": (0, m.MS_RELATIME),
    "strictatime": (m.MS_STRICTATIME, 0),
    "nostrictatime": (0, m.MS_STRICTATIME),
    "lazytime": (m.MS_LAZYTIME, 0),
    "nolazytime": (0, m.MS_LAZYTIME),
    "nosymfollow": (m.MS_NOSYMFOLLOW, 0),
    "symfollow": (0, m.MS_NOSYMFOLLOW),
    "silent": (m.MS_SILENT, 0),
    "loud": (0, m.MS_SILENT),
    "bind": (m.MS_BIND, 0),
    "rbind": (m.MS_BIND | m.MS_REC, 0),
}

PROPAGATION: dict[str, int] = {
    "private": m.MS_PRIVATE,
    "rprivate": m.MS_PRIVATE | m.MS_REC,
    "shared": m.MS_SHARED,
    "rshared": m.MS_SHARED | m.MS_REC,
    "slave": m.MS_SLAVE,
    "rslave": m.MS_SLAVE | m.MS_REC,
    "unbindable": m.MS_UNBINDABLE,
    "runbindable": m.MS_UNBINDABLE | m.MS_REC,
}

# Recursive attributes (mount_setattr with AT_RECURSIVE): option -> (attr set, attr clear).
_RECURSIVE: dict[str, tuple[int, int]] = {
    "rro": (m.MOUNT_ATTR_RDONLY, 0),
    "rrw": (0, m.MOUNT_ATTR_RDONLY),
    "rnosuid": (m.MOUNT_ATTR_NOSUID, 0),
    "rsuid": (0, m.MOUNT_ATTR_NOSUID),
    "rnodev": (m.MOUNT_ATTR_NODEV, 0),
    "rdev": (0, m.MOUNT_ATTR_NODEV),
    "rnoexec": (m.MOUNT_ATTR_NOEXEC, 0),
    "rexec": (0, m.MOUNT_ATTR_NOEXEC),
}

_UNSUPPORTED = {"idmap", "ridmap", "tmpcopyup"}

# Flags that a bind mount only honours on a second, MS_REMOUNT call.
REMOUNT_FLAGS = (
    m.MS_RDONLY
    | m.MS_NOSUID
    | m.MS_NODEV
    | m.MS_NOEXEC
    | m.MS_NOATIME
    | m.MS_NODIRATIME
    | m.MS_RELATIME
    | m.MS_STRICTATIME
    | m.MS_NOSYMFOLLOW
)


@record
class MountOptions:
    flags: int = 0
    propagation: list[int] = []  # noqa: RUF012 (@record copies it)
    data: list[str] = []  # noqa: RUF012 (@record copies it)
    rec_set: int = 0
    rec_clear: int = 0

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & m.MS_BIND)

    @property
    def data_str(self) -> str | None:
        return ",".join(self.data) if self.data else None


def parse_mount_options(options: list[str]) -> MountOptions:
    out = MountOptions()
    for opt in options:
        if opt in _FLAGS:
            set_, clear = _FLAGS[opt]
            out.flags = (out.flags | set_) & ~clear
        elif opt in PROPAGATION:
            out.propagation.append(PROPAGATION[opt])
        elif opt in _RECURSIVE:
            set_, clear = _RECURSIVE[opt]
            out.rec_set = (out.rec_set | set_) & ~clear
            out.rec_clear = (out.rec_clear | clear) & ~set_
        elif opt in _UNSUPPORTED:
            raise ConfigError(f"mount option {opt!r} is not supported by dockyard-runc")
        else:
            # Anything else is filesystem data (mode=755, size=64m, newinstance...), as runc does.
            out.data.append(opt)
    return out
