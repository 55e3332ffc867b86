"""Container records rendered in Docker's JSON shapes: inspect and list (pure)."""

from __future__ import annotations

import copy
import time
from typing import Any

from dockyard.engine.records import Container, parse_rfc3339
from dockyard.oci.units import human_duration

_PRIVATE_MOUNT_KEYS = ("Anonymous", "FromImage", "Unlisted")


def mounts_json(c: Container) -> list[dict[str, Any]]:
    """Docker's MountPoint records, without our bookkeeping keys."""
    return [
        {k: v for k, v in m.items() if k not in _PRIVATE_MOUNT_KEYS}
        for m in c.mounts
        if not m.get("Unlisted")
    ]


def state_json(c: Container) -> dict[str, Any]:
    s = c.state
    return {
        "Status": s.status,
        "Running": s.status in ("running", "paused"),
        "Paused": s.status == "paused",
        "Restarting": s.status == "restarting",
        "OOMKilled": s.oom_killed,
        "Dead": s.status == "dead",
        "Pid": s.pid,
        "ExitCode": s.exit_code,
        "Error": s.error,
        "StartedAt": s.started_at,
        "FinishedAt": s.finished_at,
    }


def network_settings(c: Container) -> dict[str, Any]:
    mode = c.host_config.get("NetworkMode") or "none"
    return {
        "Bridge": "",
        "SandboxID": "",
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Ports": {},
        "SandboxKey": "",
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        "EndpointID": "",
        "Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "MacAddress": "",
        "Networks": {
            mode: {
                "IPAMConfig": None,
                "Links": None,
                "Aliases": None,
                "NetworkID": "",
                "EndpointID": "",
                "Gateway": "",
                "IPAddress": "",
                "IPPrefixLen": 0,
                "IPv6Gateway": "",
                "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0,
                "MacAddress": "",
                "DriverOpts": None,
            }
        },
    }


# Docker's HostConfig fields in its order, with what dockerd shows when the request left one
# out: SDK code indexes them (attrs["HostConfig"]["Memory"]). Fields Docker omits when empty
# (Mounts, Tmpfs, Sysctls, Init…) follow as the request gave them.
_HOST_CONFIG_FIELDS: tuple[tuple[str, Any], ...] = (
    ("Binds", None),
    ("ContainerIDFile", ""),
    ("LogConfig", {"Type": "json-file", "Config": {}}),
    ("NetworkMode", "none"),
    ("PortBindings", None),
    ("RestartPolicy", {"Name": "no", "MaximumRetryCount": 0}),
    ("AutoRemove", False),
    ("VolumeDriver", ""),
    ("VolumesFrom", None),
    ("CapAdd", None),
    ("CapDrop", None),
    ("CgroupnsMode", "host"),
    ("Dns", None),
    ("DnsOptions", None),
    ("DnsSearch", None),
    ("ExtraHosts", None),
    ("GroupAdd", None),
    ("IpcMode", "private"),
    ("Cgroup", ""),
    ("Links", None),
    ("OomScoreAdj", 0),
    ("PidMode", ""),
    ("Privileged", False),
    ("PublishAllPorts", False),
    ("ReadonlyRootfs", False),
    ("SecurityOpt", None),
    ("UTSMode", ""),
    ("UsernsMode", ""),
    ("ShmSize", 0),
    ("Runtime", ""),
    ("ConsoleSize", [0, 0]),
    ("Isolation", ""),
    ("CpuShares", 0),
    ("Memory", 0),
    ("NanoCpus", 0),
    ("CgroupParent", ""),
    ("BlkioWeight", 0),
    ("BlkioWeightDevice", None),
    ("BlkioDeviceReadBps", None),
    ("BlkioDeviceWriteBps", None),
    ("BlkioDeviceReadIOps", None),
    ("BlkioDeviceWriteIOps", None),
    ("CpuPeriod", 0),
    ("CpuQuota", 0),
    ("CpuRealtimePeriod", 0),
    ("CpuRealtimeRuntime", 0),
    ("CpusetCpus", ""),
    ("CpusetMems", ""),
    ("Devices", None),
    ("DeviceCgroupRules", None),
    ("DeviceRequests", None),
    ("KernelMemory", 0),
    ("KernelMemoryTCP", 0),
    ("MemoryReservation", 0),
    ("MemorySwap", 0),
    ("MemorySwappiness", None),
    ("OomKillDisable", False),
    ("PidsLimit", None),
    ("Ulimits", None),
    ("CpuCount", 0),
    ("CpuPercent", 0),
    ("IOMaximumIOps", 0),
    ("IOMaximumBandwidth", 0),
    ("MaskedPaths", None),
    ("ReadonlyPaths", None),
)
_HOST_CONFIG_NAMES = frozenset(name for name, _ in _HOST_CONFIG_FIELDS)


