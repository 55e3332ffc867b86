"""Resolving `--user` inside a container's root: its files read without leaving the root,
then the spec generator's rules (one set of rules for a container and its execs)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from dockyard.engine.errors import InvalidParameter
from dockyard.linux.paths import open_in_root
from dockyard.oci.specgen import ExecUser, SpecError, resolve_user


def read_in_root(rootfs: str, path: str) -> str:
    """A small text file of the container, resolved without leaving its root; '' if absent."""
    try:
        root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return ""
    try:
        fd = open_in_root(root_fd, path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return ""
    finally:
        os.close(root_fd)
    try:
        return os.read(fd, 1 << 20).decode(errors="replace")
    finally:
        os.close(fd)


def lookup(rootfs: str, spec: str, group_add: Sequence[str] = ()) -> ExecUser:
    """``spec`` (Docker's --user) with the container's --group-add, resolved against the
    passwd and group files of the container's root as the container's own process is."""
    passwd, group = read_in_root(rootfs, "/etc/passwd"), read_in_root(rootfs, "/etc/group")
    try:
        return resolve_user(spec, passwd, group, group_add)
    except SpecError as e:
        raise InvalidParameter(str(e)) from None
