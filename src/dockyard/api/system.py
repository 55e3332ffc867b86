"""System routes: /_ping, /version, /info, /events, /system/df, /auth."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import socket
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from dockyard.api import registry
from dockyard.api.http import HttpError, Reply, Request, Response, StreamResponse, json_response
from dockyard.api.routes import Router
from dockyard.api.version import API_VERSION, ENGINE_VERSION, MIN_API_VERSION, kernel_version
from dockyard.distribution.registries import RegistryConfig
from dockyard.engine import events as ev
from dockyard.engine import filters

if TYPE_CHECKING:
    from dockyard.api.app import App


def register(r: Router) -> None:
    r.add("GET", "/_ping", ping)
    r.add("HEAD", "/_ping", ping)
    r.add("GET", "/version", version)
    r.add("GET", "/info", info)
    r.add("GET", "/events", events)
    r.add("GET", "/system/df", system_df)
    r.add("POST", "/auth", auth)


async def ping(app: App, req: Request) -> Reply:
    # No Builder-Version header: clients then never try BuildKit sessions.
    return Response(
        200,
        b"OK",
        "text/plain; charset=utf-8",
        {"Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"},
    )


def _go_arch() -> str:
    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(m, m)


def version_json() -> dict[str, Any]:
    components = [
        {
            "Name": "Engine",
            "Version": ENGINE_VERSION,
            "Details": {
                "ApiVersion": API_VERSION,
                "MinAPIVersion": MIN_API_VERSION,
                "Arch": _go_arch(),
                "Os": "linux",
                "KernelVersion": kernel_version(),
                "GitCommit": "dockyard",
                "GoVersion": f"python{platform.python_version()}",
                "BuildTime": "",
                "Experimental": "false",
            },
        },
    ]
    return {
        "Platform": {"Name": "dockyard"},
        "Components": components,
        "Version": ENGINE_VERSION,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "dockyard",
        "GoVersion": f"python{platform.python_version()}",
        "Os": "linux",
        "Arch": _go_arch(),
        "KernelVersion": kernel_version(),
        "BuildTime": "",
    }


async def version(app: App, req: Request) -> Reply:
    return json_response(version_json())


def registry_config_info(cfg: RegistryConfig) -> dict[str, Any]:
    """/info's RegistryConfig, in Docker's shape, from the daemon's registry settings."""
    cidrs = ["127.0.0.0/8", *(e for e in cfg.insecure if "/" in e)]
    index: dict[str, Any] = {
        "docker.io": {"Name": "docker.io", "Mirrors": [], "Secure": True, "Official": True}
    }
    hosts = [e for e in cfg.insecure if "/" not in e]
    if cfg.default_registry:
        hosts.append(cfg.default_registry)
    for host in hosts:
        index[host] = {
            "Name": host,
            "Mirrors": [],
            "Secure": not cfg.is_insecure(host),
            "Official": False,
        }
    return {
        "AllowNondistributableArtifactsCIDRs": None,
        "AllowNondistributableArtifactsHostnames": None,
        "InsecureRegistryCIDRs": cidrs,
        "IndexConfigs": index,
        "Mirrors": None,
    }


def _mem_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


def _cgroup_version() -> str:
    return "2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "1"


