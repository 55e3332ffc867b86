"""System verbs: info, version, events, system df/prune, daemon stop|status."""

from __future__ import annotations

import os
import signal
import socket
import struct
import time

from dockyard.cli.commands.common import (
    confirm,
    filters_param,
    print_inspect,
    render_format,
)
from dockyard.cli.context import Context
from dockyard.cli.errors import CliError, ConnectError, DaemonError
from dockyard.cli.flags import Options
from dockyard.cli.units import human_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _client_version() -> dict[str, Any]:
    import platform

    from dockyard import __version__
    from dockyard.cli.transport import CLIENT_MAX_VERSION

    return {
        "Version": __version__,
        "ApiVersion": CLIENT_MAX_VERSION,
        "PythonVersion": platform.python_version(),
        "Os": "linux",
        "Arch": platform.machine(),
    }


def version(ctx: Context, opts: Options) -> int:
    client = _client_version()
    server: Any = None
    error: CliError | None = None
    try:
        server = ctx.json("GET", "/version")
    except CliError as exc:
        error = exc
    if opts.str("format"):
        print_inspect(ctx, [{"Client": client, "Server": server}], opts.str("format"))
    else:
        ctx.line("Client:")
        ctx.line(f" Version:           {client['Version']}")
        ctx.line(f" API version:       {ctx.client.version or client['ApiVersion']}")
        ctx.line(f" Python version:    {client['PythonVersion']}")
        ctx.line(f" OS/Arch:           {client['Os']}/{client['Arch']}")
        if server:
            ctx.line("")
            ctx.line(f"Server: {server.get('Platform', {}).get('Name', '')}".rstrip())
            ctx.line(" Engine:")
            ctx.line(f"  Version:          {server.get('Version', '')}")
            ctx.line(
                f"  API version:      {server.get('ApiVersion', '')} (minimum version "
                f"{server.get('MinAPIVersion', '')})"
            )
            ctx.line(f"  OS/Arch:          {server.get('Os', '')}/{server.get('Arch', '')}")
            ctx.line(f"  Kernel version:   {server.get('KernelVersion', '')}")
    if error is not None:
        raise error
    return 0


def info(ctx: Context, opts: Options) -> int:
    data = ctx.json("GET", "/info")
    if opts.str("format"):
        print_inspect(ctx, [data], opts.str("format"))
        return 0
    g = data.get
    lines = [
        "Client:",
        f" Version:    {_client_version()['Version']}",
        "",
        "Server:",
        f" Containers: {g('Containers', 0)}",
        f"  Running: {g('ContainersRunning', 0)}",
        f"  Paused: {g('ContainersPaused', 0)}",
        f"  Stopped: {g('ContainersStopped', 0)}",
        f" Images: {g('Images', 0)}",
        f" Server Version: {g('ServerVersion', '')}",
        f" Storage Driver: {g('Driver', '')}",
        f" Logging Driver: {g('LoggingDriver', '')}",
        f" Cgroup Driver: {g('CgroupDriver', '')}",
        f" Cgroup Version: {g('CgroupVersion', '')}",
        f" Runtimes: {' '.join(sorted((g('Runtimes') or {}).keys()))}",
        f" Default Runtime: {g('DefaultRuntime', '')}",
        f" Security Options: {', '.join(_security_names(g('SecurityOptions')))}",
        f" Kernel Version: {g('KernelVersion', '')}",
        f" Operating System: {g('OperatingSystem', '')}",
        f" OSType: {g('OSType', '')}",
        f" Architecture: {g('Architecture', '')}",
        f" CPUs: {g('NCPU', 0)}",
        f" Total Memory: {_bytes(int(g('MemTotal') or 0))}",
        f" Name: {g('Name', '')}",
        f" ID: {g('ID', '')}",
        f" Docker Root Dir: {g('DockerRootDir', '')}",
        f" Debug Mode: {str(bool(g('Debug'))).lower()}",
    ]
    for line in lines:
        ctx.line(line)
    for warning in g("Warnings") or []:
        ctx.err(str(warning))
    return 0


