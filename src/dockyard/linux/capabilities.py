"""Linux capabilities: names, parsing, and setting all five sets of the calling thread.

Inheritable and ambient sets are set to exactly what is asked — empty unless the
config names some — so that a container process never inherits more than its
config grants (runc CVE-2022-29162).
"""

from __future__ import annotations

import ctypes
import os

from dockyard.linux.libc import check, libc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "CAP_NAMES",
    "CapabilityError",
    "UnknownCapability",
    "all_caps_mask",
    "apply_caps",
    "cap_name",
    "caps_to_names",
    "keep_caps_across_setuid",
    "last_cap",
    "parse_caps",
    "parse_proc_status_caps",
    "read_proc_caps",
    "set_dumpable",
    "set_no_new_privs",
]

CAP_NAMES: dict[str, int] = {
    "CAP_CHOWN": 0,
    "CAP_DAC_OVERRIDE": 1,
    "CAP_DAC_READ_SEARCH": 2,
    "CAP_FOWNER": 3,
    "CAP_FSETID": 4,
    "CAP_KILL": 5,
    "CAP_SETGID": 6,
    "CAP_SETUID": 7,
    "CAP_SETPCAP": 8,
    "CAP_LINUX_IMMUTABLE": 9,
    "CAP_NET_BIND_SERVICE": 10,
    "CAP_NET_BROADCAST": 11,
    "CAP_NET_ADMIN": 12,
    "CAP_NET_RAW": 13,
    "CAP_IPC_LOCK": 14,
    "CAP_IPC_OWNER": 15,
    "CAP_SYS_MODULE": 16,
    "CAP_SYS_RAWIO": 17,
    "CAP_SYS_CHROOT": 18,
    "CAP_SYS_PTRACE": 19,
    "CAP_SYS_PACCT": 20,
    "CAP_SYS_ADMIN": 21,
    "CAP_SYS_BOOT": 22,
    "CAP_SYS_NICE": 23,
    "CAP_SYS_RESOURCE": 24,
    "CAP_SYS_TIME": 25,
    "CAP_SYS_TTY_CONFIG": 26,
    "CAP_MKNOD": 27,
    "CAP_LEASE": 28,
    "CAP_AUDIT_WRITE": 29,
    "CAP_AUDIT_CONTROL": 30,
    "CAP_SETFCAP": 31,
    "CAP_MAC_OVERRIDE": 32,
    "CAP_MAC_ADMIN": 33,
    "CAP_SYSLOG": 34,
    "CAP_WAKE_ALARM": 35,
    "CAP_BLOCK_SUSPEND": 36,
    "CAP_AUDIT_READ": 37,
    "CAP_PERFMON": 38,
    "CAP_BPF": 39,
    "CAP_CHECKPOINT_RESTORE": 40,
}

_NUM_TO_NAME = {v: k for k, v in CAP_NAMES.items()}

# prctl(2) options
_PR_SET_DUMPABLE = 4
_PR_SET_KEEPCAPS = 8
_PR_CAPBSET_READ = 23
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_RAISE = 2
_PR_CAP_AMBIENT_CLEAR_ALL = 4

_LINUX_CAPABILITY_VERSION_3 = 0x20080522

_PROC_FIELDS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")

# Private function objects on the shared libc handle (libc["name"] makes a new one),
# so that argtypes set elsewhere on libc.prctl & co. never change how we call them.
_prctl_fn = libc["prctl"]
_prctl_fn.restype = ctypes.c_int
_prctl_fn.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_capget_fn = libc["capget"]
_capset_fn = libc["capset"]
for _fn in (_capget_fn, _capset_fn):
    _fn.restype = ctypes.c_int
    _fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p]


class CapabilityError(Exception):
    """A capability set could not be parsed or applied."""


class UnknownCapability(CapabilityError, ValueError):
    """A capability name that Linux does not have."""


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


def cap_name(n: int) -> str:
    """``CAP_SYS_ADMIN`` for 21; ``CAP_<n>`` for numbers newer than this table."""
    return _NUM_TO_NAME.get(n, f"CAP_{n}")


def all_caps_mask() -> int:
    """Every capability this module knows by name."""
    return (1 << (max(CAP_NAMES.values()) + 1)) - 1


def parse_caps(names: Iterable[str]) -> int:
    """Turn capability names into a bitmask.

    Accepts ``CAP_X`` and Docker's short ``X``, case-insensitively, and ``ALL``.
    """
    mask = 0
    for raw in names:
        name = raw.strip().upper()
        if name == "ALL":
            mask |= all_caps_mask()
            continue
        if not name.startswith("CAP_"):
            name = "CAP_" + name
        bit = CAP_NAMES.get(name)
        if bit is None:
            raise UnknownCapability(f"unknown capability: {name}")
        mask |= 1 << bit
    return mask


def caps_to_names(mask: int) -> list[str]:
    """The names of the bits set in ``mask``, in number order."""
    return [cap_name(i) for i in range(mask.bit_length()) if mask >> i & 1]


