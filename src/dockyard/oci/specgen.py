"""Image config + Docker container-create request → OCI runtime-spec ``config.json``.

Pure: everything from the host (the rootfs's /etc/passwd and /etc/group contents, the
paths of the /etc/hosts, /etc/resolv.conf and /etc/hostname files, named volumes' host
directories, device nodes) is handed in by the caller. The result carries Docker's
defaults (see :mod:`dockyard.oci.defaults`): 14 capabilities, the default seccomp
profile evaluated for the container's capabilities, architecture and kernel, masked and
read-only paths, private IPC with a 64 MB /dev/shm, cgroupsPath ``/dockyard/<id>``.

Errors are :class:`SpecError` with Docker's messages; the daemon maps them to 400.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dockyard.oci import defaults as D

__all__ = [
    "ExecUser",
    "MountRequest",
    "SpecError",
    "combine_command",
    "device_from_stat",
    "etc_hosts_content",
    "evaluate_seccomp",
    "generate_spec",
    "merge_env",
    "normalize_capabilities",
    "parse_bind",
    "parse_device",
    "parse_extra_host",
    "parse_group",
    "parse_mounts",
    "parse_passwd",
    "resolve_user",
    "tweak_capabilities",
]

_MIN_MEMORY = 6 * 1024 * 1024
_CPU_PERIOD = 100_000
_PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
_NAMESPACED_SYSCTLS = ("kernel.sem", "kernel.domainname", "kernel.hostname")
_GOARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "armv6l": "arm",
    "i686": "386",
    "i386": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "mips64": "mips64",
}
_SCMP_ARCH = {
    "amd64": "SCMP_ARCH_X86_64",
    "arm64": "SCMP_ARCH_AARCH64",
    "arm": "SCMP_ARCH_ARM",
    "386": "SCMP_ARCH_X86",
    "ppc64le": "SCMP_ARCH_PPC64LE",
    "s390x": "SCMP_ARCH_S390X",
    "riscv64": "SCMP_ARCH_RISCV64",
    "mips64": "SCMP_ARCH_MIPS64",
}


class SpecError(ValueError):
    """The request cannot become a runtime spec; the message is Docker's."""


# ---------------------------------------------------------------- users and groups


@dataclass(frozen=True)
class PasswdEntry:
    name: str
    uid: int
    gid: int
    home: str


@dataclass(frozen=True)
class GroupEntry:
    name: str
    gid: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class ExecUser:
    uid: int
    gid: int
    additional_gids: tuple[int, ...] = ()
    home: str = "/"


def parse_passwd(text: str) -> list[PasswdEntry]:
    """Entries of an /etc/passwd file; malformed lines are skipped (as libc does)."""
    out = []
    for line in text.splitlines():
        parts = line.strip().split(":")
        if len(parts) < 4 or not parts[0] or line.startswith("#"):
            continue
        try:
            uid, gid = int(parts[2]), int(parts[3])
        except ValueError:
            continue
        home = parts[5] if len(parts) > 5 else ""
        out.append(PasswdEntry(parts[0], uid, gid, home))
    return out


def parse_group(text: str) -> list[GroupEntry]:
    out = []
    for line in text.splitlines():
        parts = line.strip().split(":")
        if len(parts) < 3 or not parts[0] or line.startswith("#"):
            continue
        try:
            gid = int(parts[2])
        except ValueError:
            continue
        members = tuple(m for m in (parts[3].split(",") if len(parts) > 3 else []) if m)
        out.append(GroupEntry(parts[0], gid, members))
    return out


