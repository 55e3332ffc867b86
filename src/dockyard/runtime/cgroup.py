"""The container's cgroup: which one (from the config) and the rules every container gets."""

from __future__ import annotations

import os

from dockyard.linux.suppress import suppress
from dockyard.runtime.config import Config
from dockyard.runtime.errors import SetupError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Devices every container may use whatever linux.resources.devices says (runc's allow list),
# appended after the config's own rules so a leading "deny all" keeps them usable.
DEFAULT_DEVICE_RULES: list[dict[str, Any]] = [
    {"allow": True, "type": "c", "major": -1, "minor": -1, "access": "m"},
    {"allow": True, "type": "b", "major": -1, "minor": -1, "access": "m"},
    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 7, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 1, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
    {"allow": True, "type": "c", "major": 136, "minor": -1, "access": "rwm"},
]


def resources_with_defaults(cfg: Config) -> dict[str, Any] | None:
    """linux.resources plus the default device rules and an allow rule per linux.devices entry."""
    if cfg.resources is None:
        return None
    res = dict(cfg.resources)  # only "devices" is replaced below; the rest is shared read-only
    rules = res.get("devices")
    if rules is not None:
        extra = [
            {
                "allow": True,
                "type": d.type if d.type != "u" else "c",
                "major": d.major,
                "minor": d.minor,
                "access": "rwm",
            }
            for d in cfg.devices
            if d.type != "p"
        ]
        res["devices"] = list(rules) + DEFAULT_DEVICE_RULES + extra
    return res


def systemd_running() -> bool:
    return os.path.isdir("/run/systemd/system")


def open_cgroup(cgroups_path: str, cid: str, systemd: bool) -> Any:
    from dockyard.linux import cgroups  # lazy: only the verbs that touch cgroups pay for it

    # "slice:prefix:name" is systemd's notation; without systemd it still names a cgroupfs
    # path (/slice/prefix-name.scope), which is what runc makes of it too.
    if not cgroups_path.startswith("/") and cgroups_path.count(":") == 2:
        systemd = True
    return cgroups.Cgroup.for_path(cgroups_path, cid, systemd=systemd)


def container_cgroup(cfg: Config, cid: str, systemd: bool) -> Any:
    """Create the container's cgroup and apply its resources; returns the Cgroup."""
    cg = open_cgroup(cfg.cgroups_path, cid, systemd)
    try:
        cg.create()
        res = resources_with_defaults(cfg)
        if res:
            cg.set_resources(res)
    except SetupError:
        raise
    except Exception as e:
        with suppress(Exception):
            cg.destroy()
        raise SetupError(f"cgroup: {e}") from None
    return cg


def split_join(cg: Any, in_userns: bool) -> tuple[list[str], list[str]]:
    """Which of the cgroup's directories the init joins itself, and which the parent must
    move it into.

    Writing "0" (the writer itself) to a v1 hierarchy's `tasks` file is the one cgroup
    migration the kernel does without taking the global threadgroup lock, whose first
    writer waits for an RCU grace period (often 5-20 ms; `cgroup.procs` always pays it).
    A process in a user namespace can't write cgroupfs: the parent does it all then.
    """
    dirs = list(dict.fromkeys(cg.dirs.values()))
    if in_userns:
        return [], dirs
    own = [d for d in dirs if os.path.exists(os.path.join(d, "tasks"))]
    return own, [d for d in dirs if d not in own]


def join_self(dirs: list[str]) -> None:
    """Move the calling (single-threaded) process into each v1 directory via `tasks`."""
    from dockyard.linux.cgroups import write_file  # (create imported it before the fork)

    for d in dirs:
        write_file(os.path.join(d, "tasks"), "0")


def add_pid_to(dirs: list[str], pid: int) -> None:
    from dockyard.linux.cgroups import write_file

    for d in dirs:
        write_file(os.path.join(d, "cgroup.procs"), str(pid))