def last_cap() -> int:
    """The highest capability number the running kernel knows."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except (OSError, ValueError):
        return max(CAP_NAMES.values())


def _prctl(option: int, arg2: int = 0, arg3: int = 0, what: str = "prctl") -> int:
    return check(int(_prctl_fn(option, arg2, arg3, 0, 0)), what)


def _capget() -> tuple[int, int, int]:
    """The calling thread's (effective, permitted, inheritable) masks."""
    hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    check(int(_capget_fn(ctypes.addressof(hdr), ctypes.addressof(data))), "capget")
    eff = data[0].effective | data[1].effective << 32
    prm = data[0].permitted | data[1].permitted << 32
    inh = data[0].inheritable | data[1].inheritable << 32
    return eff, prm, inh


def _capset(effective: int, permitted: int, inheritable: int) -> None:
    hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in range(2):
        data[i].effective = effective >> (32 * i) & 0xFFFFFFFF
        data[i].permitted = permitted >> (32 * i) & 0xFFFFFFFF
        data[i].inheritable = inheritable >> (32 * i) & 0xFFFFFFFF
    try:
        check(int(_capset_fn(ctypes.addressof(hdr), ctypes.addressof(data))), "capset")
    except OSError as e:
        raise CapabilityError(f"cannot set capabilities: {e}") from None


def apply_caps(
    bounding: int, effective: int, permitted: int, inheritable: int, ambient: int
) -> None:
    """Set all five capability sets of the calling thread to exactly these masks.

    Order matters: the bounding set is trimmed first (that needs CAP_SETPCAP, which
    capset may be about to drop), then capset sets E/P/I, then the ambient set is
    cleared and exactly the requested bits raised. Capabilities the running kernel
    does not know are ignored, as runc does.
    """
    top = last_cap()
    known = (1 << (top + 1)) - 1
    bounding, effective, permitted = bounding & known, effective & known, permitted & known
    inheritable, ambient = inheritable & known, ambient & known

    # Dropping from the bounding set needs CAP_SETPCAP *effective*; after a
    # setuid() with keep-caps the effective set is empty, so raise it to the
    # permitted set first.
    _, cur_prm, cur_inh = _capget()
    _capset(cur_prm, cur_prm, cur_inh)
    for n in range(top + 1):
        if not bounding >> n & 1 and _prctl(_PR_CAPBSET_READ, n, what="PR_CAPBSET_READ"):
            try:
                _prctl(_PR_CAPBSET_DROP, n, what="PR_CAPBSET_DROP")
            except OSError as e:
                raise CapabilityError(
                    f"cannot drop {cap_name(n)} from the bounding set: {e}"
                ) from None

    _capset(effective, permitted, inheritable)

    try:
        _prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, what="PR_CAP_AMBIENT_CLEAR_ALL")
    except OSError as e:
        # Kernels before 4.3 have no ambient set; nothing to clear then.
        if ambient or e.errno != 22:
            raise CapabilityError(f"cannot clear the ambient set: {e}") from None
    for n in range(top + 1):
        if ambient >> n & 1:
            try:
                _prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_RAISE, n, what="PR_CAP_AMBIENT_RAISE")
            except OSError as e:
                raise CapabilityError(
                    f"cannot raise ambient {cap_name(n)} (it must be permitted and "
                    f"inheritable): {e}"
                ) from None


def keep_caps_across_setuid() -> None:
    """Keep the permitted set when setuid() leaves uid 0 (PR_SET_KEEPCAPS)."""
    _prctl(_PR_SET_KEEPCAPS, 1, what="PR_SET_KEEPCAPS")


def set_no_new_privs() -> None:
    """execve() can never again grant privileges (setuid bits, file caps)."""
    _prctl(_PR_SET_NO_NEW_PRIVS, 1, what="PR_SET_NO_NEW_PRIVS")


def set_dumpable(dumpable: bool) -> None:
    """A non-dumpable process cannot be ptraced nor its /proc/PID/* opened by others."""
    _prctl(_PR_SET_DUMPABLE, 1 if dumpable else 0, what="PR_SET_DUMPABLE")


def parse_proc_status_caps(text: str) -> dict[str, int]:
    """The five ``Cap*`` masks of a /proc/PID/status text, keyed by their field names
    (``CapInh``, ``CapPrm``, ``CapEff``, ``CapBnd``, ``CapAmb``)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key in _PROC_FIELDS:
            try:
                out[key] = int(value.strip(), 16)
            except ValueError:
                raise CapabilityError(f"bad {key} line in status: {line!r}") from None
    missing = [k for k in _PROC_FIELDS if k not in out and k != "CapAmb"]
    if missing:
        raise CapabilityError(f"status has no {', '.join(missing)}")
    out.setdefault("CapAmb", 0)  # kernels before 4.3
    return out


def read_proc_caps(pid: int | str = "self") -> dict[str, int]:
    """The five capability sets of a process, from /proc/PID/status."""
    with open(os.path.join("/proc", str(pid), "status")) as f:
        return parse_proc_status_caps(f.read())
