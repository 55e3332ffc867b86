"""Read and validate a bundle's config.json into plain typed values (pure; no syscalls).

Everything that can be rejected is rejected here, in the `create` process, before any
fork: the user gets one clear line and nothing is left behind.
"""

from __future__ import annotations

import os
import posixpath

from dockyard.linux.namespaces import NAMESPACES
from dockyard.oci import fastjson
from dockyard.runtime.errors import ConfigError
from dockyard.runtime.mountopts import MountOptions, parse_mount_options
from dockyard.runtime.record import record

SUPPORTED_HOOKS = (
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
)

RLIMITS: dict[str, int] = {
    "RLIMIT_CPU": 0,
    "RLIMIT_FSIZE": 1,
    "RLIMIT_DATA": 2,
    "RLIMIT_STACK": 3,
    "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5,
    "RLIMIT_NPROC": 6,
    "RLIMIT_NOFILE": 7,
    "RLIMIT_MEMLOCK": 8,
    "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10,
    "RLIMIT_SIGPENDING": 11,
    "RLIMIT_MSGQUEUE": 12,
    "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14,
    "RLIMIT_RTTIME": 15,
}

# sysctl prefix -> namespace it belongs to (only namespaced sysctls may be set).
_SYSCTL_NS = (
    ("kernel.msgmax", "ipc"),
    ("kernel.msgmnb", "ipc"),
    ("kernel.msgmni", "ipc"),
    ("kernel.sem", "ipc"),
    ("kernel.shmall", "ipc"),
    ("kernel.shmmax", "ipc"),
    ("kernel.shmmni", "ipc"),
    ("kernel.shm_rmid_forced", "ipc"),
    ("fs.mqueue.", "ipc"),
    ("net.", "network"),
    ("kernel.hostname", "uts"),
    ("kernel.domainname", "uts"),
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_PERSONALITIES = {"LINUX": 0x0000, "LINUX32": 0x0008}
_DEVICE_TYPES = {"c", "b", "u", "p"}


@record
class Hook:
    path: str
    args: list[str]
    env: list[str]
    timeout: int | None


@record
class Mount:
    destination: str
    type: str
    source: str
    options: MountOptions
    raw_options: list[str]


@record
class Device:
    path: str
    type: str
    major: int
    minor: int
    mode: int
    uid: int
    gid: int


@record
class Process:
    args: list[str]
    env: list[str]
    cwd: str
    terminal: bool = False
    console_size: tuple[int, int] | None = None
    uid: int = 0
    gid: int = 0
    umask: int | None = None
    additional_gids: list[int] = []  # noqa: RUF012 (@record copies it)
    capabilities: dict[str, list[str]] | None = None
    rlimits: list[tuple[int, int, int]] = []  # noqa: RUF012 (@record copies it)
    no_new_privileges: bool = False
    oom_score_adj: int | None = None
    apparmor_profile: str = ""
    selinux_label: str = ""


@record
class Config:
    raw: dict[str, Any]
    bundle: str
    root: str
    root_readonly: bool
    process: Process | None
    hostname: str | None
    domainname: str | None
    namespaces: list[tuple[str, str | None]]
    uid_mappings: list[tuple[int, int, int]]
    gid_mappings: list[tuple[int, int, int]]
    mounts: list[Mount]
    devices: list[Device]
    masked_paths: list[str]
    readonly_paths: list[str]
    sysctls: dict[str, str]
    resources: dict[str, Any] | None
    cgroups_path: str
    seccomp: dict[str, Any] | None
    hooks: dict[str, list[Hook]]
    rootfs_propagation: str
    annotations: dict[str, str]
    personality: int | None
    time_offsets: dict[str, tuple[int, int]]

    def new_ns(self, kind: str) -> bool:
        return any(t == kind and p is None for t, p in self.namespaces)

    def has_ns(self, kind: str) -> bool:
        return any(t == kind for t, _ in self.namespaces)


def _want(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


def _obj(v: Any, where: str) -> dict[str, Any]:
    _want(isinstance(v, dict), f"config.json: {where} must be an object")
    return v  # type: ignore[no-any-return]


def _list(v: Any, where: str) -> list[Any]:
    if v is None:
        return []
    _want(isinstance(v, list), f"config.json: {where} must be an array")
    return v  # type: ignore[no-any-return]


def _str_list(v: Any, where: str) -> list[str]:
    items = _list(v, where)
    _want(all(isinstance(x, str) for x in items), f"config.json: {where} must hold strings")
    return items


def _int(v: Any, where: str, default: int | None = None) -> int:
    if v is None and default is not None:
        return default
    _want(
        isinstance(v, int) and not isinstance(v, bool), f"config.json: {where} must be an integer"
    )
    return int(v)


def load_config_file(bundle: str) -> dict[str, Any]:
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            raw = fastjson.loads(f.read())
    except FileNotFoundError:
        raise ConfigError(f"no config.json in bundle {bundle}") from None
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read {path}: {e}") from None
    return _obj(raw, "the document")


def parse_process(p: dict[str, Any], where: str = "process") -> Process:
    args = _str_list(p.get("args"), f"{where}.args")
    _want(bool(args), f"config.json: {where}.args must not be empty")
    cwd = p.get("cwd", "/")
    _want(isinstance(cwd, str) and cwd.startswith("/"), f"{where}.cwd must be an absolute path")
    user = _obj(p.get("user") or {}, f"{where}.user")
    umask = user.get("umask")
    caps = p.get("capabilities")
    capsets: dict[str, list[str]] | None = None
    if caps is not None:
        caps = _obj(caps, f"{where}.capabilities")
        capsets = {}
        for k in ("bounding", "effective", "permitted", "inheritable", "ambient"):
            capsets[k] = _str_list(caps.get(k), f"{where}.capabilities.{k}")
    rlimits = []
    seen = set()
    for i, r in enumerate(_list(p.get("rlimits"), f"{where}.rlimits")):
        r = _obj(r, f"{where}.rlimits[{i}]")
        name = str(r.get("type"))
        _want(name in RLIMITS, f"config.json: unknown rlimit type {r.get('type')!r}")
        _want(name not in seen, f"config.json: duplicate rlimit {name}")
        seen.add(name)
        soft = _int(r.get("soft"), f"{where}.rlimits[{i}].soft")
        hard = _int(r.get("hard"), f"{where}.rlimits[{i}].hard")
        rlimits.append((RLIMITS[name], soft, hard))
    size = p.get("consoleSize")
    console = None
    if size:
        size = _obj(size, f"{where}.consoleSize")
        console = (_int(size.get("height"), "height", 0), _int(size.get("width"), "width", 0))
    oom = p.get("oomScoreAdj")
    return Process(
        args=args,
        env=_str_list(p.get("env"), f"{where}.env"),
        cwd=posixpath.normpath("/" + cwd.lstrip("/")),
        terminal=bool(p.get("terminal", False)),
        console_size=console,
        uid=_int(user.get("uid"), f"{where}.user.uid", 0),
        gid=_int(user.get("gid"), f"{where}.user.gid", 0),
        umask=None if umask is None else _int(umask, f"{where}.user.umask"),
        additional_gids=[
            _int(g, f"{where}.user.additionalGids")
            for g in _list(user.get("additionalGids"), f"{where}.user.additionalGids")
        ],
        capabilities=capsets,
        rlimits=rlimits,
        no_new_privileges=bool(p.get("noNewPrivileges", False)),
        oom_score_adj=None if oom is None else _int(oom, f"{where}.oomScoreAdj"),
        apparmor_profile=str(p.get("apparmorProfile") or ""),
        selinux_label=str(p.get("selinuxLabel") or ""),
    )


def _mappings(v: Any, where: str) -> list[tuple[int, int, int]]:
    out = []
    for i, m in enumerate(_list(v, where)):
        m = _obj(m, f"{where}[{i}]")
        out.append(
            (
                _int(m.get("containerID"), f"{where}[{i}].containerID"),
                _int(m.get("hostID"), f"{where}[{i}].hostID"),
                _int(m.get("size"), f"{where}[{i}].size"),
            )
        )
    return out


def _hooks(v: Any) -> dict[str, list[Hook]]:
    out: dict[str, list[Hook]] = {}
    if v is None:
        return out
    hooks = _obj(v, "hooks")
    for kind, items in hooks.items():
        _want(kind in SUPPORTED_HOOKS, f"config.json: unknown hook kind {kind!r}")
        lst = []
        for i, h in enumerate(_list(items, f"hooks.{kind}")):
            h = _obj(h, f"hooks.{kind}[{i}]")
            path = h.get("path")
            if not isinstance(path, str) or not path.startswith("/"):
                raise ConfigError(f"config.json: hooks.{kind}[{i}].path must be an absolute path")
            timeout = h.get("timeout")
            if timeout is not None:
                timeout = _int(timeout, f"hooks.{kind}[{i}].timeout")
                _want(timeout > 0, f"config.json: hooks.{kind}[{i}].timeout must be positive")
            lst.append(
                Hook(
                    path=path,
                    args=_str_list(h.get("args"), f"hooks.{kind}[{i}].args") or [path],
                    env=_str_list(h.get("env"), f"hooks.{kind}[{i}].env"),
                    timeout=timeout,
                )
            )
        out[kind] = lst
    return out


def _clean_dest(dest: Any, where: str) -> str:
    if not isinstance(dest, str) or not dest:
        raise ConfigError(f"config.json: {where} must be a path")
    # Relative destinations are taken from the root, as runc does.
    # "/" + dest.lstrip("/"): normpath keeps a leading "//" (POSIX leaves it implementation-
    # defined), which would defeat every comparison with "/proc", "/dev"...
    return posixpath.normpath("/" + dest.lstrip("/"))


def parse_config(raw: dict[str, Any], bundle: str) -> Config:
    bundle = os.path.abspath(bundle)
    _want(isinstance(raw.get("ociVersion"), str), "config.json: ociVersion is missing")
    root = _obj(raw.get("root"), "root")
    rpath = root.get("path")
    if not isinstance(rpath, str) or not rpath:
        raise ConfigError("config.json: root.path is missing")
    rootdir = os.path.normpath(os.path.join(bundle, rpath))
    _want(os.path.isdir(rootdir), f"root filesystem {rootdir} does not exist or is not a directory")

    process = None
    if raw.get("process") is not None:
        process = parse_process(_obj(raw["process"], "process"))

    linux = _obj(raw.get("linux") or {}, "linux")
    namespaces: list[tuple[str, str | None]] = []
    for i, ns in enumerate(_list(linux.get("namespaces"), "linux.namespaces")):
        ns = _obj(ns, f"linux.namespaces[{i}]")
        kind = ns.get("type")
        if not isinstance(kind, str) or kind not in NAMESPACES:
            raise ConfigError(f"config.json: unknown namespace type {kind!r}")
        _want(all(k != kind for k, _ in namespaces), f"config.json: duplicate namespace {kind!r}")
        path = ns.get("path") or None
        if path is not None:
            if not isinstance(path, str):
                raise ConfigError(f"config.json: linux.namespaces[{i}].path must be a string")
            _want(os.path.exists(path), f"namespace path {path} ({kind}) does not exist")
        namespaces.append((kind, path))
    if kind_time := [p for k, p in namespaces if k == "time" and p is None]:
        _want(
            os.path.exists("/proc/self/ns/time"), "time namespaces are not supported by this kernel"
        )
        del kind_time

    uidm = _mappings(linux.get("uidMappings"), "linux.uidMappings")
    gidm = _mappings(linux.get("gidMappings"), "linux.gidMappings")
    new_user = any(k == "user" and p is None for k, p in namespaces)
    if new_user:
        _want(bool(uidm) and bool(gidm), "a new user namespace needs uidMappings and gidMappings")
    else:
        _want(not uidm and not gidm, "uid/gid mappings given without a new user namespace")

    mounts = []
    for i, mt in enumerate(_list(raw.get("mounts"), "mounts")):
        mt = _obj(mt, f"mounts[{i}]")
        opts = _str_list(mt.get("options"), f"mounts[{i}].options")
        parsed = parse_mount_options(opts)
        mtype = mt.get("type") or ""
        if mtype == "bind":
            parsed.flags |= 0x1000  # MS_BIND: a "bind" type without the option is still a bind
        source = mt.get("source") or ""
        _want(isinstance(source, str), f"mounts[{i}].source must be a string")
        if parsed.is_bind:
            _want(source != "", f"config.json: bind mount {mt.get('destination')} has no source")
            if not source.startswith("/"):
                source = os.path.join(bundle, source)
        else:
            _want(mtype != "", f"config.json: mounts[{i}] has no type")
        mounts.append(
            Mount(
                destination=_clean_dest(mt.get("destination"), f"mounts[{i}].destination"),
                type=str(mtype),
                source=source,
                options=parsed,
                raw_options=opts,
            )
        )

    devices = []
    for i, d in enumerate(_list(linux.get("devices"), "linux.devices")):
        d = _obj(d, f"linux.devices[{i}]")
        dtype = str(d.get("type"))
        _want(dtype in _DEVICE_TYPES, f"config.json: linux.devices[{i}].type {dtype!r} is invalid")
        devices.append(
            Device(
                path=_clean_dest(d.get("path"), f"linux.devices[{i}].path"),
                type=dtype,
                major=_int(d.get("major"), "major", 0),
                minor=_int(d.get("minor"), "minor", 0),
                mode=_int(d.get("fileMode"), "fileMode", 0o666),
                uid=_int(d.get("uid"), "uid", 0),
                gid=_int(d.get("gid"), "gid", 0),
            )
        )

    sysctls = _obj(linux.get("sysctl") or {}, "linux.sysctl")
    for key in sysctls:
        ns = next((n for p, n in _SYSCTL_NS if key == p or key.startswith(p)), None)
        _want(ns is not None, f"sysctl {key!r} is not namespaced; it cannot be set in a container")
        _want(
            any(k == ns for k, _ in namespaces),
            f"sysctl {key!r} needs a {ns} namespace in the config",
        )

    hostname = raw.get("hostname")
    domainname = raw.get("domainname")
    if hostname or domainname:
        _want(any(k == "uts" for k, _ in namespaces), "hostname/domainname need a uts namespace")

    personality = None
    if linux.get("personality"):
        dom = str(_obj(linux["personality"], "linux.personality").get("domain"))
        _want(dom in _PERSONALITIES, f"config.json: personality domain {dom!r} is not supported")
        personality = _PERSONALITIES[dom]

    offsets: dict[str, tuple[int, int]] = {}
    for clock, off in _obj(linux.get("timeOffsets") or {}, "linux.timeOffsets").items():
        _want(clock in ("monotonic", "boottime"), f"unknown clock {clock!r} in timeOffsets")
        off = _obj(off, f"linux.timeOffsets.{clock}")
        offsets[clock] = (_int(off.get("secs"), "secs", 0), _int(off.get("nanosecs"), "ns", 0))
    if offsets:
        _want(
            any(k == "time" and p is None for k, p in namespaces),
            "timeOffsets need a new time namespace",
        )

    prop = linux.get("rootfsPropagation") or ""
    _want(
        prop
        in (
            "",
            "private",
            "rprivate",
            "shared",
            "rshared",
            "slave",
            "rslave",
            "unbindable",
            "runbindable",
        ),
        f"config.json: rootfsPropagation {prop!r} is invalid",
    )
    if linux.get("intelRdt"):
        raise ConfigError("linux.intelRdt is not supported by dockyard-runc")
    resources = linux.get("resources")
    return Config(
        raw=raw,
        bundle=bundle,
        root=rootdir,
        root_readonly=bool(root.get("readonly", False)),
        process=process,
        hostname=hostname if isinstance(hostname, str) and hostname else None,
        domainname=domainname if isinstance(domainname, str) and domainname else None,
        namespaces=namespaces,
        uid_mappings=uidm,
        gid_mappings=gidm,
        mounts=mounts,
        devices=devices,
        masked_paths=_str_list(linux.get("maskedPaths"), "linux.maskedPaths"),
        readonly_paths=_str_list(linux.get("readonlyPaths"), "linux.readonlyPaths"),
        sysctls={str(k): str(v) for k, v in sysctls.items()},
        resources=_obj(resources, "linux.resources") if resources is not None else None,
        cgroups_path=str(linux.get("cgroupsPath") or ""),
        seccomp=_obj(linux["seccomp"], "linux.seccomp") if linux.get("seccomp") else None,
        hooks=_hooks(raw.get("hooks")),
        rootfs_propagation=prop,
        annotations={
            str(k): str(v) for k, v in _obj(raw.get("annotations") or {}, "annotations").items()
        },
        personality=personality,
        time_offsets=offsets,
    )