def host_config_json(hc: dict[str, Any]) -> dict[str, Any]:
    """A container's HostConfig as dockerd shows it: every field, in Docker's order."""
    out = {name: hc.get(name, copy.deepcopy(zero)) for name, zero in _HOST_CONFIG_FIELDS}
    out.update((k, v) for k, v in hc.items() if k not in _HOST_CONFIG_NAMES)
    return out


def inspect_json(
    c: Container, paths: dict[str, str], size: tuple[int, int] | None = None
) -> dict[str, Any]:
    """`GET /containers/{id}/json`; ``paths`` holds the log, hosts… file locations."""
    out: dict[str, Any] = {
        "Id": c.id,
        "Created": c.created,
        "Path": c.path,
        "Args": c.args,
        "State": state_json(c),
        "Image": c.image_id,
        "ResolvConfPath": paths.get("resolv", ""),
        "HostnamePath": paths.get("hostname", ""),
        "HostsPath": paths.get("hosts", ""),
        "LogPath": paths.get("log", ""),
        "Name": c.name,
        "RestartCount": c.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": host_config_json(c.host_config),
        "GraphDriver": {"Data": None, "Name": "overlay2"},
        "Mounts": mounts_json(c),
        "Config": c.config,
        "NetworkSettings": network_settings(c),
    }
    if size is not None:
        out["SizeRw"], out["SizeRootFs"] = size
    return out


def status_text(c: Container, now: float | None = None) -> str:
    """The human `Status` column: "Up 5 seconds", "Exited (0) 2 minutes ago"…"""
    now = time.time() if now is None else now
    s = c.state
    if s.status in ("running", "paused"):
        text = "Up " + human_duration(now - parse_rfc3339(s.started_at))
        return text + " (Paused)" if s.status == "paused" else text
    if s.status == "restarting":
        return (
            f"Restarting ({s.exit_code}) {human_duration(now - parse_rfc3339(s.finished_at))} ago"
        )
    if s.status == "removing":
        return "Removal In Progress"
    if s.status == "dead":
        return "Dead"
    if s.status == "created":
        return "Created"
    return f"Exited ({s.exit_code}) {human_duration(now - parse_rfc3339(s.finished_at))} ago"


def list_json(c: Container, image_name: str, size: tuple[int, int] | None = None) -> dict[str, Any]:
    """One entry of `GET /containers/json`."""
    cmd = " ".join([c.path, *c.args])
    mode = c.host_config.get("NetworkMode") or "none"
    out: dict[str, Any] = {
        "Id": c.id,
        "Names": [c.name],
        "Image": image_name,
        "ImageID": c.image_id,
        "Command": cmd,
        "Created": int(parse_rfc3339(c.created)),
        "Ports": [],
        "Labels": c.config.get("Labels") or {},
        "State": c.state.status,
        "Status": status_text(c),
        "HostConfig": {"NetworkMode": mode},
        "NetworkSettings": {"Networks": network_settings(c)["Networks"]},
        "Mounts": mounts_json(c),
    }
    if size is not None:
        out["SizeRw"], out["SizeRootFs"] = size
    return out
