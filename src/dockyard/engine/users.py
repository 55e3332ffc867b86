"""Resolving `--user` inside a container's root: name or number, with groups (pure parsing)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from dockyard.engine.errors import InvalidParameter
from dockyard.linux.paths import open_in_root


@dataclass(frozen=True)
class User:
    uid: int
    gid: int
    additional_gids: list[int] = field(default_factory=list)
    home: str = "/"


def parse_passwd(text: str) -> list[tuple[str, int, int, str]]:
    out = []
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) < 7 or line.startswith("#"):
            continue
        try:
            out.append((parts[0], int(parts[2]), int(parts[3]), parts[5]))
        except ValueError:
            continue
    return out


def parse_group(text: str) -> list[tuple[str, int, list[str]]]:
    out = []
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) < 4 or line.startswith("#"):
            continue
        try:
            out.append((parts[0], int(parts[2]), [m for m in parts[3].split(",") if m]))
        except ValueError:
            continue
    return out


def resolve(spec: str, passwd: str, group: str) -> User:
    """Docker's rules: `user`, `uid`, `user:group`, `uid:gid`; names looked up in the files."""
    if not spec:
        spec = "0"
    u, _, g = spec.partition(":")
    users = parse_passwd(passwd)
    groups = parse_group(group)
    name = None
    home = "/"
    if u.isdigit():
        uid = int(u)
        gid = 0
        for n, i, gi, h in users:
            if i == uid:
                name, gid, home = n, gi, h
                break
    else:
        for n, i, gi, h in users:
            if n == u:
                name, uid, gid, home = n, i, gi, h
                break
        else:
            raise InvalidParameter(f"unable to find user {u}: no matching entries in passwd file")
    if g:
        if g.isdigit():
            gid = int(g)
        else:
            for gn, gi2, _m in groups:
                if gn == g:
                    gid = gi2
                    break
            else:
                raise InvalidParameter(
                    f"unable to find group {g}: no matching entries in group file"
                )
    extra = sorted({gi for _gn, gi, members in groups if name and name in members} - {gid})
    return User(uid, gid, extra, home)


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


def lookup(rootfs: str, spec: str) -> User:
    return resolve(spec, read_in_root(rootfs, "/etc/passwd"), read_in_root(rootfs, "/etc/group"))
