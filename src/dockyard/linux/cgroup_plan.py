"""Pure cgroup planning: where a container's cgroup lives and which files to write.

Nothing here touches the file system. ``plan_resources`` turns an OCI
``linux.resources`` object into ``(controller, filename, value)`` writes for
cgroup v1 (also used on hybrid machines, whose controllers are all v1) or v2,
with the v2 conversions the OCI runtimes agree on (cpu.weight from shares,
memory.swap.max from memory+swap, io.weight from blkio weight). On v2 the device
rules become a single DEVICE_PROGRAM pseudo-write, which the writer turns into an
eBPF program (``devices_bpf``).
"""

from __future__ import annotations

import posixpath

# typing costs milliseconds to import (it pulls in re); dockyard-runc plans a cgroup on every
# container start, so typing is only read by the type checker.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Literal, NamedTuple

__all__ = [
    "DEVICE_PROGRAM",
    "V1_CONTROLLERS",
    "CgroupError",
    "Hierarchy",
    "Mode",
    "Write",
    "blkio_weight_to_io_weight",
    "cgroup_dirs",
    "container_cgroup_path",
    "cpu_max",
    "parse_mountinfo_cgroups",
    "parse_proc_cgroup",
    "plan_resources",
    "shares_to_weight",
    "swap_to_v2",
    "systemd_path",
]

if TYPE_CHECKING:
    Mode = Literal["v1", "hybrid", "v2"]
else:
    Mode = str
Write = tuple[str, str, str]  # (controller, file name, value)


class CgroupError(Exception):
    """A cgroup could not be planned, created, limited or removed."""


# The v1 controllers a container gets a directory in, when mounted; name=systemd
# is tracked too, so that systemd tools see the container as its own unit.
V1_CONTROLLERS = (
    "memory", "cpu", "cpuacct", "cpuset", "pids", "devices", "freezer", "blkio",
    "hugetlb", "net_cls", "net_prio", "perf_event", "name=systemd",
)  # fmt: skip

UNLIMITED_V1 = "-1"
UNLIMITED_V2 = "max"


if TYPE_CHECKING:

    class Hierarchy(NamedTuple):
        """One mounted cgroup hierarchy: its mount point, the cgroup path mounted there
        (not "/" inside containers) and its controllers ("" for the v2 one)."""

        mountpoint: str
        root: str
        controllers: frozenset[str]

        @property
        def unified(self) -> bool:
            return not self.controllers

else:

    class Hierarchy(tuple):
        """The same named tuple, built by hand (typing.NamedTuple is not imported here)."""

        __slots__ = ()
        _fields = ("mountpoint", "root", "controllers")

        def __new__(cls, mountpoint, root, controllers):
            return tuple.__new__(cls, (mountpoint, root, controllers))

        def __repr__(self):
            return f"Hierarchy(mountpoint={self[0]!r}, root={self[1]!r}, controllers={self[2]!r})"

        mountpoint = property(lambda self: self[0])
        root = property(lambda self: self[1])
        controllers = property(lambda self: self[2])
        unified = property(lambda self: not self[2])


def parse_mountinfo_cgroups(text: str) -> list[Hierarchy]:
    """The cgroup and cgroup2 mounts of a /proc/PID/mountinfo text."""
    out: list[Hierarchy] = []
    for line in text.splitlines():
        pre, sep, post = line.partition(" - ")
        if not sep:
            continue
        fields = pre.split()
        tail = post.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        fstype, opts = tail[0], tail[2].split(",")
        mountpoint = fields[4].replace("\\040", " ")
        if fstype == "cgroup2":
            out.append(Hierarchy(mountpoint, fields[3], frozenset()))
        elif fstype == "cgroup":
            ctrls = frozenset(o for o in opts if o in V1_CONTROLLERS or o.startswith("name="))
            if ctrls:
                out.append(Hierarchy(mountpoint, fields[3], ctrls))
    return out