def _numeric(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def resolve_user(
    user: str,
    passwd_text: str | None,
    group_text: str | None,
    group_add: Sequence[str] = (),
) -> ExecUser:
    """Docker's ``--user name|uid[:group|gid]`` against the image's passwd and group files."""
    users = parse_passwd(passwd_text or "")
    groups = parse_group(group_text or "")
    spec = user or "0"
    user_part, _, group_part = spec.partition(":")
    user_part = user_part or "0"
    uid_num = _numeric(user_part)
    entry = next(
        (u for u in users if (u.uid == uid_num if uid_num is not None else u.name == user_part)),
        None,
    )
    if entry is None:
        if uid_num is None:
            raise SpecError(f"unable to find user {user_part}: no matching entries in passwd file")
        uid, gid, home, name = uid_num, 0, "/", None
    else:
        uid, gid, home, name = entry.uid, entry.gid, entry.home or "/", entry.name
    if group_part:
        gid_num = _numeric(group_part)
        if gid_num is not None:
            gid = gid_num
        else:
            g = next((g for g in groups if g.name == group_part), None)
            if g is None:
                raise SpecError(
                    f"unable to find group {group_part}: no matching entries in group file"
                )
            gid = g.gid
    # The primary group is a supplementary one too, as dockerd (containerd) sets them up.
    extra: list[int] = [gid]
    if name is not None and not group_part:
        # Supplementary groups come from membership lists, as initgroups() does.
        extra += [g.gid for g in groups if name in g.members]
    for add in group_add:
        num = _numeric(add)
        if num is None:
            g = next((g for g in groups if g.name == add), None)
            if g is None:
                raise SpecError(f"Unable to find group {add}: no matching entries in group file")
            num = g.gid
        extra.append(num)
    seen: list[int] = []
    for gid_extra in extra:
        if gid_extra not in seen:
            seen.append(gid_extra)
    return ExecUser(uid, gid, tuple(seen), home)


# ---------------------------------------------------------------- env and command


def _env_key(item: str) -> str:
    return item.split("=", 1)[0]


def merge_env(*layers: Sequence[str] | None) -> list[str]:
    """Later layers replace earlier ``KEY=value`` entries in place; new keys are appended.

    A bare ``KEY`` (no ``=``) in a later layer removes the key, as Docker's
    ReplaceOrAppendEnvValues does.
    """
    out: list[str] = []
    index: dict[str, int] = {}
    for layer in layers:
        for item in layer or ():
            key = _env_key(item)
            if "=" not in item:
                if key in index:
                    out[index[key]] = ""
                    del index[key]
                continue
            if key in index:
                out[index[key]] = item
            else:
                index[key] = len(out)
                out.append(item)
    return [e for e in out if e]


def _strslice(value: Any) -> list[str] | None:
    """Docker's StrSlice: null, a string (one element) or a list of strings."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise SpecError(f"invalid command: {value!r}")


def combine_command(image_config: Mapping[str, Any], create: Mapping[str, Any]) -> list[str]:
    """Docker's Entrypoint/Cmd rules.

    A request Entrypoint (even ``[]`` or ``""``) replaces the image's; the image's Cmd is
    used only when the request gives neither a Cmd nor a non-empty Entrypoint.
    """
    req_ep = _strslice(create.get("Entrypoint"))
    req_cmd = _strslice(create.get("Cmd"))
    img_ep = _strslice(image_config.get("Entrypoint")) or []
    img_cmd = _strslice(image_config.get("Cmd")) or []
    if req_ep == [""]:
        req_ep = []
    if req_ep:
        args = req_ep + (req_cmd or [])
    else:
        cmd = req_cmd if req_cmd else img_cmd
        ep = img_ep if req_ep is None else []
        args = ep + cmd
    if not args:
        raise SpecError("No command specified")
    return args


# ---------------------------------------------------------------- capabilities


def normalize_capabilities(caps: Sequence[str], what: str) -> list[str]:
    out = []
    for c in caps:
        name = c.strip().upper()
        if name != "ALL" and not name.startswith("CAP_"):
            name = "CAP_" + name
        if name != "ALL" and name not in D.ALL_CAPABILITIES:
            raise SpecError(f'invalid {what}: unknown capability: "{name}"')
        out.append(name)
    return out


def tweak_capabilities(adds: Sequence[str], drops: Sequence[str], privileged: bool) -> list[str]:
    """Docker's TweakCapabilities over its 14 defaults."""
    if privileged:
        return list(D.ALL_CAPABILITIES)
    drop = normalize_capabilities(drops, "CapDrop")
    add = normalize_capabilities(adds, "CapAdd")
    if "ALL" in add:
        caps = [c for c in D.ALL_CAPABILITIES if c not in drop]
    elif "ALL" in drop:
        caps = list(add)
    else:
        caps = [c for c in D.DEFAULT_CAPABILITIES if c not in drop] + add
    out: list[str] = []
    for c in caps:
        if c not in out and c != "ALL":
            out.append(c)
    return out


# ---------------------------------------------------------------- seccomp


def _kernel_tuple(version: str) -> tuple[int, ...]:
    nums = []
    for part in version.split("-")[0].split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        if not digits:
            break
        nums.append(int(digits))
    return tuple(nums)


def evaluate_seccomp(
    profile: Mapping[str, Any],
    caps: Sequence[str],
    arch: str,
    kernel: str,
) -> dict[str, Any]:
    """A Docker seccomp profile → the OCI ``linux.seccomp`` object for one container.

    Rules whose ``includes`` do not all hold (arch listed, every listed cap held, kernel
    at least minKernel) are dropped, and so are rules whose ``excludes`` match (arch listed,
    any listed cap held, kernel at least minKernel).
    """
    goarch = _GOARCH.get(arch, arch)
    kver = _kernel_tuple(kernel)
    out: dict[str, Any] = {"defaultAction": profile.get("defaultAction", "SCMP_ACT_ERRNO")}
    if profile.get("defaultErrnoRet") is not None:
        out["defaultErrnoRet"] = profile["defaultErrnoRet"]
    arch_map = profile.get("archMap") or {}
    if isinstance(arch_map, list):  # Docker's own shape: a list of {architecture, subs}
        arch_map = {a["architecture"]: a.get("subArchitectures") or [] for a in arch_map}
    native = _SCMP_ARCH.get(goarch)
    if native is not None and native in arch_map:
        out["architectures"] = [native, *arch_map[native]]
    elif profile.get("architectures"):
        out["architectures"] = list(profile["architectures"])
    syscalls = []
    for rule in profile.get("syscalls") or []:
        inc = rule.get("includes") or {}
        exc = rule.get("excludes") or {}
        if inc.get("arches") and goarch not in inc["arches"]:
            continue
        if inc.get("caps") and not all(c in caps for c in inc["caps"]):
            continue
        if inc.get("minKernel") and kver < _kernel_tuple(str(inc["minKernel"])):
            continue
        if exc.get("arches") and goarch in exc["arches"]:
            continue
        if exc.get("caps") and any(c in caps for c in exc["caps"]):
            continue
        if exc.get("minKernel") and kver >= _kernel_tuple(str(exc["minKernel"])):
            continue
        names = list(rule.get("names") or ([rule["name"]] if rule.get("name") else []))
        if not names:
            continue
        entry: dict[str, Any] = {"names": names, "action": rule["action"]}
        if rule.get("errnoRet") is not None:
            entry["errnoRet"] = rule["errnoRet"]
        if rule.get("args"):
            entry["args"] = [
                {
                    "index": a["index"],
                    "value": a.get("value", 0),
                    **({"valueTwo": a["valueTwo"]} if a.get("valueTwo") else {}),
                    "op": a["op"],
                }
                for a in rule["args"]
            ]
        syscalls.append(entry)
    out["syscalls"] = syscalls
    return out


# ---------------------------------------------------------------- mounts


@dataclass
class MountRequest:
    """A user mount before it becomes OCI: bind (host path), volume (name) or tmpfs."""

    type: str
    target: str
    source: str = ""
    read_only: bool = False
    propagation: str = ""
    options: list[str] = field(default_factory=list)
    nocopy: bool = False


def _check_target(target: str) -> str:
    if not target.startswith("/"):
        raise SpecError(
            f"invalid mount config: invalid mount path: '{target}' mount path must be absolute"
        )
    clean = posixpath.normpath(target)
    if clean == "/":
        raise SpecError("invalid specification: destination can't be '/'")
    return clean


def parse_bind(spec: str) -> MountRequest:
    """``-v``/Binds syntax: ``src:dst[:opts]`` (absolute src = bind, else a named volume)."""
    parts = spec.split(":")
    if len(parts) == 1:
        # An anonymous volume: only a target.
        return MountRequest("volume", _check_target(parts[0]))
    if len(parts) > 3 or not parts[0] or not parts[1]:
        raise SpecError(f"invalid volume specification: '{spec}'")
    src, dst = parts[0], parts[1]
    opts = parts[2].split(",") if len(parts) == 3 and parts[2] else []
    req = MountRequest(
        "bind" if src.startswith("/") else "volume",
        _check_target(dst),
        posixpath.normpath(src) if src.startswith("/") else src,
    )
    for o in opts:
        if o in ("ro", "rw"):
            req.read_only = o == "ro"
        elif o in _PROPAGATIONS:
            req.propagation = o
        elif o == "nocopy":
            req.nocopy = True
        elif o in ("z", "Z", "consistent", "cached", "delegated"):
            continue  # SELinux relabel and macOS hints: nothing to do here
        else:
            raise SpecError(f"invalid mode: {o}")
    return req


def _tmpfs_options(opts: Sequence[str]) -> list[str]:
    """Docker's tmpfs defaults (noexec, nosuid, nodev) with the user's options on top."""
    flags = {"noexec": "exec", "nosuid": "suid", "nodev": "dev"}
    result = ["noexec", "nosuid", "nodev"]
    for o in opts:
        o = o.strip()
        if not o:
            continue
        for on, off in flags.items():
            if o in (on, off) and (on in result or off in result):
                result = [r for r in result if r not in (on, off)]
        result = [r for r in result if r.split("=", 1)[0] != o.split("=", 1)[0]]
        result.append(o)
    return result


def parse_mounts(create: Mapping[str, Any]) -> list[MountRequest]:
    """All user mounts of a create request: Binds, Mounts and Tmpfs, checked for duplicates."""
    hc = create.get("HostConfig") or {}
    out: list[MountRequest] = [parse_bind(b) for b in hc.get("Binds") or []]
    for m in hc.get("Mounts") or []:
        kind = str(m.get("Type", "volume")).lower()
        target = _check_target(str(m.get("Target") or m.get("Destination") or ""))
        ro = bool(m.get("ReadOnly"))
        if kind == "bind":
            src = str(m.get("Source") or "")
            if not src.startswith("/"):
                raise SpecError(
                    f'invalid mount config for type "bind": invalid mount path: '
                    f"'{src}' mount path must be absolute"
                )
            prop = str((m.get("BindOptions") or {}).get("Propagation") or "")
            out.append(MountRequest("bind", target, posixpath.normpath(src), ro, prop))
        elif kind == "volume":
            nocopy = bool((m.get("VolumeOptions") or {}).get("NoCopy"))
            out.append(
                MountRequest("volume", target, str(m.get("Source") or ""), ro, "", [], nocopy)
            )
        elif kind == "tmpfs":
            t = m.get("TmpfsOptions") or {}
            opts = []
            if t.get("SizeBytes"):
                opts.append(f"size={int(t['SizeBytes'])}")
            if t.get("Mode"):
                opts.append(f"mode={int(t['Mode']):o}")
            out.append(MountRequest("tmpfs", target, "tmpfs", ro, "", _tmpfs_options(opts)))
        else:
            raise SpecError(f"invalid mount config: mount type unknown: {kind!r}")
    for target, opts in (hc.get("Tmpfs") or {}).items():
        req = MountRequest(
            "tmpfs", _check_target(target), "tmpfs", False, "", _tmpfs_options(opts.split(","))
        )
        out.append(req)
    seen: set[str] = set()
    for r in out:
        if r.target in seen:
            raise SpecError(f"Duplicate mount point: {r.target}")
        seen.add(r.target)
    return out


# ---------------------------------------------------------------- devices


def parse_device(spec: str) -> tuple[str, str, str]:
    """``--device host[:container][:perms]`` → (host path, container path, cgroup perms)."""
    parts = spec.split(":")
    perms = "rwm"
    if len(parts) == 3:
        host, cont, perms = parts
    elif len(parts) == 2:
        if parts[1] and all(ch in "rwm" for ch in parts[1]):
            host, cont, perms = parts[0], parts[0], parts[1]
        else:
            host, cont = parts
    elif len(parts) == 1:
        host = cont = parts[0]
    else:
        raise SpecError(f"invalid device specification: {spec}")
    if not perms or any(ch not in "rwm" for ch in perms):
        raise SpecError(f"invalid device mode: {perms}")
    if not host.startswith("/") or not cont.startswith("/"):
        raise SpecError(f"invalid device specification: {spec}")
    return host, cont, perms


def device_from_stat(
    path: str, st_mode: int, st_rdev: int, st_uid: int = 0, st_gid: int = 0
) -> dict[str, Any]:
    """An OCI linux.devices entry from a host device node's stat fields."""
    import stat

    if stat.S_ISCHR(st_mode):
        kind = "c"
    elif stat.S_ISBLK(st_mode):
        kind = "b"
    else:
        raise SpecError(
            "error gathering device information while adding custom device "
            f'"{path}": not a device node'
        )
    return {
        "path": path,
        "type": kind,
        "major": os.major(st_rdev),
        "minor": os.minor(st_rdev),
        "fileMode": stat.S_IMODE(st_mode),
        "uid": st_uid,
        "gid": st_gid,
    }


# ---------------------------------------------------------------- hosts


def parse_extra_host(spec: str) -> tuple[str, str]:
    """``--add-host name:ip`` (or ``name=ip``) → (name, ip)."""
    sep = "=" if "=" in spec else ":"
    name, _, ip = spec.partition(sep)
    if ip.startswith("[") and ip.endswith("]"):
        ip = ip[1:-1]
    if not name or not ip:
        raise SpecError(f'invalid argument "{spec}" for "--add-host" flag')
    import ipaddress

    if ip != "host-gateway":
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise SpecError(f"invalid IP address in add-host: {ip!r}") from None
    return name, ip


def etc_hosts_content(
    hostname: str,
    extra_hosts: Sequence[str] = (),
    ip: str | None = None,
    domainname: str = "",
) -> str:
    """The container's /etc/hosts, in Docker's layout."""
    lines = [
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "fe00::0\tip6-localnet",
        "ff00::0\tip6-mcastprefix",
        "ff02::1\tip6-allnodes",
        "ff02::2\tip6-allrouters",
    ]
    for spec in extra_hosts:
        name, addr = parse_extra_host(spec)
        lines.append(f"{addr}\t{name}")
    if ip:
        fqdn = f"{hostname}.{domainname}" if domainname else ""
        lines.append(f"{ip}\t{fqdn + ' ' if fqdn else ''}{hostname}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the spec


def _security_opts(opts: Sequence[str]) -> tuple[bool, str | None]:
    """(no-new-privileges, seccomp: None for default, "unconfined", or a JSON profile)."""
    nnp = False
    seccomp: str | None = None
    for opt in opts:
        if opt == "no-new-privileges":
            nnp = True
            continue
        sep = "=" if "=" in opt else ":"
        key, _, value = opt.partition(sep)
        if key == "no-new-privileges":
            if value not in ("true", "false"):
                raise SpecError(f"invalid --security-opt 2: {opt!r}")
            nnp = value == "true"
        elif key == "seccomp":
            seccomp = value
        elif key in ("apparmor", "label", "systempaths", "writable-cgroups"):
            continue  # no AppArmor/SELinux here; the rest is handled by the caller if at all
        else:
            raise SpecError(f'Invalid --security-opt: "{opt}"')
    return nnp, seccomp


def _rlimits(ulimits: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    # Docker sets no rlimit of its own: the container inherits the daemon's (containerd's)
    # limits unless --ulimit is given. Raising a hard limit may be refused (EPERM) when the
    # engine itself runs without CAP_SYS_RESOURCE, so we do not invent defaults either.
    limits: dict[str, dict[str, Any]] = {}
    for u in ulimits:
        name = str(u.get("Name", ""))
        kind = D.ULIMIT_NAMES.get(name)
        if kind is None:
            raise SpecError(f"invalid ulimit type: {name}")
        soft, hard = int(u.get("Soft", 0)), int(u.get("Hard", 0))
        if soft > hard and hard != -1:
            raise SpecError(
                f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
            )
        limits[kind] = {
            "type": kind,
            "hard": hard & 0xFFFFFFFFFFFFFFFF,
            "soft": soft & 0xFFFFFFFFFFFFFFFF,
        }
    return list(limits.values())


def _resources(hc: Mapping[str, Any], ncpu: int) -> dict[str, Any]:
    res: dict[str, Any] = {"devices": [dict(r) for r in D.DEFAULT_DEVICE_RULES]}
    memory = int(hc.get("Memory") or 0)
    swap = int(hc.get("MemorySwap") or 0)
    reservation = int(hc.get("MemoryReservation") or 0)
    if memory < 0:
        raise SpecError("invalid memory limit: it cannot be negative")
    if 0 < memory < _MIN_MEMORY:
        raise SpecError("Minimum memory limit allowed is 6MB")
    if swap > 0 and memory == 0:
        raise SpecError(
            "You should always set the Memory limit when using Memoryswap limit, see usage"
        )
    if swap > 0 and swap < memory:
        raise SpecError("Minimum memoryswap limit should be larger than memory limit, see usage")
    if 0 < reservation < _MIN_MEMORY:
        raise SpecError("Minimum memory reservation allowed is 6MB")
    mem: dict[str, Any] = {}
    if memory:
        mem["limit"] = memory
        mem["swap"] = swap if swap else 2 * memory  # Docker: swap defaults to twice memory
    elif swap == -1:
        mem["swap"] = -1
    if reservation:
        mem["reservation"] = reservation
    if hc.get("OomKillDisable"):
        mem["disableOOMKiller"] = True
    if memory and swap == -1:
        mem["swap"] = -1
    if mem:
        res["memory"] = mem

    cpu: dict[str, Any] = {}
    nano = int(hc.get("NanoCpus") or hc.get("NanoCPUs") or 0)
    quota = int(hc.get("CpuQuota") or 0)
    period = int(hc.get("CpuPeriod") or 0)
    if nano:
        if period:
            raise SpecError("Conflicting options: Nano CPUs and CPU Period cannot both be set")
        if quota:
            raise SpecError("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
        if nano < 0 or nano > ncpu * 1_000_000_000:
            raise SpecError(
                f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
            )
        cpu["period"] = _CPU_PERIOD
        cpu["quota"] = nano * _CPU_PERIOD // 1_000_000_000
    if period:
        if not 1000 <= period <= 1_000_000:
            raise SpecError(
                "CPU cfs period can not be less than 1ms (i.e. 1000) "
                "or larger than 1s (i.e. 1000000)"
            )
        cpu["period"] = period
    if quota:
        if 0 < quota < 1000:
            raise SpecError("CPU cfs quota can not be less than 1ms (i.e. 1000)")
        cpu["quota"] = quota
    shares = int(hc.get("CpuShares") or 0)
    if shares:
        if shares < 0:
            raise SpecError("invalid CPU shares: it cannot be negative")
        cpu["shares"] = max(2, min(shares, 262144))
    if hc.get("CpusetCpus"):
        cpu["cpus"] = str(hc["CpusetCpus"])
    if hc.get("CpusetMems"):
        cpu["mems"] = str(hc["CpusetMems"])
    if cpu:
        res["cpu"] = cpu
    pids = hc.get("PidsLimit")
    if pids is not None and int(pids) > 0:
        res["pids"] = {"limit": int(pids)}
    if hc.get("BlkioWeight"):
        weight = int(hc["BlkioWeight"])
        if not 10 <= weight <= 1000:
            raise SpecError("Range of blkio weight is from 10 to 1000")
        res["blockIO"] = {"weight": weight}
    return res


def _check_sysctls(sysctls: Mapping[str, str], host_net: bool, host_ipc: bool) -> dict[str, str]:
    out = {}
    for key, value in sysctls.items():
        ipc = key.startswith(("kernel.msg", "kernel.shm", "fs.mqueue.")) or key == "kernel.sem"
        net = key.startswith("net.")
        if not (ipc or net or key in _NAMESPACED_SYSCTLS):
            raise SpecError(f"sysctl '{key}' is not whitelisted")
        if net and host_net:
            raise SpecError(f"sysctl '{key}' is not allowed in host network namespace")
        if ipc and host_ipc:
            raise SpecError(f"sysctl '{key}' is not allowed in host IPC namespace")
        out[key] = str(value)
    return out


def _paths_or(value: Any, default: Sequence[str]) -> Sequence[str]:
    if value is None:
        return default
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise SpecError("invalid masked or read-only paths: a list of paths is expected")
    return value


def _depth(path: str) -> int:
    return len([p for p in path.split("/") if p])


def generate_spec(
    image_config: Mapping[str, Any] | None,
    create: Mapping[str, Any],
    *,
    rootfs: str,
    hostname: str,
    container_id: str,
    mounts_extra: Sequence[Mapping[str, Any]] = (),
    etc_files: Mapping[str, str] | None = None,
    passwd: str | None = None,
    group: str | None = None,
    volume_paths: Mapping[str, str] | None = None,
    device_lookup: Callable[[str], Mapping[str, Any]] | None = None,
    namespace_paths: Mapping[str, str] | None = None,
    init_path: str | None = None,
    arch: str | None = None,
    kernel: str | None = None,
    ncpu: int | None = None,
    cgroup_parent: str = "/dockyard",
    seccomp_profile: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The runtime spec for a container (see the module docstring).

    - ``image_config``: the image config's ``config`` section (Env, Entrypoint, Cmd, …).
    - ``create``: the POST /containers/create body (with its HostConfig).
    - ``mounts_extra``: OCI mounts appended last (already resolved by the caller).
    - ``etc_files``: host paths for ``/etc/hosts``, ``/etc/resolv.conf``, ``/etc/hostname``.
    - ``passwd``/``group``: the image's /etc/passwd and /etc/group contents (or None).
    - ``volume_paths``: named volume → host directory (anonymous ones by their target).
    - ``device_lookup``: host device path → OCI device entry (see :func:`device_from_stat`).
    - ``namespace_paths``: OCI namespace type → path to join (e.g. a prepared netns).
    - ``init_path``: host path of the ``--init`` binary (docker-init / tini).
    - ``arch``/``kernel``/``ncpu``: default to this machine (uname, cpu count).
    """
    img = dict(image_config or {})
    hc: Mapping[str, Any] = create.get("HostConfig") or {}
    uname = os.uname()
    arch = arch or uname.machine
    kernel = kernel or uname.release
    ncpu = ncpu or os.cpu_count() or 1
    privileged = bool(hc.get("Privileged"))
    tty = bool(create.get("Tty"))
    nnp, seccomp_opt = _security_opts(hc.get("SecurityOpt") or [])

    # -- process
    args = combine_command(img, create)
    if hc.get("Init"):
        if not init_path:
            raise SpecError("docker-init binary not found")
        args = ["/sbin/docker-init", "--", *args]
    cwd = str(create.get("WorkingDir") or img.get("WorkingDir") or "/")
    if not cwd.startswith("/"):
        raise SpecError(
            f"the working directory '{cwd}' is invalid, it needs to be an absolute path"
        )
    user = str(create.get("User") or img.get("User") or "")
    group_add = [str(g) for g in hc.get("GroupAdd") or []]
    exec_user = resolve_user(user, passwd, group, group_add)
    base_env = [f"PATH={D.DEFAULT_PATH_ENV}", f"HOSTNAME={hostname}"]
    if tty:
        base_env.append("TERM=xterm")
    for item in create.get("Env") or []:
        if not isinstance(item, str) or item.startswith("="):
            raise SpecError(f"invalid environment variable: {item}")
    env = merge_env(base_env, img.get("Env"), create.get("Env"))
    if not any(e.startswith("HOME=") for e in env):
        env.append(f"HOME={exec_user.home}")
    caps = tweak_capabilities(hc.get("CapAdd") or [], hc.get("CapDrop") or [], privileged)
    oom = hc.get("OomScoreAdj")
    if oom is not None and not -1000 <= int(oom) <= 1000:
        raise SpecError(f"Invalid value {oom}, range for oom score adj is [-1000, 1000]")
    process: dict[str, Any] = {
        "terminal": tty,
        "user": {"uid": exec_user.uid, "gid": exec_user.gid},
        "args": args,
        "env": env,
        "cwd": posixpath.normpath(cwd),
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "rlimits": _rlimits(hc.get("Ulimits") or []),
        "noNewPrivileges": nnp,
    }
    size = create.get("ConsoleSize") or []
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) for v in size)):
        size = [0, 0]
    if tty and size[0] > 0 and size[1] > 0:
        # API 1.42+: the client's terminal size, so the first screen is drawn right.
        process["consoleSize"] = {"height": size[0], "width": size[1]}
    if exec_user.additional_gids:
        process["user"]["additionalGids"] = list(exec_user.additional_gids)
    if oom is not None and int(oom) != 0:
        process["oomScoreAdj"] = int(oom)

    # -- namespaces
    net_mode = str(hc.get("NetworkMode") or "none")
    ipc_mode = str(hc.get("IpcMode") or "private")
    pid_mode = str(hc.get("PidMode") or "")
    uts_mode = str(hc.get("UTSMode") or "")
    host_net, host_ipc = net_mode == "host", ipc_mode == "host"
    if ipc_mode not in ("private", "shareable", "host", "none", "") and not ipc_mode.startswith(
        "container:"
    ):
        raise SpecError(f"invalid IPC mode: {ipc_mode}")
    paths = dict(namespace_paths or {})
    namespaces: list[dict[str, Any]] = [{"type": "mount"}]
    for kind, shared in (
        ("network", host_net),
        ("uts", uts_mode == "host"),
        ("pid", pid_mode == "host"),
        ("ipc", host_ipc),
        ("cgroup", hc.get("CgroupnsMode") != "private"),
    ):
        if kind in paths:
            namespaces.append({"type": kind, "path": paths[kind]})
        elif not shared:
            namespaces.append({"type": kind})

    # -- mounts
    shm_size = int(hc.get("ShmSize") or 0)
    if shm_size < 0:
        raise SpecError("SHM size can not be less than 0")
    mounts = D.default_mounts(shm_size or D.DEFAULT_SHM_SIZE)
    if ipc_mode == "none" or host_ipc or ipc_mode.startswith("container:"):
        # none: no /dev/shm at all; host/container: the caller binds the shared one.
        mounts = [m for m in mounts if m["destination"] != "/dev/shm"]
    if privileged:
        for m in mounts:
            if m["type"] in ("sysfs", "cgroup"):
                m["options"] = [o for o in m["options"] if o != "ro"] + ["rw"]
    user_mounts = _user_mounts(parse_mounts(create), volume_paths or {})
    if hc.get("Init") and init_path:
        user_mounts.append(
            {
                "destination": "/sbin/docker-init",
                "type": "bind",
                "source": init_path,
                "options": ["bind", "ro", "nosuid", "nodev", "rprivate"],
            }
        )
    etc_ro = bool(hc.get("ReadonlyRootfs"))
    for dest in ("/etc/resolv.conf", "/etc/hostname", "/etc/hosts"):
        src = (etc_files or {}).get(dest)
        if src and not any(m["destination"] == dest for m in user_mounts):
            user_mounts.append(
                {
                    "destination": dest,
                    "type": "bind",
                    "source": src,
                    "options": ["rbind", "rprivate", "ro" if etc_ro else "rw"],
                }
            )
    taken = {m["destination"] for m in user_mounts} | {m["destination"] for m in mounts_extra}
    mounts = [m for m in mounts if m["destination"] not in taken]
    user_mounts.sort(key=lambda m: _depth(m["destination"]))
    mounts += user_mounts + [dict(m) for m in mounts_extra]

    # -- linux
    resources = _resources(hc, ncpu)
    devices: list[dict[str, Any]] = []
    for dev_spec in hc.get("Devices") or []:
        if isinstance(dev_spec, str):
            host, cont, perms = parse_device(dev_spec)
        else:
            host = str(dev_spec.get("PathOnHost", ""))
            cont = str(dev_spec.get("PathInContainer") or host)
            perms = str(dev_spec.get("CgroupPermissions") or "rwm")
        if device_lookup is None:
            raise SpecError(
                f'error gathering device information while adding custom device "{host}"'
            )
        dev = dict(device_lookup(host))
        dev["path"] = cont
        devices.append(dev)
        resources["devices"].append(
            {
                "allow": True,
                "type": dev["type"],
                "major": dev["major"],
                "minor": dev["minor"],
                "access": perms,
            }
        )
    if privileged:
        resources["devices"] = [{"allow": True, "access": "rwm"}]
    parent = str(hc.get("CgroupParent") or cgroup_parent)
    if not parent.startswith("/"):
        parent = "/" + parent
    linux: dict[str, Any] = {
        "namespaces": namespaces,
        "resources": resources,
        "cgroupsPath": f"{parent.rstrip('/')}/{container_id}",
        # API 1.40+: HostConfig may carry its own lists (--security-opt systempaths=unconfined
        # sends empty ones).
        "maskedPaths": [] if privileged else list(_paths_or(hc.get("MaskedPaths"), D.MASKED_PATHS)),
        "readonlyPaths": []
        if privileged
        else list(_paths_or(hc.get("ReadonlyPaths"), D.READONLY_PATHS)),
    }
    if devices:
        linux["devices"] = devices
    sysctls = _check_sysctls(hc.get("Sysctls") or {}, host_net, host_ipc)
    if sysctls:
        linux["sysctl"] = sysctls
    if not privileged and seccomp_opt != "unconfined":
        if seccomp_profile is not None:
            profile: Mapping[str, Any] = seccomp_profile
        elif seccomp_opt:
            import json

            try:
                profile = json.loads(seccomp_opt)
            except ValueError as e:
                raise SpecError(f"Decoding seccomp profile failed: {e}") from None
            if not isinstance(profile, dict):
                raise SpecError("Decoding seccomp profile failed: not a JSON object")
        else:
            profile = D.default_seccomp_profile()
        linux["seccomp"] = evaluate_seccomp(profile, caps, arch, kernel)

    spec: dict[str, Any] = {
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": rootfs, "readonly": bool(hc.get("ReadonlyRootfs"))},
        "mounts": mounts,
        "linux": linux,
    }
    if uts_mode != "host":
        spec["hostname"] = hostname
        if create.get("Domainname"):
            spec["domainname"] = str(create["Domainname"])
    stop_signal = create.get("StopSignal") or img.get("StopSignal")
    annotations = {"org.dockyard.container.id": container_id}
    if stop_signal:
        annotations["org.opencontainers.image.stopSignal"] = str(stop_signal)
    spec["annotations"] = annotations
    return spec


def _user_mounts(
    requests: Sequence[MountRequest], volume_paths: Mapping[str, str]
) -> list[dict[str, Any]]:
    out = []
    for r in requests:
        if r.type == "tmpfs":
            opts = list(r.options) + (["ro"] if r.read_only else [])
            out.append(
                {"destination": r.target, "type": "tmpfs", "source": "tmpfs", "options": opts}
            )
            continue
        if r.type == "volume":
            key = r.source or r.target
            src = volume_paths.get(key)
            if src is None:
                raise SpecError(f"no host path for volume {key!r}")
        else:
            src = r.source
        opts = ["rbind", r.propagation or "rprivate", "ro" if r.read_only else "rw"]
        out.append({"destination": r.target, "type": "bind", "source": src, "options": opts})
    return out
