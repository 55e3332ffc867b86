"""`run`/`create` flags and their conversion to the Engine API create body (pure).

The body is what the docker CLI sends: {Config fields..., "HostConfig": {...},
"NetworkingConfig": {...}}; field semantics follow the CLI's opts parsing."""

from __future__ import annotations

import os

from dockyard.cli import units
from dockyard.cli.errors import UsageError
from dockyard.cli.flags import BOOL, INT, LIST, STR, Flag, Options

RUN_ONLY_FLAGS: tuple[Flag, ...] = (
    Flag("detach", "d", BOOL, "Run container in background and print container ID"),
    Flag("sig-proxy", "", BOOL, "Proxy received signals to the process", default=True),
    Flag("detach-keys", "", STR, "Override the key sequence for detaching a container"),
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any


def _env_name(text: str) -> str:
    if text.startswith("="):
        raise ValueError(f"invalid environment variable: {text}")
    return text


def _check_restart(text: str) -> str:
    parse_restart(text)
    return text


def _check_ulimit(text: str) -> dict[str, Any]:
    return parse_ulimit(text)


def _check_device(text: str) -> dict[str, str]:
    return parse_device(text)


def _check_mount(text: str) -> dict[str, Any]:
    return parse_mount(text)


def _check_sysctl(text: str) -> str:
    if "=" not in text:
        raise ValueError(f"sysctl '{text}' is not allowed")
    return text


def _check_host(text: str) -> str:
    name, sep, addr = (
        text.replace("=", ":", 1).partition(":") if "=" in text else (text.partition(":"))
    )
    if not sep or not name or not addr:
        raise ValueError(f"bad format for add-host: {text!r}")
    return f"{name}:{addr}"


def _check_tmpfs(text: str) -> str:
    if not text.startswith("/"):
        raise ValueError(f"invalid mount path: {text!r}: mount path must be absolute")
    return text


def _check_port(text: str) -> str:
    parse_port(text)
    return text


CREATE_FLAGS: tuple[Flag, ...] = (
    Flag("add-host", "", LIST, "Add a custom host-to-IP mapping (host:ip)", convert=_check_host),
    Flag("attach", "a", LIST, "Attach to STDIN, STDOUT or STDERR"),
    Flag("cap-add", "", LIST, "Add Linux capabilities"),
    Flag("cap-drop", "", LIST, "Drop Linux capabilities"),
    Flag("cgroup-parent", "", STR, "Optional parent cgroup for the container"),
    Flag("cidfile", "", STR, "Write the container ID to the file"),
    Flag("cpu-period", "", INT, "Limit CPU CFS (Completely Fair Scheduler) period"),
    Flag("cpu-quota", "", INT, "Limit CPU CFS (Completely Fair Scheduler) quota"),
    Flag("cpu-shares", "c", INT, "CPU shares (relative weight)"),
    Flag("cpus", "", STR, "Number of CPUs", convert=units.nano_cpus, metavar="decimal"),
    Flag("cpuset-cpus", "", STR, "CPUs in which to allow execution (0-3, 0,1)"),
    Flag("cpuset-mems", "", STR, "MEMs in which to allow execution (0-3, 0,1)"),
    Flag("device", "", LIST, "Add a host device to the container", convert=_check_device),
    Flag("dns", "", LIST, "Set custom DNS servers"),
    Flag("dns-option", "", LIST, "Set DNS options"),
    Flag("dns-search", "", LIST, "Set custom DNS search domains"),
    Flag("domainname", "", STR, "Container NIS domain name"),
    Flag("entrypoint", "", STR, "Overwrite the default ENTRYPOINT of the image"),
    Flag("env", "e", LIST, "Set environment variables", convert=_env_name),
    Flag("env-file", "", LIST, "Read in a file of environment variables"),
    Flag("expose", "", LIST, "Expose a port or a range of ports"),
    Flag("group-add", "", LIST, "Add additional groups to join"),
    Flag("hostname", "h", STR, "Container host name"),
    Flag("init", "", BOOL, "Run an init inside the container that forwards signals and reaps"),
    Flag("interactive", "i", BOOL, "Keep STDIN open even if not attached"),
    Flag("ipc", "", STR, "IPC mode to use"),
    Flag("label", "l", LIST, "Set meta data on a container"),
    Flag("label-file", "", LIST, "Read in a line delimited file of labels"),
    Flag("log-driver", "", STR, "Logging driver for the container"),
    Flag("log-opt", "", LIST, "Log driver options"),
    Flag("memory", "m", STR, "Memory limit", convert=units.ram_in_bytes, metavar="bytes"),
    Flag(
        "memory-reservation",
        "",
        STR,
        "Memory soft limit",
        convert=units.ram_in_bytes,
        metavar="bytes",
    ),
    Flag(
        "memory-swap",
        "",
        STR,
        "Swap limit equal to memory plus swap: '-1' to enable unlimited swap",
        convert=units.mem_swap_bytes,
        metavar="bytes",
    ),
    Flag("memory-swappiness", "", INT, "Tune container memory swappiness (0 to 100)", default=-1),
    Flag(
        "mount",
        "",
        LIST,
        "Attach a filesystem mount to the container",
        convert=_check_mount,
        metavar="mount",
    ),
    Flag("name", "", STR, "Assign a name to the container"),
    Flag(
        "network", "", STR, "Connect a container to a network", aliases=("net",), default="default"
    ),
    Flag("oom-kill-disable", "", BOOL, "Disable OOM Killer"),
    Flag("oom-score-adj", "", INT, "Tune host's OOM preferences (-1000 to 1000)"),
    Flag("pid", "", STR, "PID namespace to use"),
    Flag("pids-limit", "", INT, "Tune container pids limit (set -1 for unlimited)"),
    Flag("platform", "", STR, "Set platform if server is multi-platform capable"),
    Flag("privileged", "", BOOL, "Give extended privileges to this container"),
    Flag("publish", "p", LIST, "Publish a container's port(s) to the host", convert=_check_port),
    Flag("publish-all", "P", BOOL, "Publish all exposed ports to random ports"),
    Flag(
        "pull",
        "",
        STR,
        'Pull image before running ("always", "missing", "never")',
        default="missing",
    ),
    Flag("read-only", "", BOOL, "Mount the container's root filesystem as read only"),
    Flag(
        "restart",
        "",
        STR,
        "Restart policy to apply when a container exits",
        convert=_check_restart,
        default="no",
    ),
    Flag("rm", "", BOOL, "Automatically remove the container when it exits"),
    Flag("runtime", "", STR, "Runtime to use for this container"),
    Flag("security-opt", "", LIST, "Security Options"),
    Flag("shm-size", "", STR, "Size of /dev/shm", convert=units.ram_in_bytes, metavar="bytes"),
    Flag("stop-signal", "", STR, "Signal to stop the container"),
    Flag("stop-timeout", "", INT, "Timeout (in seconds) to stop a container"),
    Flag("sysctl", "", LIST, "Sysctl options", convert=_check_sysctl, metavar="map"),
    Flag("tmpfs", "", LIST, "Mount a tmpfs directory", convert=_check_tmpfs),
    Flag("tty", "t", BOOL, "Allocate a pseudo-TTY"),
    Flag("ulimit", "", LIST, "Ulimit options", convert=_check_ulimit, metavar="ulimit"),
    Flag("user", "u", STR, "Username or UID (format: <name|uid>[:<group|gid>])"),
    Flag("userns", "", STR, "User namespace to use"),
    Flag("uts", "", STR, "UTS namespace to use"),
    Flag("volume", "v", LIST, "Bind mount a volume"),
    Flag("volumes-from", "", LIST, "Mount volumes from the specified container(s)"),
    Flag("workdir", "w", STR, "Working directory inside the container"),
)

RUN_FLAGS = tuple(sorted(CREATE_FLAGS + RUN_ONLY_FLAGS, key=lambda f: f.long))


# ------------------------------------------------------------------ value parsers


def parse_restart(text: str) -> dict[str, Any]:
    if not text:
        return {}
    name, _, count = text.partition(":")
    if name not in ("no", "always", "on-failure", "unless-stopped"):
        raise ValueError(f"invalid restart policy '{name}'")
    if count:
        if name != "on-failure":
            raise ValueError(f"maximum retry count cannot be used with restart policy '{name}'")
        try:
            retries = int(count)
        except ValueError:
            raise ValueError(f"maximum retry count must be an integer: {count}") from None
        return {"Name": name, "MaximumRetryCount": retries}
    return {"Name": name, "MaximumRetryCount": 0}


def parse_ulimit(text: str) -> dict[str, Any]:
    name, sep, limits = text.partition("=")
    if not sep or not name:
        raise ValueError(f"invalid ulimit argument: {text}")
    soft_s, _, hard_s = limits.partition(":")
    try:
        soft = int(soft_s)
        hard = int(hard_s) if hard_s else soft
    except ValueError:
        raise ValueError(f"invalid ulimit argument: {text}") from None
    if soft > hard and hard != -1:
        raise ValueError(f"ulimit soft limit must be less than or equal to hard limit: {text}")
    return {"Name": name, "Hard": hard, "Soft": soft}


def parse_device(text: str) -> dict[str, str]:
    parts = text.split(":")
    src = parts[0]
    dst = src
    perms = "rwm"
    if len(parts) == 2:
        if set(parts[1]) <= set("rwm") and parts[1]:
            perms = parts[1]
        else:
            dst = parts[1]
    elif len(parts) == 3:
        dst, perms = parts[1], parts[2]
        if not set(perms) <= set("rwm"):
            raise ValueError(f"invalid device specification: {text}")
    elif len(parts) > 3:
        raise ValueError(f"invalid device specification: {text}")
    if not src:
        raise ValueError(f"invalid device specification: {text}")
    return {"PathOnHost": src, "PathInContainer": dst, "CgroupPermissions": perms}


_MOUNT_TRUE = ("", "1", "true", "True")


def parse_mount(text: str) -> dict[str, Any]:
    mount: dict[str, Any] = {"Type": "volume"}
    bind: dict[str, Any] = {}
    volume: dict[str, Any] = {}
    tmpfs: dict[str, Any] = {}
    for field in text.split(","):
        key, sep, value = field.partition("=")
        key = key.strip().lower()
        if not sep and key not in ("readonly", "ro", "volume-nocopy", "bind-nonrecursive"):
            raise ValueError(f"invalid field '{field}' must be a key=value pair")
        if key == "type":
            if value not in ("bind", "volume", "tmpfs", "npipe", "cluster", "image"):
                raise ValueError(f"invalid mount type: {value!r}")
            mount["Type"] = value
        elif key in ("source", "src"):
            mount["Source"] = value
        elif key in ("target", "dst", "destination"):
            mount["Target"] = value
        elif key in ("readonly", "ro"):
            if value not in (*_MOUNT_TRUE, "0", "false", "False"):
                raise ValueError(f"invalid value for {key}: {value}")
            mount["ReadOnly"] = value in _MOUNT_TRUE
        elif key == "consistency":
            mount["Consistency"] = value
        elif key == "bind-propagation":
            bind["Propagation"] = value
        elif key == "volume-nocopy":
            volume["NoCopy"] = value in _MOUNT_TRUE
        elif key == "volume-label":
            k, _, v = value.partition("=")
            volume.setdefault("Labels", {})[k] = v
        elif key == "volume-driver":
            volume.setdefault("DriverConfig", {})["Name"] = value
        elif key == "volume-opt":
            k, _, v = value.partition("=")
            volume.setdefault("DriverConfig", {}).setdefault("Options", {})[k] = v
        elif key == "tmpfs-size":
            tmpfs["SizeBytes"] = units.ram_in_bytes(value)
        elif key == "tmpfs-mode":
            try:
                tmpfs["Mode"] = int(value, 8)
            except ValueError:
                raise ValueError(f"invalid value for {key}: {value}") from None
        else:
            raise ValueError(f"unexpected key '{key}' in '{field}'")
    if not mount.get("Target"):
        raise ValueError("target is required")
    kind = mount["Type"]
    if bind:
        if kind != "bind":
            raise ValueError(f"cannot mix 'bind-*' options with mount type '{kind}'")
        mount["BindOptions"] = bind
    if volume:
        if kind != "volume":
            raise ValueError(f"cannot mix 'volume-*' options with mount type '{kind}'")
        mount["VolumeOptions"] = volume
    if tmpfs:
        if kind != "tmpfs":
            raise ValueError(f"cannot mix 'tmpfs-*' options with mount type '{kind}'")
        mount["TmpfsOptions"] = tmpfs
    return mount


def parse_port(text: str) -> list[tuple[str, dict[str, str]]]:
    """'8080:80/tcp' -> [('80/tcp', {'HostIp': '', 'HostPort': '8080'})], ranges expanded."""
    spec, _, proto = text.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp", "sctp"):
        raise ValueError(f"invalid proto: {proto}")
    host_ip = ""
    if spec.startswith("["):
        end = spec.find("]")
        host_ip, spec = spec[1:end], spec[end + 2 :]
        parts = spec.split(":")
        host_port, container_port = ([*parts, ""])[:2] if len(parts) == 2 else ("", parts[0])
    else:
        parts = spec.split(":")
        if len(parts) == 1:
            host_port, container_port = "", parts[0]
        elif len(parts) == 2:
            host_port, container_port = parts
        elif len(parts) == 3:
            host_ip, host_port, container_port = parts
        else:
            raise ValueError(f"invalid port format for --publish: {text}")
    c_lo, c_hi = _port_range(container_port, text)
    if host_port:
        h_lo, h_hi = _port_range(host_port, text)
        if h_hi - h_lo != c_hi - c_lo and h_lo != h_hi:
            raise ValueError(f"invalid ranges specified for container and host Ports: {text}")
    out = []
    for i, port in enumerate(range(c_lo, c_hi + 1)):
        hp = ""
        if host_port:
            hp = str(h_lo + i) if h_lo != h_hi else (str(h_lo) if c_lo == c_hi else host_port)
        out.append((f"{port}/{proto}", {"HostIp": host_ip, "HostPort": hp}))
    return out


def _port_range(text: str, whole: str) -> tuple[int, int]:
    lo_s, _, hi_s = text.partition("-")
    try:
        lo = int(lo_s)
        hi = int(hi_s) if hi_s else lo
    except ValueError:
        raise ValueError(f"invalid containerPort: {text}") from None
    if not (0 < lo <= 65535 and 0 < hi <= 65535) or hi < lo:
        raise ValueError(f"invalid port range: {whole}")
    return lo, hi


def read_kv_file(path: str) -> list[str]:
    """Docker's env-file / label-file format: KEY=VALUE lines, '#' comments, KEY alone
    takes the value from the environment."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError as exc:
        raise UsageError(f"open {path}: {exc.strerror.lower() if exc.strerror else exc}") from None
    out = []
    for raw in lines:
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        out.append(line)
    return out


def expand_env(items: list[str], environ: Mapping[str, str]) -> list[str]:
    out = []
    for item in items:
        if "=" in item:
            out.append(item)
        elif item in environ:
            out.append(f"{item}={environ[item]}")
        else:
            out.append(item)
    return out


def _kv_map(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def _security_opts(items: list[str]) -> list[str]:
    out = []
    for opt in items:
        key, sep, value = opt.partition("=")
        if not sep and key != "no-new-privileges":
            key, sep, value = opt.partition(":")
        if (not sep or not value) and key != "no-new-privileges":
            raise UsageError(f'Invalid --security-opt: "{opt}"')
        if key == "seccomp" and value not in ("unconfined", "builtin"):
            import json  # (rare: json costs the CLI's every start ~8 ms)

            try:
                with open(value, encoding="utf-8") as fh:
                    profile = json.load(fh)
            except OSError as exc:
                raise UsageError(
                    f"opening seccomp profile ({value}) failed: open {value}: "
                    f"{(exc.strerror or str(exc)).lower()}"
                ) from None
            except ValueError as exc:
                raise UsageError(
                    f"compacting json for seccomp profile ({value}) failed: {exc}"
                ) from None
            opt = "seccomp=" + json.dumps(profile, separators=(",", ":"))
        out.append(opt)
    return out


def _split_volume(spec: str) -> tuple[str, str, str]:
    """(source, target, mode) of a -v value; source '' for an anonymous volume."""
    parts = spec.split(":")
    if len(parts) == 1:
        return "", parts[0], ""
    if len(parts) == 2:
        if parts[1] and not parts[1].startswith("/") and parts[0].startswith("/"):
            # `/data:ro` would be a target with a mode, which Docker rejects too.
            raise UsageError(f"invalid volume specification: '{spec}'")
        return parts[0], parts[1], ""
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    raise UsageError(f"invalid volume specification: '{spec}'")


def build_create_body(
    opts: Options, environ: Mapping[str, str], cwd: str = ""
) -> tuple[str, dict[str, Any]]:
    """(container name, create body) from parsed run/create options.

    opts.args holds IMAGE [COMMAND [ARG...]]."""
    image, *command = opts.args
    env = []
    for path in opts.list("env_file"):
        env += read_kv_file(path)
    env = expand_env(env + opts.list("env"), environ)
    labels: list[str] = []
    for path in opts.list("label_file"):
        labels += read_kv_file(path)
    labels += opts.list("label")

    binds: list[str] = []
    volumes: dict[str, dict[str, Any]] = {}
    for spec in opts.list("volume"):
        source, target, mode = _split_volume(spec)
        if not target.startswith("/"):
            raise UsageError(
                f"invalid volume specification: '{spec}': invalid mount config "
                'for type "volume": invalid mount path: '
                f"'{target}' mount path must be absolute"
            )
        if not source:
            volumes[target] = {}
            continue
        if source == "." or source.startswith("./") or source == "..":
            source = os.path.normpath(os.path.join(cwd or os.getcwd(), source))
        binds.append(f"{source}:{target}" + (f":{mode}" if mode else ""))

    exposed: dict[str, dict[str, Any]] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in opts.list("publish"):
        for port, binding in parse_port(spec):
            exposed[port] = {}
            bindings.setdefault(port, []).append(binding)
    for spec in opts.list("expose"):
        port, _, proto = spec.partition("/")
        lo, hi = _port_range(port, spec)
        for p in range(lo, hi + 1):
            exposed[f"{p}/{proto or 'tcp'}"] = {}

    tmpfs: dict[str, str] = {}
    for spec in opts.list("tmpfs"):
        path, _, options = spec.partition(":")
        tmpfs[path] = options

    entrypoint: list[str] | None = None
    if opts.str("entrypoint"):
        entrypoint = [opts.str("entrypoint")]
    elif opts.is_set("entrypoint"):
        entrypoint = [""]

    attach = {a.lower() for a in opts.list("attach")}
    for a in attach:
        if a not in ("stdin", "stdout", "stderr"):
            raise UsageError(
                f'invalid argument "{a}" for "-a, --attach" flag: valid '
                "streams are STDIN, STDOUT and STDERR"
            )
    attach_stdin = "stdin" in attach or opts.bool("interactive")
    attach_stdout = "stdout" in attach or not attach
    attach_stderr = "stderr" in attach or not attach
    if opts.bool("detach"):
        if attach:
            raise UsageError("Conflicting options: -a and -d")
        attach_stdin = attach_stdout = attach_stderr = False

    restart = (
        parse_restart(opts.str("restart"))
        if opts.is_set("restart")
        else {"Name": "no", "MaximumRetryCount": 0}
    )
    if opts.bool("rm") and restart.get("Name") not in ("", "no"):
        raise UsageError("Conflicting options: cannot specify both --restart and --rm")

    log_opts = _kv_map(opts.list("log_opt"))
    network = opts.str("network") or "default"
    hostname = opts.str("hostname")
    if len(hostname) > 64:
        raise UsageError(f"invalid hostname: '{hostname}': must be at most 64 characters")

    config: dict[str, Any] = {
        "Hostname": hostname,
        "Domainname": opts.str("domainname"),
        "User": opts.str("user"),
        "AttachStdin": attach_stdin,
        "AttachStdout": attach_stdout,
        "AttachStderr": attach_stderr,
        "Tty": opts.bool("tty"),
        "OpenStdin": opts.bool("interactive"),
        "StdinOnce": bool(opts.bool("interactive") and attach_stdin),
        "Env": env,
        "Cmd": command or None,
        "Image": image,
        "Volumes": volumes,
        "WorkingDir": opts.str("workdir"),
        "Entrypoint": entrypoint,
        "Labels": _kv_map(labels),
    }
    if exposed:
        config["ExposedPorts"] = exposed
    if opts.str("stop_signal"):
        config["StopSignal"] = opts.str("stop_signal")
    if opts.is_set("stop_timeout"):
        config["StopTimeout"] = opts.int("stop_timeout")

    host: dict[str, Any] = {
        "Binds": binds or None,
        "ContainerIDFile": opts.str("cidfile"),
        "LogConfig": {"Type": opts.str("log_driver"), "Config": log_opts},
        "NetworkMode": network,
        "PortBindings": bindings,
        "RestartPolicy": restart,
        "AutoRemove": opts.bool("rm"),
        "VolumeDriver": "",
        "VolumesFrom": opts.list("volumes_from") or None,
        "CapAdd": opts.list("cap_add") or None,
        "CapDrop": opts.list("cap_drop") or None,
        "CgroupnsMode": "",
        "Dns": opts.list("dns"),
        "DnsOptions": opts.list("dns_option"),
        "DnsSearch": opts.list("dns_search"),
        "ExtraHosts": opts.list("add_host") or None,
        "GroupAdd": opts.list("group_add") or None,
        "IpcMode": opts.str("ipc"),
        "Cgroup": "",
        "OomScoreAdj": opts.int("oom_score_adj"),
        "PidMode": opts.str("pid"),
        "Privileged": opts.bool("privileged"),
        "PublishAllPorts": opts.bool("publish_all"),
        "ReadonlyRootfs": opts.bool("read_only"),
        "SecurityOpt": _security_opts(opts.list("security_opt")) or None,
        "UTSMode": opts.str("uts"),
        "UsernsMode": opts.str("userns"),
        "ShmSize": opts.raw("shm_size") or 0,
        "Runtime": opts.str("runtime"),
        "Isolation": "",
        # Resources (flattened into HostConfig as in the API).
        "CpuShares": opts.int("cpu_shares"),
        "Memory": opts.raw("memory") or 0,
        "NanoCpus": opts.raw("cpus") or 0,
        "CgroupParent": opts.str("cgroup_parent"),
        "CpuPeriod": opts.int("cpu_period"),
        "CpuQuota": opts.int("cpu_quota"),
        "CpusetCpus": opts.str("cpuset_cpus"),
        "CpusetMems": opts.str("cpuset_mems"),
        "Devices": opts.list("device"),
        "MemoryReservation": opts.raw("memory_reservation") or 0,
        "MemorySwap": opts.raw("memory_swap") or 0,
        "MemorySwappiness": (
            opts.int("memory_swappiness") if opts.is_set("memory_swappiness") else None
        ),
        "OomKillDisable": opts.bool("oom_kill_disable"),
        "PidsLimit": opts.int("pids_limit") if opts.is_set("pids_limit") else None,
        "Ulimits": opts.list("ulimit") or None,
        "Mounts": opts.list("mount") or None,
    }
    if tmpfs:
        host["Tmpfs"] = tmpfs
    if opts.list("sysctl"):
        host["Sysctls"] = _kv_map(opts.list("sysctl"))
    if opts.is_set("init"):
        host["Init"] = opts.bool("init")

    body: dict[str, Any] = dict(config)
    body["HostConfig"] = host
    endpoints: dict[str, Any] = {}
    if network not in ("default", "bridge", "none", "host") and not network.startswith(
        "container:"
    ):
        endpoints[network] = {}
    body["NetworkingConfig"] = {"EndpointsConfig": endpoints}
    return opts.str("name"), body
