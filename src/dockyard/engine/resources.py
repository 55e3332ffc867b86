"""Processes and resources of a running container: top, stats (cgroup files, and the network
and block I/O counters of engine.iostats), update."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

from dockyard.engine import iostats
from dockyard.engine.errors import Conflict, EngineError, InvalidParameter

CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_paths(pid: int) -> dict[str, Path]:
    """controller -> directory of ``pid``'s cgroup (v1 per controller, v2 under "")."""
    out: dict[str, Path] = {}
    try:
        text = Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        _hid, ctrls, rel = line.split(":", 2)
        rel = rel.lstrip("/")
        if ctrls == "":
            base = CGROUP_ROOT / "unified"
            if not base.exists() or (CGROUP_ROOT / "cgroup.controllers").exists():
                base = CGROUP_ROOT
            out[""] = base / rel
            continue
        for ctrl in ctrls.split(","):
            ctrl = ctrl.removeprefix("name=")
            d = CGROUP_ROOT / ctrl / rel
            if not d.exists():
                # Merged mount points such as cpu,cpuacct.
                for cand in CGROUP_ROOT.iterdir():
                    if ctrl in cand.name.split(",") and (cand / rel).exists():
                        d = cand / rel
                        break
            out[ctrl] = d
    return out


def _read_int(path: Path, default: int = 0) -> int:
    try:
        v = path.read_text().strip()
    except OSError:
        return default
    if v == "max":
        return default
    try:
        return int(v)
    except ValueError:
        return default


def _read_kv(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].lstrip("-").isdigit():
                out[parts[0]] = int(parts[1])
    except OSError:
        pass
    return out


def system_cpu_usage() -> int:
    """Host CPU time in nanoseconds (the first line of /proc/stat), as Docker reports it."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:8]
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(x) for x in fields) * (1_000_000_000 // ticks)


def parse_cpuacct_stat(text: str, ticks: int) -> tuple[int, int]:
    """(user, system) nanoseconds from cpuacct.stat's tick counts (pure)."""
    vals = {}
    for line in text.splitlines():
        k, _, v = line.partition(" ")
        if v.strip().isdigit():
            vals[k] = int(v) * (1_000_000_000 // ticks)
    return vals.get("user", 0), vals.get("system", 0)


def sample(pid: int) -> dict[str, Any]:
    """One reading of the container's cgroups in Docker's stats shape (without pre* fields)."""
    paths = cgroup_paths(pid)
    ncpu = os.cpu_count() or 1
    ticks = os.sysconf("SC_CLK_TCK")
    cpu: dict[str, Any]
    mem: dict[str, Any]
    if "" in paths and (paths[""] / "cpu.stat").exists() and "cpuacct" not in paths:
        d = paths[""]
        cs = _read_kv(d / "cpu.stat")
        cpu = {
            "cpu_usage": {
                "total_usage": cs.get("usage_usec", 0) * 1000,
                "usage_in_kernelmode": cs.get("system_usec", 0) * 1000,
                "usage_in_usermode": cs.get("user_usec", 0) * 1000,
            },
            "throttling_data": {
                "periods": cs.get("nr_periods", 0),
                "throttled_periods": cs.get("nr_throttled", 0),
                "throttled_time": cs.get("throttled_usec", 0) * 1000,
            },
        }
        ms = _read_kv(d / "memory.stat")
        mem = {
            "usage": _read_int(d / "memory.current"),
            "stats": ms,
            "limit": _read_int(d / "memory.max", _mem_total()),
        }
        pids = {"current": _read_int(d / "pids.current"), "limit": _read_int(d / "pids.max")}
        blkio = iostats.blkio_v2(d)
    else:
        acct = paths.get("cpuacct", CGROUP_ROOT / "cpuacct")
        try:
            user, system = parse_cpuacct_stat((acct / "cpuacct.stat").read_text(), ticks)
        except OSError:
            user, system = 0, 0
        try:
            percpu = [int(x) for x in (acct / "cpuacct.usage_percpu").read_text().split()]
        except (OSError, ValueError):
            percpu = []
        cpu_dir = paths.get("cpu", acct)
        cs = _read_kv(cpu_dir / "cpu.stat")
        cpu = {
            "cpu_usage": {
                "total_usage": _read_int(acct / "cpuacct.usage"),
                "percpu_usage": percpu,
                "usage_in_kernelmode": system,
                "usage_in_usermode": user,
            },
            "throttling_data": {
                "periods": cs.get("nr_periods", 0),
                "throttled_periods": cs.get("nr_throttled", 0),
                "throttled_time": cs.get("throttled_time", 0),
            },
        }
        md = paths.get("memory", CGROUP_ROOT / "memory")
        limit = _read_int(md / "memory.limit_in_bytes", _mem_total())
        mem = {
            "usage": _read_int(md / "memory.usage_in_bytes"),
            "max_usage": _read_int(md / "memory.max_usage_in_bytes"),
            "stats": _read_kv(md / "memory.stat"),
            "failcnt": _read_int(md / "memory.failcnt"),
            "limit": min(limit, _mem_total()) if limit else _mem_total(),
        }
        pd = paths.get("pids", CGROUP_ROOT / "pids")
        pids = {"current": _read_int(pd / "pids.current"), "limit": _read_int(pd / "pids.max")}
        blkio = iostats.blkio_v1(paths.get("blkio", CGROUP_ROOT / "blkio"))
    cpu["system_cpu_usage"] = system_cpu_usage()
    cpu["online_cpus"] = ncpu
    out: dict[str, Any] = {
        "read": _now(),
        "pids_stats": pids,
        "blkio_stats": blkio,
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu,
        "memory_stats": mem,
    }
    nets = iostats.networks(pid)
    if nets:  # Docker leaves the key out when the container has no interface of its own
        out["networks"] = nets
    return out


def empty_sample() -> dict[str, Any]:
    """Docker's all-zero reading (stopped containers, first precpu of a one-shot)."""
    return {
        "read": "0001-01-01T00:00:00Z",
        "pids_stats": {},
        "blkio_stats": dict.fromkeys(iostats.BLKIO_KEYS),  # Go's zero struct: all null
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": {
            "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
        },
        "memory_stats": {},
    }


