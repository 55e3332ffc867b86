"""Docker's defaults for a Linux container's runtime spec, as data.

Values are Docker's (moby ``daemon/pkg/oci/defaults.go`` and ``caps``): the 14 default
capabilities, the masked and read-only paths, the default mounts, the device cgroup
rules and the default PATH. Pure data and tiny helpers; standard library only.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from typing import Any

__all__ = [
    "ALL_CAPABILITIES",
    "DEFAULT_CAPABILITIES",
    "DEFAULT_DEVICE_RULES",
    "DEFAULT_PATH_ENV",
    "DEFAULT_SHM_SIZE",
    "MASKED_PATHS",
    "READONLY_PATHS",
    "ULIMIT_NAMES",
    "default_mounts",
    "default_seccomp_profile",
]

DEFAULT_PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_SHM_SIZE = 64 * 1024 * 1024

DEFAULT_CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)

# In kernel order: the index is the capability's number.
ALL_CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)

MASKED_PATHS: tuple[str, ...] = (
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
)

READONLY_PATHS: tuple[str, ...] = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)

ULIMIT_NAMES: dict[str, str] = {
    name: "RLIMIT_" + name.upper()
    for name in (
        "as",
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
    )
}


def _dev(kind: str, major: int, minor: int, allow: bool = True) -> dict[str, Any]:
    return {"allow": allow, "type": kind, "major": major, "minor": minor, "access": "rwm"}


# Deny everything, then allow null, zero, full, random, urandom, tty, console, and refuse
# /dev/net/tun explicitly (the runtime creates the default nodes itself).
DEFAULT_DEVICE_RULES: tuple[dict[str, Any], ...] = (
    {"allow": False, "access": "rwm"},
    _dev("c", 1, 5),
    _dev("c", 1, 3),
    _dev("c", 1, 9),
    _dev("c", 1, 8),
    _dev("c", 5, 0),
    _dev("c", 5, 1),
    _dev("c", 10, 229, allow=False),
    # Not in Docker's list because runc appends them itself; a runtime that does not
    # would break terminals: /dev/pts/* (any minor) and /dev/ptmx.
    {"allow": True, "type": "c", "major": 136, "access": "rwm"},
    _dev("c", 5, 2),
)


def default_mounts(shm_size: int = DEFAULT_SHM_SIZE) -> list[dict[str, Any]]:
    """Docker's default mounts for a container with a private IPC namespace."""
    return [
        {
            "destination": "/proc",
            "type": "proc",
            "source": "proc",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", "ro"],
        },
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["ro", "nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={shm_size}"],
        },
    ]


@lru_cache(maxsize=1)
def _profile_text() -> str:
    with open(os.path.join(os.path.dirname(__file__), "seccomp_default.json")) as f:
        return f.read()


def default_seccomp_profile() -> dict[str, Any]:
    """Docker's default seccomp profile (a fresh copy; see seccomp_default.json)."""
    profile: dict[str, Any] = json.loads(_profile_text())
    return profile
