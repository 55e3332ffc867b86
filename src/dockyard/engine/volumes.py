"""Named volumes with the `local` driver: a directory, or a tmpfs/bind described by options."""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import re
import secrets
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dockyard.engine.errors import Conflict, InvalidParameter, NotFound
from dockyard.engine.records import now_rfc3339, write_atomic
from dockyard.linux import mounts as lmounts
from dockyard.linux.libc import errno_text

_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
_OPTS = {"type", "device", "o", "size"}
META = "opts.json"


def anonymous_name() -> str:
    return secrets.token_hex(32)


class Volumes:
    """The volumes under ``root``; ``users(name)`` lists the containers that use one."""

    def __init__(self, root: Path, users: Callable[[str], list[str]]) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._users = users
        self._lock = threading.RLock()

    def _dir(self, name: str) -> Path:
        return self.root / name

    def _meta(self, name: str) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads((self._dir(name) / META).read_text())
        except FileNotFoundError:
            raise NotFound(f"get {name}: no such volume") from None
        return data

    def exists(self, name: str) -> bool:
        return (self._dir(name) / META).exists()

    def create(
        self,
        name: str | None,
        driver: str = "local",
        opts: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Create (or return the existing) volume; the bool says whether it is new."""
        name = name or anonymous_name()
        if not _NAME.match(name):
            raise InvalidParameter(
                f'create {name}: "{name}" includes invalid characters for a local volume name, '
                'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
                "directory, use absolute path"
            )
        if driver not in ("", "local"):
            raise NotFound(f'error looking up volume plugin {driver}: plugin "{driver}" not found')
        opts = dict(opts or {})
        bad = set(opts) - _OPTS
        if bad:
            raise InvalidParameter(f'create {name}: invalid option: "{sorted(bad)[0]}"')
        for have, needs in (("device", "type"), ("type", "device"), ("o", "device type")):
            for need in needs.split() if have in opts else ():
                if need not in opts:
                    raise InvalidParameter(f'create {name}: missing required option: "{need}"')
        with self._lock:
            if self.exists(name):
                return self.inspect(name), False
            d = self._dir(name)
            (d / "_data").mkdir(parents=True, exist_ok=True)
            meta = {
                "Name": name,
                "Driver": "local",
                "CreatedAt": now_rfc3339()[:19] + "Z",
                "Labels": dict(labels or {}),
                "Options": opts,
            }
            write_atomic(d / META, json.dumps(meta).encode())
            return self.inspect(name), True

    def inspect(self, name: str) -> dict[str, Any]:
        meta = self._meta(name)
        return {
            "CreatedAt": meta["CreatedAt"],
            "Driver": "local",
            "Labels": meta.get("Labels") or None,
            "Mountpoint": str(self._dir(name) / "_data"),
            "Name": name,
            "Options": meta.get("Options") or None,
            "Scope": "local",
        }

    def list(self) -> list[dict[str, Any]]:
        out = []
        for d in sorted(self.root.iterdir()):
            if (d / META).exists():
                out.append(self.inspect(d.name))
        return out

    def mountpoint(self, name: str) -> str:
        """The host path to bind into a container, mounting tmpfs/bind volumes on first use."""
        meta = self._meta(name)
        data = self._dir(name) / "_data"
        opts: dict[str, str] = meta.get("Options") or {}
        if opts.get("type") and not os.path.ismount(data):
            self._mount(opts, data)
        return str(data)

    def _mount(self, opts: dict[str, str], target: Path) -> None:
        fstype = opts["type"]
        device = opts.get("device", fstype)
        o = opts.get("o", "")
        if "size" in opts:
            o = ",".join(x for x in (o, f"size={opts['size']}") if x)
        flags = 0
        data_opts = []
        for item in (x for x in o.split(",") if x):
            if item == "bind":
                flags |= lmounts.MS_BIND
            elif item == "rbind":
                flags |= lmounts.MS_BIND | lmounts.MS_REC
            elif item == "ro":
                flags |= lmounts.MS_RDONLY
            else:
                data_opts.append(item)
        bind = bool(flags & lmounts.MS_BIND)
        data = None if bind else ",".join(data_opts) or None
        try:
            lmounts.mount(device, str(target), None if bind else fstype, flags, data)
        except OSError as e:
            # dockerd's words (the client's exit code depends on them).
            detail = f"mount {device}:{target}, flags: {flags:#x}"
            detail += f", data: {data}" if data else ""
            raise InvalidParameter(
                f"error while mounting volume '{target}': failed to mount local volume: "
                f"{detail}: {errno_text(e)}"
            ) from None

    def remove(self, name: str, force: bool = False) -> None:
        with self._lock:
            if not self.exists(name):
                if force:
                    return
                raise NotFound(f"get {name}: no such volume")
            users = self._users(name)
            if users:
                raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
            data = self._dir(name) / "_data"
            if os.path.ismount(data):
                lmounts.umount2(str(data), lmounts.MNT_DETACH)
            # The metadata goes first: a crash midway leaves a directory that is not a volume.
            (self._dir(name) / META).unlink()
            shutil.rmtree(self._dir(name), ignore_errors=True)

    def prune(
        self, all_volumes: bool, labels: builtins.list[str]
    ) -> tuple[builtins.list[str], int]:
        from dockyard.engine.filters import match_labels

        removed: builtins.list[str] = []
        reclaimed = 0
        for v in self.list():
            name = v["Name"]
            # Without `all`, only anonymous volumes (64 hex digits) go, as in Docker 23+.
            if not all_volumes and not re.fullmatch(r"[0-9a-f]{64}", name):
                continue
            if labels and not match_labels(v["Labels"] or {}, labels):
                continue
            if self._users(name):
                continue
            reclaimed += _du(self._dir(name) / "_data")
            self.remove(name)
            removed.append(name)
        return removed, reclaimed


def _du(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, f)).st_size
    return total