def _security_names(options: Any) -> list[str]:
    return [str(s).split(",")[0].removeprefix("name=") for s in options or []]


def _bytes(n: int) -> str:
    from dockyard.cli.units import bytes_size

    return bytes_size(n)


def events(ctx: Context, opts: Options) -> int:
    from datetime import UTC, datetime

    from dockyard.cli.commands.containers import _timestamp_param

    now = time.time()
    params = {
        "since": _timestamp_param(opts.str("since"), now),
        "until": _timestamp_param(opts.str("until"), now),
        "filters": filters_param(opts.list("filter")),
    }
    resp = ctx.client.request("GET", "/events", params)
    fmt = opts.str("format")
    for ev in ctx.client.stream_json(resp):
        if not isinstance(ev, dict):
            continue
        if fmt:
            print_inspect(ctx, [ev], fmt)
        else:
            nano = int(ev.get("timeNano") or int(ev.get("time", 0)) * 1_000_000_000)
            moment = datetime.fromtimestamp(nano // 1_000_000_000, UTC)
            stamp = moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{nano % 1_000_000_000:09d}Z"
            actor = ev.get("Actor") or {}
            attrs = actor.get("Attributes") or {}
            tail = ", ".join(f"{k}={v}" for k, v in sorted(attrs.items()))
            ctx.line(
                f"{stamp} {ev.get('Type', '')} {ev.get('Action', '')} "
                f"{actor.get('ID', '')}" + (f" ({tail})" if tail else "")
            )
        import sys

        sys.stdout.flush()
    return 0


def _df_verbose(ctx: Context, data: dict[str, Any]) -> None:
    from dockyard.cli.commands.containers import ps_row
    from dockyard.cli.table import simple_table
    from dockyard.cli.units import human_duration, truncate_id

    now = time.time()
    rows = []
    for img in data.get("Images") or []:
        tags = [t for t in img.get("RepoTags") or [] if t != "<none>:<none>"] or ["<none>:<none>"]
        size = int(img.get("Size") or 0)
        shared = int(img.get("SharedSize") or 0)
        shared = max(shared, 0)
        for ref in tags:
            repo, _, tag = ref.rpartition(":")
            rows.append(
                [
                    repo,
                    tag,
                    truncate_id(str(img.get("Id", ""))),
                    human_duration(now - float(img.get("Created") or 0)) + " ago",
                    human_size(size, 3),
                    human_size(shared),
                    human_size(size - shared),
                    str(max(int(img.get("Containers") or 0), 0)),
                ]
            )
    ctx.line("Images space usage:\n")
    ctx.out(
        simple_table(
            [
                "REPOSITORY",
                "TAG",
                "IMAGE ID",
                "CREATED",
                "SIZE",
                "SHARED SIZE",
                "UNIQUE SIZE",
                "CONTAINERS",
            ],
            rows,
        )
    )
    rows = []
    for c in data.get("Containers") or []:
        row = ps_row(c, True, now)
        rows.append(
            [
                row["ID"],
                row["Image"],
                row["Command"],
                row["LocalVolumes"],
                human_size(int(c.get("SizeRw") or 0), 3),
                row["RunningFor"],
                row["Status"],
                row["Names"],
            ]
        )
    ctx.line("\nContainers space usage:\n")
    ctx.out(
        simple_table(
            [
                "CONTAINER ID",
                "IMAGE",
                "COMMAND",
                "LOCAL VOLUMES",
                "SIZE",
                "CREATED",
                "STATUS",
                "NAMES",
            ],
            rows,
        )
    )
    rows = []
    for v in sorted(data.get("Volumes") or [], key=lambda v: str(v.get("Name", ""))):
        usage = v.get("UsageData") or {}
        size = int(usage.get("Size", -1))
        rows.append(
            [
                str(v.get("Name", "")),
                str(usage.get("RefCount", 0)),
                human_size(size) if size >= 0 else "N/A",
            ]
        )
    ctx.line("\nLocal Volumes space usage:\n")
    ctx.out(simple_table(["VOLUME NAME", "LINKS", "SIZE"], rows))
    cache = data.get("BuildCache") or []
    ctx.line(f"\nBuild cache usage: {human_size(sum(int(b.get('Size') or 0) for b in cache))}\n")
    ctx.out(
        simple_table(
            ["CACHE ID", "CACHE TYPE", "SIZE", "CREATED", "LAST USED", "USAGE", "SHARED"], []
        )
    )


def df(ctx: Context, opts: Options) -> int:
    data = ctx.json("GET", "/system/df") or {}
    if opts.bool("verbose") and not opts.str("format"):
        _df_verbose(ctx, data)
        return 0
    images = data.get("Images") or []
    containers = data.get("Containers") or []
    volumes = data.get("Volumes") or []
    cache = data.get("BuildCache") or []
    img_size = sum(int(i.get("Size") or 0) for i in images)
    shared = int(data.get("LayersSize") or img_size)
    img_active = sum(1 for i in images if int(i.get("Containers") or 0) > 0)
    img_reclaim = sum(int(i.get("Size") or 0) for i in images if int(i.get("Containers") or 0) <= 0)
    c_size = sum(int(c.get("SizeRw") or 0) for c in containers)
    c_active = sum(1 for c in containers if c.get("State") in ("running", "paused", "restarting"))
    c_reclaim = sum(
        int(c.get("SizeRw") or 0)
        for c in containers
        if c.get("State") not in ("running", "paused", "restarting")
    )
    v_sizes = [int((v.get("UsageData") or {}).get("Size") or 0) for v in volumes]
    v_active = sum(1 for v in volumes if int((v.get("UsageData") or {}).get("RefCount") or 0))
    v_reclaim = sum(
        int((v.get("UsageData") or {}).get("Size") or 0)
        for v in volumes
        if not int((v.get("UsageData") or {}).get("RefCount") or 0)
    )
    b_size = sum(int(b.get("Size") or 0) for b in cache)

    def pct(part: int, whole: int) -> str:
        if whole <= 0:
            return human_size(part)
        return f"{human_size(part)} ({part * 100 // whole}%)"

    rows = [
        {
            "Type": "Images",
            "TotalCount": str(len(images)),
            "Active": str(img_active),
            "Size": human_size(shared),
            "Reclaimable": pct(img_reclaim, shared),
        },
        {
            "Type": "Containers",
            "TotalCount": str(len(containers)),
            "Active": str(c_active),
            "Size": human_size(c_size),
            "Reclaimable": pct(c_reclaim, c_size),
        },
        {
            "Type": "Local Volumes",
            "TotalCount": str(len(volumes)),
            "Active": str(v_active),
            "Size": human_size(sum(v_sizes)),
            "Reclaimable": pct(v_reclaim, sum(v_sizes)),
        },
        {
            "Type": "Build Cache",
            "TotalCount": str(len(cache)),
            "Active": "0",
            "Size": human_size(b_size),
            "Reclaimable": human_size(b_size),
        },
    ]
    fmt = opts.str("format") or (
        "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
    )
    render_format(
        ctx,
        fmt,
        rows,
        {
            "Type": "TYPE",
            "TotalCount": "TOTAL",
            "Active": "ACTIVE",
            "Size": "SIZE",
            "Reclaimable": "RECLAIMABLE",
        },
    )
    return 0


def prune(ctx: Context, opts: Options) -> int:
    parts = ["all stopped containers"]
    if opts.bool("volumes"):
        parts.append("all anonymous volumes not used by at least one container")
    parts.append(
        "all images without at least one container associated to them"
        if opts.bool("all")
        else "all dangling images"
    )
    warning = "WARNING! This will remove:\n" + "\n".join(f"  - {p}" for p in parts)
    if not confirm(ctx, warning, opts.bool("force")):
        return 0
    reclaimed = 0
    filters = opts.list("filter")
    result = ctx.json("POST", "/containers/prune", {"filters": filters_param(filters)}) or {}
    deleted = result.get("ContainersDeleted") or []
    if deleted:
        ctx.line("Deleted Containers:")
        for ident in deleted:
            ctx.line(ident)
        ctx.line()
    reclaimed += int(result.get("SpaceReclaimed") or 0)
    if opts.bool("volumes"):
        result = ctx.json("POST", "/volumes/prune", {"filters": filters_param(filters)}) or {}
        deleted = result.get("VolumesDeleted") or []
        if deleted:
            ctx.line("Deleted Volumes:")
            for ident in deleted:
                ctx.line(ident)
            ctx.line()
        reclaimed += int(result.get("SpaceReclaimed") or 0)
    img_filters = [*filters, "dangling=false" if opts.bool("all") else "dangling=true"]
    result = ctx.json("POST", "/images/prune", {"filters": filters_param(img_filters)}) or {}
    items = result.get("ImagesDeleted") or []
    if items:
        ctx.line("Deleted Images:")
        for item in items:
            for key in ("Untagged", "Deleted"):
                if key in item:
                    ctx.line(f"{key.lower()}: {item[key]}")
        ctx.line()
    reclaimed += int(result.get("SpaceReclaimed") or 0)
    ctx.line(f"Total reclaimed space: {human_size(reclaimed)}")
    return 0


# ---------------------------------------------------------------------- daemon


def peer_pid(path: str) -> int | None:
    """The pid of the process serving a unix socket (SO_PEERCRED)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(2.0)
        sock.connect(path)
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, _uid, _gid = struct.unpack("3i", creds)
        return pid or None
    except OSError:
        return None
    finally:
        sock.close()


def daemon_pid(ctx: Context) -> int | None:
    from dockyard.cli.autostart import exec_root_for

    host = ctx.host
    for name in ("dockyardd.pid", "dockyard.pid"):
        path = os.path.join(exec_root_for(host), name)
        try:
            with open(path, encoding="ascii") as fh:
                pid = int(fh.read().strip())
        except (OSError, ValueError):
            continue
        if os.path.exists(f"/proc/{pid}"):
            return pid
    if host.scheme == "unix":
        return peer_pid(host.path)
    return None


def daemon(ctx: Context, opts: Options) -> int:
    action = opts.args[0]
    host = ctx.host
    if action == "status":
        from dockyard.cli.transport import Client

        client = Client(host)
        try:
            headers = client.ping(timeout=5.0)
        except ConnectError:
            ctx.line(f"dockyardd is not running (socket: {host.url})")
            return 3
        pid = daemon_pid(ctx)
        ctx.line(
            f"dockyardd is running (pid: {pid if pid else 'unknown'}, socket: {host.url}, "
            f"server: {headers.get('server', '')}, API version: "
            f"{headers.get('api-version', '')})"
        )
        return 0
    if action == "stop":
        if host.scheme != "unix" or not os.path.exists(host.path):
            ctx.line(f"dockyardd is not running (socket: {host.url})")
            return 0
        pid = daemon_pid(ctx)
        if not pid:
            raise CliError(f"Error: cannot find the pid of the daemon at {host.url}")
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
            try:
                with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
                    if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                        break
            except OSError:
                break
            time.sleep(0.05)
        else:
            if os.path.exists(f"/proc/{pid}"):
                raise CliError(f"Error: dockyardd (pid {pid}) did not stop within 30s")
        ctx.line(f"dockyardd stopped (pid {pid})")
        return 0
    raise CliError(f'Error: unknown daemon action "{action}" (want stop or status)')


__all__ = ["DaemonError"]
