"""Mounting a container's root filesystem from a snapshotter's Mount list, and its /etc files."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from dockyard.engine.errors import EngineError
from dockyard.linux import mounts as lm


class MountLike(Protocol):
    """The snapshotter's data: what to mount (containerd's Mount shape)."""

    @property
    def type(self) -> str: ...

    @property
    def source(self) -> str: ...

    @property
    def options(self) -> Sequence[str]: ...


# Mount points the runtime makes in a container's root when the image lacks them: never the
# container's own changes (dockerd keeps them in an "init" layer below the container's), so
# `diff` and `commit` leave them out. Relative to the root.
OWN_MOUNT_POINTS = frozenset(
    {
        "dev/console",
        "dev/pts",
        "dev/shm",
        "dev/mqueue",
        "etc/hostname",
        "etc/hosts",
        "etc/resolv.conf",
        "proc",
        "sys",
    }
)


class RootfsError(EngineError):
    """The root filesystem could not be mounted or unmounted."""


_FLAG_OPTS = {
    "ro": lm.MS_RDONLY,
    "nosuid": lm.MS_NOSUID,
    "nodev": lm.MS_NODEV,
    "noexec": lm.MS_NOEXEC,
    "bind": lm.MS_BIND,
    "rbind": lm.MS_BIND | lm.MS_REC,
}


def split_options(options: Sequence[str]) -> tuple[int, str]:
    """Mount flags and the filesystem's data string of an option list (pure)."""
    flags = 0
    data: list[str] = []
    for o in options:
        if o in _FLAG_OPTS:
            flags |= _FLAG_OPTS[o]
        elif o == "rw":
            continue
        else:
            data.append(o)
    return flags, ",".join(data)


def mount_rootfs(mounts: Sequence[MountLike], target: Path) -> None:
    """Perform the snapshotter's mounts on ``target`` (it decided what; we only do it)."""
    target.mkdir(parents=True, exist_ok=True)
    if os.path.ismount(target):
        return  # left mounted by a previous run (e.g. a daemon killed before cleanup)
    for m in mounts:
        flags, data = split_options(m.options)
        try:
            if flags & lm.MS_BIND:
                lm.mount(m.source, str(target), None, flags & ~lm.MS_RDONLY, None)
                if flags & lm.MS_RDONLY:
                    lm.mount(
                        None, str(target), None, lm.MS_BIND | lm.MS_REMOUNT | lm.MS_RDONLY, None
                    )
            else:
                lm.mount(m.source or m.type, str(target), m.type, flags, data or None)
        except OSError as e:
            raise RootfsError(f"mounting the container's root filesystem: {e}") from None


def unmount_rootfs(target: Path) -> None:
    """Detach the rootfs mount (lazily: a process still inside keeps it busy, not us)."""
    while os.path.ismount(target):
        try:
            lm.umount2(str(target), lm.MNT_DETACH)
        except OSError as e:
            raise RootfsError(f"unmounting {target}: {e}") from None


HOSTS_BASE = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)


def hosts_content(extra_hosts: list[str], host_network: bool) -> str:
    """/etc/hosts for the container: the host's own with --network host, else Docker's base."""
    if host_network:
        try:
            base = Path("/etc/hosts").read_text()
        except OSError:
            base = HOSTS_BASE
    else:
        base = HOSTS_BASE
    lines = [base.rstrip("\n")]
    for item in extra_hosts:
        # Docker's --add-host form is name:ip (ip may contain colons for IPv6).
        name, _, ip = item.partition(":")
        if not name or not ip:
            raise EngineError(f"invalid extra host {item!r}")
        lines.append(f"{ip}\t{name}")
    return "\n".join(lines) + "\n"


def resolv_content(dns: list[str], search: list[str], options: list[str]) -> str:
    """resolv.conf: the host's, minus loopback servers a netns cannot reach, or the overrides."""
    try:
        host = Path("/etc/resolv.conf").read_text()
    except OSError:
        host = ""
    out: list[str] = []
    have_ns = False
    for line in host.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "nameserver":
            if dns or len(parts) < 2 or parts[1].startswith("127.") or parts[1] == "::1":
                continue
            have_ns = True
        elif (parts[0] == "search" and search) or (parts[0] == "options" and options):
            continue
        out.append(line)
    for d in dns:
        out.append(f"nameserver {d}")
        have_ns = True
    if search:
        out.append("search " + " ".join(search))
    if options:
        out.append("options " + " ".join(options))
    if not have_ns:
        # Docker's fallback: public resolvers (never contacted by the daemon itself).
        out += ["nameserver 8.8.8.8", "nameserver 8.8.4.4"]
    return "\n".join(out) + "\n"


def write_etc_files(directory: Path, hostname: str, hc: dict[str, Any]) -> dict[str, str]:
    """Write hostname, hosts and resolv.conf for a container; return their paths."""
    host_net = hc.get("NetworkMode") == "host"
    files = {
        "hostname": (socket.gethostname() if host_net else hostname) + "\n",
        "hosts": hosts_content(list(hc.get("ExtraHosts") or []), host_net),
        "resolv": resolv_content(
            list(hc.get("Dns") or []),
            list(hc.get("DnsSearch") or []),
            list(hc.get("DnsOptions") or []),
        ),
    }
    names = {"hostname": "hostname", "hosts": "hosts", "resolv": "resolv.conf"}
    out = {}
    for key, content in files.items():
        p = directory / names[key]
        p.write_text(content)
        out[key] = str(p)
    return out
