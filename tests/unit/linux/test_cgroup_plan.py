"""Cgroup path rules, v2 conversions and the resources planner (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.linux.cgroup_plan import (
    DEVICE_PROGRAM,
    CgroupError,
    Hierarchy,
    blkio_weight_to_io_weight,
    cgroup_dirs,
    container_cgroup_path,
    cpu_max,
    parse_mountinfo_cgroups,
    parse_proc_cgroup,
    plan_resources,
    shares_to_weight,
    swap_to_v2,
    systemd_path,
)

MOUNTINFO = """\
22 1 0:21 / /sys rw,nosuid - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
50 31 0:40 / /sys/fs/cgroup/rdma rw,relatime - cgroup cgroup rw,rdma
"""


def test_parse_mountinfo() -> None:
    got = parse_mountinfo_cgroups(MOUNTINFO)
    assert got == [
        Hierarchy("/sys/fs/cgroup/cpu,cpuacct", "/", frozenset({"cpu", "cpuacct"})),
        Hierarchy("/sys/fs/cgroup/memory", "/docker/abc", frozenset({"memory"})),
        Hierarchy("/sys/fs/cgroup/systemd", "/", frozenset({"name=systemd"})),
        Hierarchy("/sys/fs/cgroup/unified", "/", frozenset()),
    ]
    assert got[3].unified and not got[0].unified


def test_parse_proc_cgroup() -> None:
    text = "12:cpu,cpuacct:/a/b\n4:memory:/x\n1:name=systemd:/user.slice\n0::/init.scope\n"
    assert parse_proc_cgroup(text) == {
        frozenset({"cpu", "cpuacct"}): "/a/b",
        frozenset({"memory"}): "/x",
        frozenset({"name=systemd"}): "/user.slice",
        frozenset(): "/init.scope",
    }


@pytest.mark.parametrize(
    ("path", "own", "want"),
    [
        (None, "/x", "/dockyard/c1"),
        ("", "/x", "/dockyard/c1"),
        ("/machine/c1", "/x", "/machine/c1"),
        ("/a/../../../etc", "/x", "/etc"),
        ("sub/c1", "/user.slice/me", "/user.slice/me/sub/c1"),
        ("../../../..", "/a/b", "/"),
        ("c1", "/", "/c1"),
    ],
)
def test_cgroups_path_rules(path: str | None, own: str, want: str) -> None:
    assert container_cgroup_path(path, "c1", False, own) == want


def test_systemd_paths() -> None:
    assert systemd_path("machine-pod1.slice:libpod:abc", "abc") == (
        "/machine.slice/machine-pod1.slice/libpod-abc.scope"
    )
    assert systemd_path("system.slice:docker:abc", "abc") == "/system.slice/docker-abc.scope"
    assert systemd_path(":dockyard:", "c1") == "/system.slice/dockyard-c1.scope"
    assert systemd_path("-.slice::x", "c1") == "/x.scope"
    assert systemd_path("a-b.slice:p:sub.slice", "c1") == "/a.slice/a-b.slice/sub.slice"
    assert container_cgroup_path(None, "c1", True, "/") == "/system.slice/dockyard-c1.scope"
    assert container_cgroup_path("/plain/path", "c1", True, "/") == "/plain/path"
    for bad in ("a:b", "foo:p:n", "a--b.slice:p:n", "x/y.slice:p:n", "a.slice:p:n/x"):
        with pytest.raises(CgroupError, match="cgroupsPath"):
            systemd_path(bad, "c1")


def test_bad_container_id() -> None:
    with pytest.raises(CgroupError):
        container_cgroup_path(None, "../x", False, "/")


def test_v2_conversions() -> None:
    assert shares_to_weight(2) == 1
    assert shares_to_weight(1024) == 39
    assert shares_to_weight(262144) == 10000
    assert shares_to_weight(0) == 0
    assert blkio_weight_to_io_weight(10) == 1
    assert blkio_weight_to_io_weight(1000) == 10000
    assert blkio_weight_to_io_weight(500) == 1 + (490 * 9999) // 990
    assert swap_to_v2(None, 100) is None
    assert swap_to_v2(-1, 100) == "max"
    assert swap_to_v2(300, 100) == "200"
    assert swap_to_v2(100, 100) == "0"
    with pytest.raises(CgroupError, match="less than"):
        swap_to_v2(50, 100)
    with pytest.raises(CgroupError, match="needs a memory limit"):
        swap_to_v2(50, None)
    assert cpu_max(50000, 100000) == "50000 100000"
    assert cpu_max(None, 20000) == "max 20000"
    assert cpu_max(-1, None) == "max 100000"
    assert cpu_max(25000, None) == "25000 100000"
    assert cpu_max(None, None) is None


FULL: dict[str, Any] = {
    "devices": [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": True, "type": "c", "major": 136, "minor": -1, "access": "rwm"},
        {"allow": True, "type": "c", "access": "m"},
    ],
    "memory": {"limit": 64 << 20, "reservation": 32 << 20, "swap": 128 << 20, "swappiness": 0},
    "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0"},
    "pids": {"limit": 32},
    "blockIO": {
        "weight": 500,
        "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
    },
    "hugepageLimits": [{"pageSize": "2MB", "limit": 0}],
}


DEVICES_V1 = [
    ("devices", "deny", "a *:* rwm"),
    ("devices", "allow", "c 1:3 rwm"),
    ("devices", "allow", "c 136:* rwm"),
    ("devices", "allow", "c *:* m"),
]


def test_plan_v1() -> None:
    assert plan_resources(FULL, "v1") == [
        *((c, f"devices.{v}", r) for c, v, r in DEVICES_V1),
        ("memory", "memory.limit_in_bytes", str(64 << 20)),
        ("memory", "memory.soft_limit_in_bytes", str(32 << 20)),
        ("memory", "memory.memsw.limit_in_bytes", str(128 << 20)),
        ("memory", "memory.swappiness", "0"),
        ("cpu", "cpu.shares", "512"),
        ("cpu", "cpu.cfs_period_us", "100000"),
        ("cpu", "cpu.cfs_quota_us", "50000"),
        ("cpuset", "cpuset.cpus", "0-1"),
        ("cpuset", "cpuset.mems", "0"),
        ("pids", "pids.max", "32"),
        ("blkio", "blkio.weight", "500"),
        ("blkio", "blkio.throttle.read_bps_device", "8:0 1048576"),
        ("hugetlb", "hugetlb.2MB.limit_in_bytes", "0"),
    ]
    # Hybrid machines use their v1 controllers.
    assert plan_resources(FULL, "hybrid") == plan_resources(FULL, "v1")


def test_plan_v2() -> None:
    assert plan_resources(FULL, "v2") == [
        ("devices", DEVICE_PROGRAM, "\n".join(f"{v} {r}" for _, v, r in DEVICES_V1)),
        ("memory", "memory.max", str(64 << 20)),
        ("memory", "memory.low", str(32 << 20)),
        ("memory", "memory.swap.max", str(64 << 20)),
        ("cpu", "cpu.weight", str(shares_to_weight(512))),
        ("cpu", "cpu.max", "50000 100000"),
        ("cpuset", "cpuset.cpus", "0-1"),
        ("cpuset", "cpuset.mems", "0"),
        ("pids", "pids.max", "32"),
        ("io", "io.weight", f"default {blkio_weight_to_io_weight(500)}"),
        ("io", "io.max", "8:0 rbps=1048576"),
        ("hugetlb", "hugetlb.2MB.max", "0"),
    ]


def test_unlimited_values() -> None:
    res = {"memory": {"limit": -1, "swap": -1}, "pids": {"limit": 0}, "cpu": {"quota": -1}}
    assert plan_resources(res, "v1") == [
        ("memory", "memory.limit_in_bytes", "-1"),
        ("memory", "memory.memsw.limit_in_bytes", "-1"),
        ("cpu", "cpu.cfs_quota_us", "-1"),
        ("pids", "pids.max", "max"),
    ]
    assert plan_resources(res, "v2") == [
        ("memory", "memory.max", "max"),
        ("memory", "memory.swap.max", "max"),
        ("cpu", "cpu.max", "max 100000"),
        ("pids", "pids.max", "max"),
    ]
    assert plan_resources(None, "v2") == [] and plan_resources({}, "v1") == []


def test_unified_and_v2_only_rules() -> None:
    res = {"unified": {"memory.high": "50M", "io.latency": "8:0 target=10"}}
    assert plan_resources(res, "v2") == [
        ("memory", "memory.high", "50M"),
        ("io", "io.latency", "8:0 target=10"),
    ]
    with pytest.raises(CgroupError, match="needs cgroup v2"):
        plan_resources(res, "hybrid")
    for bad in ({"../x": "1"}, {"nodot": "1"}, {"memory.max": 5}):
        with pytest.raises(CgroupError, match="unified"):
            plan_resources({"unified": bad}, "v2")


def test_v2_devices_become_one_program() -> None:
    assert plan_resources({"devices": FULL["devices"]}, "v2") == [
        (
            "devices",
            DEVICE_PROGRAM,
            "deny a *:* rwm\nallow c 1:3 rwm\nallow c 136:* rwm\nallow c *:* m",
        )
    ]
    assert plan_resources({"devices": []}, "v2") == []


def test_realtime_and_oom_and_network() -> None:
    res: dict[str, Any] = {
        "cpu": {"realtimeRuntime": 950000, "realtimePeriod": 1000000},
        "memory": {"disableOOMKiller": True, "kernel": 1 << 30},
        "network": {"classID": 0x100001, "priorities": [{"name": "eth0", "priority": 5}]},
    }
    assert plan_resources(res, "v1") == [
        ("memory", "memory.oom_control", "1"),
        ("cpu", "cpu.rt_period_us", "1000000"),
        ("cpu", "cpu.rt_runtime_us", "950000"),
        ("net_cls", "net_cls.classid", str(0x100001)),
        ("net_prio", "net_prio.ifpriomap", "eth0 5"),
    ]
    with pytest.raises(CgroupError, match="v2"):
        plan_resources({"cpu": res["cpu"]}, "v2")
    with pytest.raises(CgroupError, match="disableOOMKiller"):
        plan_resources({"memory": res["memory"]}, "v2")
    with pytest.raises(CgroupError, match="network"):
        plan_resources({"network": res["network"]}, "v2")


@pytest.mark.parametrize(
    ("res", "message"),
    [
        ({"memory": {"limit": "64m"}}, "memory.limit must be an integer"),
        ({"memory": {"swappiness": 200}}, "swappiness"),
        ({"devices": [{"allow": True, "type": "x"}]}, "bad type"),
        ({"devices": [{"allow": True, "access": "rwx"}]}, "bad access"),
        ({"hugepageLimits": [{"pageSize": "../2MB", "limit": 1}]}, "pageSize"),
        ({"blockIO": {"throttleReadBpsDevice": [{"major": 8, "rate": 1}]}}, "major and minor"),
        ({"cpu": {"cpus": 3}}, "cpu.cpus must be a string"),
        ({"rdma": {"mlx": {"hcaHandles": 1}}}, "rdma"),
    ],
)
def test_bad_resources(res: dict[str, Any], message: str) -> None:
    with pytest.raises(CgroupError, match=message):
        plan_resources(res, "v1")


OWN = {
    frozenset({"cpu", "cpuacct"}): "/user/a",
    frozenset({"memory"}): "/docker/abc/inner",
    frozenset({"name=systemd"}): "/",
    frozenset(): "/init.scope",
}


def test_cgroup_dirs_hybrid_relative_and_subtree_mounts() -> None:
    dirs, path = cgroup_dirs(parse_mountinfo_cgroups(MOUNTINFO), OWN, "hybrid", "box", "c1", False)
    assert dirs == {
        "cpu": "/sys/fs/cgroup/cpu,cpuacct/user/a/box",
        "cpuacct": "/sys/fs/cgroup/cpu,cpuacct/user/a/box",
        # Mounted from /docker/abc: that prefix is not part of the directory path.
        "memory": "/sys/fs/cgroup/memory/inner/box",
        "name=systemd": "/sys/fs/cgroup/systemd/box",
        "": "/sys/fs/cgroup/unified/init.scope/box",
    }
    assert path == "/user/a/box"


def test_cgroup_dirs_modes_and_absolute() -> None:
    hier = parse_mountinfo_cgroups(MOUNTINFO)
    v1, _ = cgroup_dirs(hier, OWN, "v1", None, "c1", False)
    assert "" not in v1 and v1["cpu"] == "/sys/fs/cgroup/cpu,cpuacct/dockyard/c1"
    assert v1["memory"] == "/sys/fs/cgroup/memory/dockyard/c1"
    v2_mounts = parse_mountinfo_cgroups(
        "30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
        "31 1 0:26 / /mnt/again rw - cgroup2 cgroup2 rw\n"
    )
    v2, path = cgroup_dirs(v2_mounts, {frozenset(): "/user.slice"}, "v2", "/m/c1", "c1", False)
    assert v2 == {"": "/sys/fs/cgroup/m/c1"} and path == "/m/c1"
    with pytest.raises(CgroupError, match="no cgroup hierarchy"):
        cgroup_dirs([], {}, "v2", None, "c1", False)


def test_cgroup_dirs_first_mount_wins() -> None:
    twice = MOUNTINFO + "60 31 0:32 / /sys/fs/cgroup/memory2 rw - cgroup cgroup rw,memory\n"
    dirs, _ = cgroup_dirs(parse_mountinfo_cgroups(twice), OWN, "v1", "/x", "c1", False)
    assert dirs["memory"] == "/sys/fs/cgroup/memory/x"