def parse_proc_cgroup(text: str) -> dict[frozenset[str], str]:
    """/proc/PID/cgroup as {controllers: path}; the v2 line has the empty set."""
    out: dict[frozenset[str], str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        ctrls = frozenset(c for c in parts[1].split(",") if c)
        out[ctrls] = parts[2]
    return out


def _clean(path: str) -> str:
    """Lexically clean a cgroup path so that it can never climb above "/"."""
    return posixpath.normpath("/" + path.strip("/")) if path.strip("/") else "/"


def systemd_path(spec: str, container_id: str) -> str:
    """The cgroupfs path of a systemd-style ``slice:prefix:name`` cgroupsPath.

    ``machine-pod.slice:libpod:abc`` → ``/machine.slice/machine-pod.slice/libpod-abc.scope``.
    An empty slice is system.slice; an empty name is the container id.
    """
    parts = spec.split(":")
    if len(parts) != 3:
        raise CgroupError(f"cgroupsPath {spec!r}: expected slice:prefix:name with systemd cgroups")
    slice_name, prefix, name = parts
    slice_name = slice_name or "system.slice"
    name = name or container_id
    if "/" in slice_name or not slice_name.endswith(".slice"):
        raise CgroupError(f"cgroupsPath {spec!r}: bad slice name {slice_name!r}")
    stem = slice_name[: -len(".slice")]
    path = "/"
    if slice_name != "-.slice":
        words = stem.split("-")
        if not all(words):
            raise CgroupError(f"cgroupsPath {spec!r}: bad slice name {slice_name!r}")
        for i in range(1, len(words) + 1):
            path = posixpath.join(path, "-".join(words[:i]) + ".slice")
    if "/" in name or "/" in prefix:
        raise CgroupError(f"cgroupsPath {spec!r}: bad unit name")
    unit = name if name.endswith(".slice") else (f"{prefix}-{name}" if prefix else name) + ".scope"
    return posixpath.join(path, unit)


def container_cgroup_path(
    cgroups_path: str | None, container_id: str, systemd: bool, own: str
) -> str:
    """The container's cgroup path in one hierarchy, from OCI ``linux.cgroupsPath``.

    Absolute: taken from the hierarchy root; relative: from ``own`` (the runtime's
    own cgroup there); empty: ``/dockyard/<id>``; with systemd, ``slice:prefix:name``.
    """
    if not container_id or "/" in container_id or container_id in (".", ".."):
        raise CgroupError(f"bad container id {container_id!r} for a cgroup")
    if systemd:
        if not cgroups_path:
            return systemd_path(f"system.slice:dockyard:{container_id}", container_id)
        if ":" in cgroups_path:
            return systemd_path(cgroups_path, container_id)
    if not cgroups_path:
        return f"/dockyard/{container_id}"
    if cgroups_path.startswith("/"):
        return _clean(cgroups_path)
    return _clean(posixpath.join(own, cgroups_path))


def _own_path(h: Hierarchy, own: dict[frozenset[str], str]) -> str:
    path = own.get(h.controllers)
    if path is None:
        # Controllers co-mounted differently from how /proc/PID/cgroup groups them.
        path = next((p for c, p in own.items() if c and c & h.controllers), None)
    return path or "/"


def cgroup_dirs(
    hierarchies: list[Hierarchy],
    own: dict[frozenset[str], str],
    mode: Mode,
    cgroups_path: str | None,
    container_id: str,
    systemd: bool,
    cgroup_root: str = "/sys/fs/cgroup",
) -> tuple[dict[str, str], str]:
    """The container's directory in each hierarchy under ``cgroup_root``, keyed by
    controller ("" for the v2 hierarchy), and its cgroup path in the first one.

    v2 uses only the unified hierarchy; v1 only the controller ones; hybrid both (the
    unified one just tracks the processes). A hierarchy mounted from a sub-cgroup
    (inside a container) has that prefix taken off the path.
    """
    dirs: dict[str, str] = {}
    first = ""
    for h in hierarchies:
        if not (h.mountpoint + "/").startswith(cgroup_root.rstrip("/") + "/"):
            continue
        if (h.unified and "" in dirs) or any(c in dirs for c in h.controllers):
            continue  # the same hierarchy mounted twice: the first one counts
        if (h.unified and mode == "v1") or (not h.unified and mode == "v2"):
            continue
        path = container_cgroup_path(cgroups_path, container_id, systemd, _own_path(h, own))
        rel = path
        root = h.root.rstrip("/")
        if root and (path + "/").startswith(root + "/"):
            rel = path[len(root) :] or "/"
        d = posixpath.join(h.mountpoint, rel.lstrip("/")).rstrip("/")
        if h.unified:
            dirs[""] = d
        for c in h.controllers:
            dirs[c] = d
        first = first or path
    if not dirs:
        raise CgroupError(f"no cgroup hierarchy is mounted under {cgroup_root}")
    return dirs, first


# --- v2 conversions -------------------------------------------------------------


def shares_to_weight(shares: int) -> int:
    """cpu.shares (2..262144) to cpu.weight (1..10000), the OCI runtimes' formula."""
    if shares == 0:
        return 0
    shares = min(max(shares, 2), 262144)
    return 1 + ((shares - 2) * 9999) // 262142


def blkio_weight_to_io_weight(weight: int) -> int:
    """blkio.weight (10..1000) to io.weight (1..10000)."""
    if weight == 0:
        return 0
    weight = min(max(weight, 10), 1000)
    return 1 + ((weight - 10) * 9999) // 990


def swap_to_v2(memory_swap: int | None, memory: int | None) -> str | None:
    """memory.swap.max from OCI's memory+swap total; None when nothing to write."""
    if memory_swap is None or memory_swap == 0:
        return None
    if memory_swap == -1:
        return UNLIMITED_V2
    if memory is None or memory in (0, -1):
        raise CgroupError("memory.swap needs a memory limit too")
    if memory_swap < memory:
        raise CgroupError("memory.swap (memory+swap) must not be less than memory.limit")
    return str(memory_swap - memory)


def cpu_max(quota: int | None, period: int | None) -> str | None:
    """cpu.max "QUOTA PERIOD" ("max" for no quota); None when neither is given."""
    if not quota and not period:
        return None
    q = UNLIMITED_V2 if quota is None or quota <= 0 else str(quota)
    return f"{q} {period or 100000}"


# --- the planner -------------------------------------------------------------------


def _int(obj: dict[str, Any], key: str, where: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise CgroupError(f"linux.resources.{where}.{key} must be an integer")
    return value


def _limit(value: int, v2: bool) -> str:
    if value < 0:
        return UNLIMITED_V2 if v2 else UNLIMITED_V1
    return str(value)


def _dev(d: dict[str, Any], where: str) -> str:
    major, minor = _int(d, "major", where), _int(d, "minor", where)
    if major is None or minor is None:
        raise CgroupError(f"linux.resources.{where}: major and minor are required")
    return f"{major}:{minor}"


def _memory(mem: dict[str, Any], v2: bool) -> list[Write]:
    out: list[Write] = []
    limit = _int(mem, "limit", "memory")
    reservation = _int(mem, "reservation", "memory")
    swap = _int(mem, "swap", "memory")
    swappiness = _int(mem, "swappiness", "memory")
    if v2:
        if limit is not None:
            out.append(("memory", "memory.max", _limit(limit, True)))
        if reservation is not None:
            out.append(("memory", "memory.low", _limit(reservation, True)))
        swap_max = swap_to_v2(swap, limit)
        if swap_max is not None:
            out.append(("memory", "memory.swap.max", swap_max))
        # swappiness, kernel and kernelTCP have no v2 files: ignored, as runc/crun do.
        if mem.get("disableOOMKiller"):
            raise CgroupError("memory.disableOOMKiller is not supported on cgroup v2")
        return out
    if limit is not None:
        out.append(("memory", "memory.limit_in_bytes", _limit(limit, False)))
    if reservation is not None:
        out.append(("memory", "memory.soft_limit_in_bytes", _limit(reservation, False)))
    if swap is not None and swap != 0:
        out.append(("memory", "memory.memsw.limit_in_bytes", _limit(swap, False)))
    # kernel and kernelTCP are deprecated (kernel 5.16+ refuses kmem limits): ignored,
    # as runc 1.1+ does.
    _int(mem, "kernel", "memory")
    _int(mem, "kernelTCP", "memory")
    if swappiness is not None and 0 <= swappiness <= 100:
        out.append(("memory", "memory.swappiness", str(swappiness)))
    elif swappiness is not None and swappiness != -1:
        raise CgroupError(f"memory.swappiness must be 0..100, not {swappiness}")
    if mem.get("disableOOMKiller"):
        out.append(("memory", "memory.oom_control", "1"))
    if mem.get("useHierarchy"):
        out.append(("memory", "memory.use_hierarchy", "1"))
    return out


def _cpu(cpu: dict[str, Any], v2: bool) -> list[Write]:
    out: list[Write] = []
    shares = _int(cpu, "shares", "cpu")
    quota = _int(cpu, "quota", "cpu")
    period = _int(cpu, "period", "cpu")
    rt_runtime = _int(cpu, "realtimeRuntime", "cpu")
    rt_period = _int(cpu, "realtimePeriod", "cpu")
    idle = _int(cpu, "idle", "cpu")
    if v2:
        if shares:
            out.append(("cpu", "cpu.weight", str(shares_to_weight(shares))))
        cmax = cpu_max(quota, period)
        if cmax is not None:
            out.append(("cpu", "cpu.max", cmax))
        if rt_runtime or rt_period:
            raise CgroupError("cpu.realtimeRuntime/realtimePeriod are not supported on cgroup v2")
    else:
        if shares:
            out.append(("cpu", "cpu.shares", str(shares)))
        # Period first: a quota is checked against the period in force.
        if period:
            out.append(("cpu", "cpu.cfs_period_us", str(period)))
        if quota:
            out.append(("cpu", "cpu.cfs_quota_us", str(quota) if quota > 0 else "-1"))
        if rt_period:
            out.append(("cpu", "cpu.rt_period_us", str(rt_period)))
        if rt_runtime:
            out.append(("cpu", "cpu.rt_runtime_us", str(rt_runtime)))
    if idle is not None:
        out.append(("cpu", "cpu.idle", str(idle)))
    for key in ("cpus", "mems"):
        value = cpu.get(key)
        if value:
            if not isinstance(value, str):
                raise CgroupError(f"linux.resources.cpu.{key} must be a string")
            out.append(("cpuset", f"cpuset.{key}", value))
    return out


def _device_rule(d: dict[str, Any]) -> str:
    kind = d.get("type") or "a"
    if kind not in ("a", "b", "c"):
        raise CgroupError(f"linux.resources.devices: bad type {kind!r}")
    access = d.get("access") or "rwm"
    if not isinstance(access, str) or not access or set(access) - set("rwm"):
        raise CgroupError(f"linux.resources.devices: bad access {access!r}")
    if kind == "a":
        return f"a *:* {access}"
    major, minor = d.get("major"), d.get("minor")
    ma = "*" if major is None or major == -1 else str(int(major))
    mi = "*" if minor is None or minor == -1 else str(int(minor))
    return f"{kind} {ma}:{mi} {access}"


# On v2 the device rules become one eBPF program: a pseudo-file for the writer.
DEVICE_PROGRAM = "@device-program"


def _devices(rules: list[Any], v2: bool) -> list[Write]:
    out: list[Write] = []
    lines: list[str] = []
    for d in rules:
        if not isinstance(d, dict):
            raise CgroupError("linux.resources.devices entries must be objects")
        rule = _device_rule(d)
        allow = bool(d.get("allow"))
        lines.append(f"{'allow' if allow else 'deny'} {rule}")
        out.append(("devices", "devices.allow" if allow else "devices.deny", rule))
    if v2 and lines:
        # cgroup v2 has no devices files: the kernel asks an attached BPF program.
        return [("devices", DEVICE_PROGRAM, "\n".join(lines))]
    return out


def _blockio(bio: dict[str, Any], v2: bool) -> list[Write]:
    out: list[Write] = []
    weight = _int(bio, "weight", "blockIO")
    if weight:
        if v2:
            out.append(("io", "io.weight", f"default {blkio_weight_to_io_weight(weight)}"))
        else:
            out.append(("blkio", "blkio.weight", str(weight)))
    leaf = _int(bio, "leafWeight", "blockIO")
    if leaf and not v2:
        out.append(("blkio", "blkio.leaf_weight", str(leaf)))
    for d in bio.get("weightDevice") or []:
        dev = _dev(d, "blockIO.weightDevice")
        w = _int(d, "weight", "blockIO.weightDevice")
        if w:
            if v2:
                out.append(("io", "io.weight", f"{dev} {blkio_weight_to_io_weight(w)}"))
            else:
                out.append(("blkio", "blkio.weight_device", f"{dev} {w}"))
        lw = _int(d, "leafWeight", "blockIO.weightDevice")
        if lw and not v2:
            out.append(("blkio", "blkio.leaf_weight_device", f"{dev} {lw}"))
    throttles = (
        ("throttleReadBpsDevice", "read_bps_device", "rbps"),
        ("throttleWriteBpsDevice", "write_bps_device", "wbps"),
        ("throttleReadIOPSDevice", "read_iops_device", "riops"),
        ("throttleWriteIOPSDevice", "write_iops_device", "wiops"),
    )
    for key, v1_file, v2_key in throttles:
        for d in bio.get(key) or []:
            dev = _dev(d, f"blockIO.{key}")
            rate = _int(d, "rate", f"blockIO.{key}")
            if rate is None:
                raise CgroupError(f"linux.resources.blockIO.{key}: rate is required")
            if v2:
                out.append(("io", "io.max", f"{dev} {v2_key}={rate if rate else 'max'}"))
            else:
                out.append(("blkio", f"blkio.throttle.{v1_file}", f"{dev} {rate}"))
    return out


def _hugepages(limits: list[Any], v2: bool) -> list[Write]:
    out: list[Write] = []
    for h in limits:
        size = h.get("pageSize") if isinstance(h, dict) else None
        if not isinstance(size, str) or not size or "/" in size or "." in size:
            raise CgroupError(f"linux.resources.hugepageLimits: bad pageSize {size!r}")
        limit = _int(h, "limit", "hugepageLimits")
        if limit is None:
            raise CgroupError("linux.resources.hugepageLimits: limit is required")
        name = f"hugetlb.{size}.max" if v2 else f"hugetlb.{size}.limit_in_bytes"
        out.append(("hugetlb", name, _limit(limit, v2)))
    return out


def _network(net: dict[str, Any], v2: bool) -> list[Write]:
    out: list[Write] = []
    class_id = _int(net, "classID", "network")
    prios = net.get("priorities") or []
    if v2 and (class_id is not None or prios):
        raise CgroupError("linux.resources.network is not supported on cgroup v2")
    if class_id is not None:
        out.append(("net_cls", "net_cls.classid", str(class_id)))
    for p in prios:
        name, prio = p.get("name"), _int(p, "priority", "network.priorities")
        if not isinstance(name, str) or not name or prio is None:
            raise CgroupError("linux.resources.network.priorities: name and priority required")
        out.append(("net_prio", "net_prio.ifpriomap", f"{name} {prio}"))
    return out


def _unified(unified: dict[str, Any], v2: bool) -> list[Write]:
    out: list[Write] = []
    if unified and not v2:
        raise CgroupError("linux.resources.unified needs cgroup v2 (this host uses v1)")
    for key, value in unified.items():
        if (
            not isinstance(key, str)
            or "/" in key
            or key.startswith(".")
            or "." not in key
            or not isinstance(value, str)
        ):
            raise CgroupError(f"linux.resources.unified: bad entry {key!r}")
        out.append((key.split(".", 1)[0], key, value))
    return out


def plan_resources(resources: dict[str, Any] | None, mode: Mode) -> list[Write]:
    """The cgroup file writes for an OCI ``linux.resources`` object, in order."""
    if not resources:
        return []
    if not isinstance(resources, dict):
        raise CgroupError("linux.resources must be an object")
    v2 = mode == "v2"
    out: list[Write] = []
    out += _devices(resources.get("devices") or [], v2)
    out += _memory(resources.get("memory") or {}, v2)
    out += _cpu(resources.get("cpu") or {}, v2)
    pids = resources.get("pids") or {}
    limit = _int(pids, "limit", "pids")
    if limit is not None:
        out.append(("pids", "pids.max", UNLIMITED_V2 if limit <= 0 else str(limit)))
    out += _blockio(resources.get("blockIO") or {}, v2)
    out += _hugepages(resources.get("hugepageLimits") or [], v2)
    out += _network(resources.get("network") or {}, v2)
    if resources.get("rdma"):
        raise CgroupError("linux.resources.rdma is not supported")
    out += _unified(resources.get("unified") or {}, v2)
    return out