async def info(app: App, req: Request) -> Reply:
    cs = app.engine.all()
    running = sum(1 for c in cs if c.state.status == "running")
    paused = sum(1 for c in cs if c.state.status == "paused")
    n_images = 0
    if app.image_store is not None:
        try:
            n_images = len(await app.run(app.image_store.list))
        except Exception:
            n_images = 0
    rt = app.engine.runtime.name
    data = {
        "ID": _daemon_id(app),
        "Containers": len(cs),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": len(cs) - running - paused,
        "Images": n_images,
        "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
        "Plugins": {
            "Volume": ["local"],
            "Network": ["host", "null"],
            "Authorization": None,
            "Log": ["json-file"],
        },
        "MemoryLimit": True,
        "SwapLimit": True,
        "KernelMemory": False,
        "KernelMemoryTCP": False,
        "CpuCfsPeriod": True,
        "CpuCfsQuota": True,
        "CPUShares": True,
        "CPUSet": True,
        "PidsLimit": True,
        "IPv4Forwarding": False,
        "BridgeNfIptables": False,
        "BridgeNfIp6tables": False,
        "Debug": False,
        "NFd": len(os.listdir("/proc/self/fd")),
        "OomKillDisable": False,
        "NGoroutines": 0,
        "SystemTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": _cgroup_version(),
        "NEventsListener": 0,
        "KernelVersion": kernel_version(),
        "OperatingSystem": _os_name(),
        "OSVersion": "",
        "OSType": "linux",
        "Architecture": platform.machine(),
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": registry_config_info(RegistryConfig.from_env()),
        "NCPU": os.cpu_count() or 1,
        "MemTotal": _mem_total(),
        "GenericResources": None,
        "DockerRootDir": str(app.data_root),
        "HttpProxy": "",
        "HttpsProxy": "",
        "NoProxy": "",
        "Name": socket.gethostname(),
        "Labels": [],
        "ExperimentalBuild": False,
        "ServerVersion": ENGINE_VERSION,
        "Runtimes": {rt: {"path": app.runtime}},
        "DefaultRuntime": rt,
        "Swarm": {
            "NodeID": "",
            "NodeAddr": "",
            "LocalNodeState": "inactive",
            "ControlAvailable": False,
            "Error": "",
            "RemoteManagers": None,
        },
        "LiveRestoreEnabled": True,
        "Isolation": "",
        "InitBinary": "",
        "ContainerdCommit": {"ID": "", "Expected": ""},
        "RuncCommit": {"ID": "", "Expected": ""},
        "InitCommit": {"ID": "", "Expected": ""},
        "SecurityOptions": ["name=seccomp,profile=builtin"],
        "Warnings": ["WARNING: bridge networking is not available yet (--network none|host)"],
    }
    return json_response(data)


def _daemon_id(app: App) -> str:
    path = app.data_root / "engine-id"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        import uuid

        ident = str(uuid.uuid4())
        path.write_text(ident)
        return ident


def _time_arg(v: str | None) -> int | None:
    """since/until: unix seconds (maybe fractional) -> nanoseconds."""
    if not v:
        return None
    try:
        return int(float(v) * 1e9)
    except ValueError:
        from dockyard.engine.logs import LogError, parse_timestamp

        try:
            return parse_timestamp(v)
        except LogError:
            raise HttpError(400, f"invalid timestamp {v!r}") from None


async def events(app: App, req: Request) -> Reply:
    f = filters.parse(req.q("filters"), ev.FILTER_KEYS)
    since = _time_arg(req.q("since"))
    until = _time_arg(req.q("until"))
    loop = asyncio.get_running_loop()
    q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=10000)

    def sub(e: dict[str, Any]) -> None:
        loop.call_soon_threadsafe(_put, q, e)

    past = app.events.subscribe(sub, since if since is not None else None)

    async def body() -> AsyncIterator[bytes]:
        try:
            for e in past:
                if until is not None and e["timeNano"] > until:
                    return
                if ev.matches(e, f):
                    yield json.dumps(e).encode() + b"\n"
            while True:
                timeout = None
                if until is not None:
                    timeout = (until - time.time_ns()) / 1e9
                    if timeout <= 0:
                        return
                try:
                    e = await asyncio.wait_for(q.get(), timeout)
                except TimeoutError:
                    return
                if until is not None and e["timeNano"] > until:
                    return
                if ev.matches(e, f):
                    yield json.dumps(e).encode() + b"\n"
        finally:
            app.events.unsubscribe(sub)

    return StreamResponse(body())


def _put(q: asyncio.Queue[dict[str, Any]], e: dict[str, Any]) -> None:
    if not q.full():
        q.put_nowait(e)


async def system_df(app: App, req: Request) -> Reply:
    containers = [app.engine.inspect(c.id, size=True) for c in app.engine.all()]
    items = await app.run(app.engine.list_containers, True, None, True, {})
    images: list[Any] = []
    layers_size = 0
    if app.image_store is not None:
        try:
            df = await app.run(app.image_store.disk_usage)
            images = list(df.get("Images") or [])
            layers_size = int(df.get("LayersSize") or 0)
        except Exception:
            images = []
    vols = []
    for v in app.engine.volumes.list():
        users = len(app.engine._volume_users(v["Name"]))
        from dockyard.engine.volumes import _du

        v = dict(v)
        v["UsageData"] = {
            "Size": _du(app.engine.volumes.root / v["Name"] / "_data"),
            "RefCount": users,
        }
        vols.append(v)
    del containers
    return json_response(
        {
            "LayersSize": layers_size,
            "Images": images,
            "Containers": items,
            "Volumes": vols,
            "BuildCache": None,  # no builder (dockerd 20.10 says null and 0)
            "BuilderSize": 0,
        }
    )


async def auth(app: App, req: Request) -> Reply:
    return await registry.auth(app, req)