def _now() -> str:
    ns = time.time_ns()
    s, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + f".{frac:09d}Z"


def _mem_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def container_pids(init_pid: int) -> set[int]:
    """Every pid in the init process's cgroup (pids or memory controller, or v2)."""
    paths = cgroup_paths(init_pid)
    for key in ("pids", "memory", "cpu", ""):
        d = paths.get(key)
        if d is not None and (d / "cgroup.procs").exists():
            try:
                return {int(x) for x in (d / "cgroup.procs").read_text().split()}
            except (OSError, ValueError):
                continue
    return {init_pid}


def top(init_pid: int, ps_args: str) -> dict[str, Any]:
    """`docker top`: the host's ps output, kept to the container's processes."""
    pids = container_pids(init_pid)
    args = ps_args.split() if ps_args else ["-ef"]
    try:
        out = subprocess.run(["ps", *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise EngineError(f"running ps: {e}") from None
    if out.returncode != 0:
        raise InvalidParameter(f"ps: {out.stderr.strip()}")
    return parse_ps(out.stdout, pids)


def parse_ps(output: str, pids: set[int]) -> dict[str, Any]:
    """Keep the rows whose PID column is one of ``pids`` (pure)."""
    lines = output.splitlines()
    if not lines:
        raise InvalidParameter("ps printed nothing")
    titles = lines[0].split()
    try:
        col = titles.index("PID")
    except ValueError:
        raise InvalidParameter("Couldn't find PID field in ps output") from None
    procs = []
    for line in lines[1:]:
        fields = line.split(None, len(titles) - 1)
        if len(fields) <= col:
            continue
        try:
            pid = int(fields[col])
        except ValueError:
            continue
        if pid in pids:
            procs.append(fields)
    return {"Titles": titles, "Processes": procs}


def resources_from_update(body: dict[str, Any]) -> dict[str, Any]:
    """OCI LinuxResources for `runtime update` from Docker's update body (pure)."""
    res: dict[str, Any] = {}
    mem: dict[str, Any] = {}
    if body.get("Memory"):
        if body["Memory"] < 6 * 1024 * 1024:
            raise InvalidParameter("Minimum memory limit allowed is 6MB")
        mem["limit"] = int(body["Memory"])
    if body.get("MemorySwap"):
        mem["swap"] = int(body["MemorySwap"])
    if body.get("MemoryReservation"):
        mem["reservation"] = int(body["MemoryReservation"])
    if mem:
        res["memory"] = mem
    cpu: dict[str, Any] = {}
    if body.get("NanoCpus"):
        period = 100_000
        cpu["period"] = period
        cpu["quota"] = int(body["NanoCpus"]) * period // 1_000_000_000
    if body.get("CpuQuota"):
        cpu["quota"] = int(body["CpuQuota"])
    if body.get("CpuPeriod"):
        cpu["period"] = int(body["CpuPeriod"])
    if body.get("CpuShares"):
        cpu["shares"] = int(body["CpuShares"])
    if body.get("CpusetCpus"):
        cpu["cpus"] = str(body["CpusetCpus"])
    if body.get("CpusetMems"):
        cpu["mems"] = str(body["CpusetMems"])
    if cpu:
        res["cpu"] = cpu
    if body.get("PidsLimit"):
        res["pids"] = {"limit": int(body["PidsLimit"])}
    return res


def require_pid(pid: int, cid: str) -> int:
    if pid <= 0:
        raise Conflict(f"Container {cid} is not running")
    return pid
