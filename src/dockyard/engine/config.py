"""From a create request and an image config to a container's settled config (pure).

Docker merges the image's defaults into the request at create time, and `inspect`
shows the merged result; the same merged values are what the spec generator gets.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from dockyard.engine.errors import InvalidParameter
from dockyard.engine.restart import Policy
from dockyard.oci import defaults as D
from dockyard.oci.image import container_config

NETWORK_MODES = ("none", "host", "default", "")
NO_BRIDGE = "port publishing needs bridge networking, not available yet"


def container_env(image_env: list[str], req_env: list[str]) -> list[str]:
    """Docker's merge at create: the request's variables as given, then the image's
    variables that the request does not set (so `inspect` lists them in Docker's order)."""
    if not req_env:
        return list(image_env)
    keys = {item.split("=", 1)[0] for item in req_env}
    return [*req_env, *(item for item in image_env if item.split("=", 1)[0] not in keys)]


def _as_list(value: Any, what: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise InvalidParameter(f"invalid {what}: expected a list of strings")


def merge_config(image_cfg: dict[str, Any], req: dict[str, Any], image_ref: str) -> dict[str, Any]:
    """The container's Config: the request with the image's defaults filled in."""
    if (req.get("HostConfig") or {}).get("UTSMode") == "host" and req.get("Hostname"):
        raise InvalidParameter("conflicting options: hostname and the UTS mode")
    cfg = {
        k: copy.deepcopy(v) for k, v in req.items() if k not in ("HostConfig", "NetworkingConfig")
    }
    entry = _as_list(cfg.get("Entrypoint"), "Entrypoint")
    cmd = _as_list(cfg.get("Cmd"), "Cmd")
    if entry is None:
        entry = _as_list(image_cfg.get("Entrypoint"), "image Entrypoint")
        if cmd is None:
            cmd = _as_list(image_cfg.get("Cmd"), "image Cmd")
    elif entry == [""]:
        # `--entrypoint ""` clears the image's entrypoint and, with it, its Cmd default.
        entry = None
    cfg["Entrypoint"] = entry
    cfg["Cmd"] = cmd
    if not entry and not cmd:
        raise InvalidParameter("No command specified")
    cfg["Env"] = container_env(
        list(image_cfg.get("Env") or []), _as_list(cfg.get("Env"), "Env") or []
    )
    for key in ("WorkingDir", "User", "StopSignal"):
        if not cfg.get(key) and image_cfg.get(key):
            cfg[key] = image_cfg[key]
    labels = dict(image_cfg.get("Labels") or {})
    labels.update(cfg.get("Labels") or {})
    cfg["Labels"] = labels
    if image_cfg.get("ExposedPorts") or cfg.get("ExposedPorts"):
        ports = dict(image_cfg.get("ExposedPorts") or {})
        ports.update(cfg.get("ExposedPorts") or {})
        cfg["ExposedPorts"] = ports
    vols = dict(image_cfg.get("Volumes") or {})
    vols.update(cfg.get("Volumes") or {})
    cfg["Volumes"] = vols or None
    cfg["Image"] = image_ref
    return container_config(cfg)


def command_line(cfg: dict[str, Any]) -> tuple[str, list[str]]:
    """Docker's Path and Args: the first word of entrypoint+cmd, and the rest."""
    words = [*(cfg.get("Entrypoint") or []), *(cfg.get("Cmd") or [])]
    return words[0], words[1:]


def check_host_config(hc: dict[str, Any], runtime: str) -> dict[str, Any]:
    """Validate what this daemon supports and fill Docker's defaults; raises InvalidParameter.
    ``runtime`` is the name of the daemon's one runtime (`docker info`'s DefaultRuntime)."""
    hc = copy.deepcopy(hc)
    if hc.get("Runtime") not in (None, "", runtime):
        raise InvalidParameter(f"Unknown runtime specified {hc['Runtime']}")
    hc["Runtime"] = runtime
    cgroupns = hc.get("CgroupnsMode") or "host"
    if cgroupns not in ("host", "private"):
        raise InvalidParameter(f"invalid cgroup namespace mode: {cgroupns}")
    hc["CgroupnsMode"] = cgroupns
    mode = hc.get("NetworkMode") or "default"
    if mode not in NETWORK_MODES:
        if mode == "bridge":
            raise InvalidParameter(
                'network mode "bridge" needs bridge networking, not available yet; '
                "use --network none or --network host"
            )
        if mode.startswith("container:"):
            raise InvalidParameter('network mode "container:" is not supported yet')
        raise InvalidParameter(f"network {mode} not found")
    hc["NetworkMode"] = "none" if mode in ("default", "") else mode
    pb = hc.get("PortBindings") or {}
    if any(v for v in pb.values()) or hc.get("PublishAllPorts"):
        raise InvalidParameter(NO_BRIDGE)
    Policy.from_host_config(hc)
    if hc.get("AutoRemove") and (hc.get("RestartPolicy") or {}).get("Name") not in (None, "", "no"):
        raise InvalidParameter("can't create 'AutoRemove' container with restart policy")
    for key in ("Memory", "MemorySwap", "NanoCpus", "CpuShares", "PidsLimit", "ShmSize"):
        v = hc.get(key)
        if v is not None and not isinstance(v, int):
            raise InvalidParameter(f"invalid {key}: {v!r} is not an integer")
    if (hc.get("Memory") or 0) < 0:
        raise InvalidParameter("invalid Memory: must be positive")
    if hc.get("Memory") and hc["Memory"] < 6 * 1024 * 1024:
        raise InvalidParameter("Minimum memory limit allowed is 6MB")
    log_cfg = hc.get("LogConfig") or {}
    if log_cfg.get("Type") not in (None, "", "json-file", "local"):
        raise InvalidParameter(f"logger: no log driver named '{log_cfg['Type']}' is registered")
    hc["LogConfig"] = {"Type": "json-file", "Config": dict(log_cfg.get("Config") or {})}
    hc.setdefault("RestartPolicy", {"Name": "no", "MaximumRetryCount": 0})
    if not hc["RestartPolicy"].get("Name"):
        hc["RestartPolicy"]["Name"] = "no"
    hc.setdefault("Binds", None)
    hc.setdefault("AutoRemove", False)
    hc.setdefault("Privileged", False)
    hc.setdefault("ReadonlyRootfs", False)
    hc.setdefault("ShmSize", 64 * 1024 * 1024)
    if not hc["ShmSize"]:
        hc["ShmSize"] = 64 * 1024 * 1024
    _fill_docker_defaults(hc)
    return hc


def _fill_docker_defaults(hc: dict[str, Any]) -> None:
    """What dockerd records at create, so that `inspect` and later `update`s see the values
    in force rather than "unset"."""
    hc["IpcMode"] = hc.get("IpcMode") or "private"
    for key, default in (("MaskedPaths", D.MASKED_PATHS), ("ReadonlyPaths", D.READONLY_PATHS)):
        if hc.get(key) is None:
            hc[key] = None if hc.get("Privileged") else list(default)
    if (hc.get("Memory") or 0) > 0 and not hc.get("MemorySwap"):
        hc["MemorySwap"] = 2 * hc["Memory"]  # swap as large as memory
    if hc.get("MemorySwappiness") == -1:
        hc["MemorySwappiness"] = None
    if hc.get("PidsLimit") is not None and hc["PidsLimit"] <= 0:
        hc["PidsLimit"] = None  # unlimited
    hc.setdefault("KernelMemory", 0)
    hc.setdefault("KernelMemoryTCP", 0)


def check_cpusets(hc: dict[str, Any], cpus: str, mems: str) -> None:
    """--cpuset-cpus/--cpuset-mems against what the host has (``cpus``, ``mems``: its
    cpuset lists), with dockerd's messages, before the kernel's bare ERANGE at start."""
    from dockyard.oci.units import UnitsError, parse_cpuset

    for key, have, what, kind in (
        ("CpusetCpus", cpus, "cpuset cpus", "CPUs"),
        ("CpusetMems", mems, "cpuset mems", "memory nodes"),
    ):
        want = hc.get(key)
        if not want:
            continue
        try:
            asked = parse_cpuset(str(want))
        except UnitsError as e:
            raise InvalidParameter(f"Invalid value {want} for {what}: {e}") from None
        if not asked <= parse_cpuset(have):
            raise InvalidParameter(
                f"Requested {kind} are not available - requested {want}, available: {have}"
            )


def swap_in_force(hc: dict[str, Any]) -> int:
    """The memory+swap limit a container runs with: the recorded one, or Docker's default
    of twice the memory (records made before it was filled in); -1 for none."""
    return int(hc.get("MemorySwap") or 2 * (hc.get("Memory") or 0) or -1)


def swap_conflict(hc: dict[str, Any], update: dict[str, Any]) -> str | None:
    """Docker's refusal of an update that would raise memory above the swap limit in force
    (the kernel would refuse it with a bare EINVAL); None when the update is fine. Unlike
    dockerd 20.10, a container without a swap limit may get a memory limit."""
    memory = update.get("Memory") or 0
    if update.get("MemorySwap") or not memory:
        return None
    if 0 < swap_in_force(hc) < memory:
        return (
            "Memory limit should be smaller than already set memoryswap limit, "
            "update the memoryswap at the same time"
        )
    return None


SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size(value: str) -> int:
    """'10m' -> 10485760 (Docker's RAMInBytes for log-opt max-size)."""
    v = value.strip().lower()
    num = v.rstrip("bkmg")
    unit = v[len(num) :].rstrip("b") if len(v) > len(num) else ""
    if unit not in SIZE_UNITS or not num:
        raise InvalidParameter(f"invalid size: '{value}'")
    try:
        return int(float(num) * SIZE_UNITS[unit])
    except ValueError:
        raise InvalidParameter(f"invalid size: '{value}'") from None


DEFAULT_LOG_MAX_SIZE = 10 * 1024 * 1024
DEFAULT_LOG_MAX_FILE = 3


def log_limits(hc: dict[str, Any]) -> tuple[int, int]:
    """Rotation limits; bounded by default (unbounded logs are Docker's classic trap)."""
    cfg = (hc.get("LogConfig") or {}).get("Config") or {}
    size = parse_size(cfg["max-size"]) if cfg.get("max-size") else DEFAULT_LOG_MAX_SIZE
    try:
        files = int(cfg.get("max-file") or DEFAULT_LOG_MAX_FILE)
    except ValueError:
        raise InvalidParameter(f"invalid max-file: {cfg.get('max-file')!r}") from None
    if files < 1:
        raise InvalidParameter("max-file cannot be less than 1")
    return size, files


@dataclass(frozen=True)
class MountPlan:
    """One mount the container gets: a bind of a host path, a named volume, or a tmpfs."""

    type: str  # bind, volume, tmpfs
    source: str  # host path, volume name ("" for an anonymous one), or ""
    destination: str
    read_only: bool = False
    options: tuple[str, ...] = ()
    from_image: bool = False  # declared by the image's Volumes, not by the request
    listed: bool = True  # in inspect's Mounts (Docker leaves --tmpfs ones to HostConfig.Tmpfs)


def parse_bind(spec: str) -> MountPlan:
    """`/host:/ctr[:ro]` or `name:/ctr[:ro]` or `/ctr` (an anonymous volume)."""
    parts = spec.split(":")
    if len(parts) == 1:
        return MountPlan("volume", "", _dest(parts[0], spec))
    if len(parts) > 3:
        raise InvalidParameter(f"invalid volume specification: '{spec}'")
    src, dst = parts[0], parts[1]
    mode = parts[2] if len(parts) == 3 else ""
    flags = [m for m in mode.split(",") if m]
    for m in flags:
        if m not in (
            "ro",
            "rw",
            "z",
            "Z",
            "private",
            "rprivate",
            "shared",
            "rshared",
            "slave",
            "rslave",
            "nocopy",
        ):
            raise InvalidParameter(f"invalid mode: {m}")
    ro = "ro" in flags
    if not src:
        raise InvalidParameter(f"invalid volume specification: '{spec}'")
    kind = "bind" if src.startswith("/") else "volume"
    return MountPlan(kind, src, _dest(dst, spec), ro)


def _dest(dst: str, spec: str) -> str:
    if not dst.startswith("/"):
        raise InvalidParameter(
            f"invalid volume specification: '{spec}': invalid mount config for type \"volume\": "
            "invalid mount path: '" + dst + "' mount path must be absolute"
        )
    if dst == "/":
        raise InvalidParameter(f"invalid volume specification: '{spec}': destination can't be '/'")
    return dst


def parse_mount(m: dict[str, Any]) -> MountPlan:
    """One entry of HostConfig.Mounts."""
    kind = m.get("Type") or "volume"
    dst = m.get("Target") or m.get("Destination") or ""
    if not dst:
        raise InvalidParameter("invalid mount config: Target must not be empty")
    dst = _dest(dst, dst)
    ro = bool(m.get("ReadOnly"))
    src = m.get("Source") or ""
    if kind == "bind":
        if not src.startswith("/"):
            raise InvalidParameter(
                f"invalid mount config for type \"bind\": invalid mount path: '{src}'"
            )
        return MountPlan("bind", src, dst, ro)
    if kind == "volume":
        return MountPlan("volume", src, dst, ro)
    if kind == "tmpfs":
        if src:
            raise InvalidParameter('invalid mount config for type "tmpfs": source must be empty')
        opts = m.get("TmpfsOptions") or {}
        o: list[str] = []
        if opts.get("SizeBytes"):
            o.append(f"size={int(opts['SizeBytes'])}")
        if opts.get("Mode"):
            o.append(f"mode={int(opts['Mode']):o}")
        return MountPlan("tmpfs", "", dst, ro, tuple(o))
    raise InvalidParameter(f"mount type unknown: {kind!r}")


def mount_plans(cfg: dict[str, Any], hc: dict[str, Any]) -> list[MountPlan]:
    """Every mount of the container; later ones win on the same destination, as in Docker."""
    plans: list[MountPlan] = []
    for spec in hc.get("Binds") or []:
        plans.append(parse_bind(spec))
    for m in hc.get("Mounts") or []:
        plans.append(parse_mount(m))
    for dst, opts in (hc.get("Tmpfs") or {}).items():
        plans.append(
            MountPlan(
                "tmpfs",
                "",
                _dest(dst, dst),
                False,
                tuple(o for o in str(opts).split(",") if o),
                listed=False,
            )
        )
    seen = {p.destination for p in plans}
    for dst in cfg.get("Volumes") or {}:
        if dst not in seen:
            plans.append(MountPlan("volume", "", _dest(dst, dst), from_image=True))
    by_dest: dict[str, MountPlan] = {}
    for p in plans:
        if p.destination in by_dest:
            raise InvalidParameter(f"Duplicate mount point: {p.destination}")
        by_dest[p.destination] = p
    return plans
