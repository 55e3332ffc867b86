"""Create request + image config -> the container's settled config."""

from __future__ import annotations

import pytest

from dockyard.engine import config as c
from dockyard.engine.errors import InvalidParameter

IMAGE = {
    "Env": ["PATH=/usr/bin:/bin", "A=1"],
    "Cmd": ["sh"],
    "WorkingDir": "/srv",
    "Labels": {"from": "image"},
}


RUNTIME = "dockyard-runc"


def check(hc: dict[str, object]) -> dict[str, object]:
    return c.check_host_config(hc, RUNTIME)


def test_env_merge_is_dockers_request_first_then_the_images_others() -> None:
    assert c.container_env(["A=1", "B=2"], ["B=3", "C=4"]) == ["B=3", "C=4", "A=1"]
    assert c.container_env(["A=1"], []) == ["A=1"]
    # The request's own repeats are kept, as dockerd keeps them.
    assert c.container_env([], ["X=1", "X=2"]) == ["X=1", "X=2"]


def test_image_defaults_fill_the_request() -> None:
    cfg = c.merge_config(IMAGE, {"Image": "bb", "Env": ["A=2"], "Labels": {"x": "y"}}, "bb")
    assert cfg["Cmd"] == ["sh"]
    assert cfg["Entrypoint"] is None
    assert cfg["Env"] == ["A=2", "PATH=/usr/bin:/bin"]
    assert cfg["Volumes"] is None
    assert cfg["WorkingDir"] == "/srv"
    assert cfg["Labels"] == {"from": "image", "x": "y"}
    assert c.command_line(cfg) == ("sh", [])


def test_request_entrypoint_drops_the_image_cmd() -> None:
    cfg = c.merge_config(IMAGE, {"Image": "bb", "Entrypoint": ["echo"]}, "bb")
    assert cfg["Cmd"] is None
    assert c.command_line(cfg) == ("echo", [])


def test_no_command_at_all_is_an_error() -> None:
    with pytest.raises(InvalidParameter, match="No command specified"):
        c.merge_config({}, {"Image": "x"}, "x")


def test_port_bindings_need_bridge_networking() -> None:
    with pytest.raises(InvalidParameter, match="bridge networking"):
        check({"PortBindings": {"80/tcp": [{"HostPort": "8080"}]}})


def test_default_network_is_none_and_host_is_kept() -> None:
    assert check({})["NetworkMode"] == "none"
    assert check({"NetworkMode": "host"})["NetworkMode"] == "host"
    with pytest.raises(InvalidParameter):
        check({"NetworkMode": "mynet"})
    with pytest.raises(InvalidParameter, match="bridge networking"):
        check({"NetworkMode": "bridge"})


def test_autoremove_with_restart_policy_is_refused() -> None:
    with pytest.raises(InvalidParameter):
        check({"AutoRemove": True, "RestartPolicy": {"Name": "always"}})


def test_memory_below_docker_minimum_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="6MB"):
        check({"Memory": 1024})


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("/h:/c", c.MountPlan("bind", "/h", "/c")),
        ("/h:/c:ro", c.MountPlan("bind", "/h", "/c", True)),
        ("vol:/data", c.MountPlan("volume", "vol", "/data")),
        ("/anon", c.MountPlan("volume", "", "/anon")),
    ],
)
def test_parse_bind(spec: str, want: c.MountPlan) -> None:
    assert c.parse_bind(spec) == want


@pytest.mark.parametrize("spec", ["rel:c", "/h:/c:bogus", "a:b:c:d", "/h:/"])
def test_bad_binds(spec: str) -> None:
    with pytest.raises(InvalidParameter):
        c.parse_bind(spec)


def test_duplicate_mount_points_are_refused() -> None:
    with pytest.raises(InvalidParameter, match="Duplicate mount point"):
        c.mount_plans({}, {"Binds": ["/a:/x", "v:/x"]})


def test_tmpfs_mount_options() -> None:
    plan = c.parse_mount({"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 4096}})
    assert plan == c.MountPlan("tmpfs", "", "/t", False, ("size=4096",))


def test_log_limits_are_bounded_by_default() -> None:
    assert c.log_limits({}) == (10 * 1024 * 1024, 3)
    hc = {"LogConfig": {"Type": "json-file", "Config": {"max-size": "1m", "max-file": "2"}}}
    assert c.log_limits(hc) == (1024 * 1024, 2)
    with pytest.raises(InvalidParameter):
        c.log_limits({"LogConfig": {"Config": {"max-size": "12q"}}})


def test_dockers_recorded_defaults_are_filled() -> None:
    hc = check({"Memory": 64 << 20, "MemorySwappiness": -1, "PidsLimit": 0})
    assert hc["MemorySwap"] == 128 << 20
    assert hc["MemorySwappiness"] is None and hc["PidsLimit"] is None
    assert hc["IpcMode"] == "private" and hc["CgroupnsMode"] == "host"
    assert hc["Runtime"] == RUNTIME
    assert hc["KernelMemory"] == 0 and hc["KernelMemoryTCP"] == 0
    assert isinstance(hc["MaskedPaths"], list) and "/proc/kcore" in hc["MaskedPaths"]
    assert isinstance(hc["ReadonlyPaths"], list) and "/proc/sys" in hc["ReadonlyPaths"]
    # What the request says stays.
    hc = check({"Memory": 64 << 20, "MemorySwap": -1, "PidsLimit": 5, "IpcMode": "host"})
    assert (hc["MemorySwap"], hc["PidsLimit"], hc["IpcMode"]) == (-1, 5, "host")
    assert check({"MaskedPaths": []})["MaskedPaths"] == []
    # Privileged containers have none (as dockerd records them: null).
    hc = check({"Privileged": True})
    assert hc["MaskedPaths"] is None and hc["ReadonlyPaths"] is None
    assert not check({}).get("MemorySwap")


def test_unknown_runtime_and_cgroupns_mode_are_refused() -> None:
    with pytest.raises(InvalidParameter, match=r"^Unknown runtime specified foo$"):
        check({"Runtime": "foo"})
    assert check({"Runtime": RUNTIME})["Runtime"] == RUNTIME
    assert check({"CgroupnsMode": "private"})["CgroupnsMode"] == "private"
    with pytest.raises(InvalidParameter, match="invalid cgroup namespace mode: bogus"):
        check({"CgroupnsMode": "bogus"})


def test_hostname_with_the_hosts_uts_namespace_conflicts() -> None:
    req = {"Image": "bb", "Hostname": "x", "HostConfig": {"UTSMode": "host"}}
    with pytest.raises(InvalidParameter, match=r"^conflicting options: hostname and the UTS mode$"):
        c.merge_config(IMAGE, req, "bb")
    assert c.merge_config(IMAGE, dict(req, Hostname=""), "bb")["Hostname"] == ""


@pytest.mark.parametrize(
    ("hc", "update", "refused"),
    [
        ({"Memory": 64 << 20, "MemorySwap": 128 << 20}, {"Memory": 256 << 20}, True),
        ({"Memory": 64 << 20, "MemorySwap": 128 << 20}, {"Memory": 100 << 20}, False),
        ({"Memory": 64 << 20}, {"Memory": 256 << 20}, True),  # an older record: 2x memory
        (
            {"Memory": 64 << 20, "MemorySwap": 128 << 20},
            {"Memory": 256 << 20, "MemorySwap": -1},
            False,
        ),
        ({"Memory": 64 << 20, "MemorySwap": -1}, {"Memory": 256 << 20}, False),
        ({}, {"Memory": 256 << 20}, False),  # dockerd 20.10 refuses this one
        ({"Memory": 64 << 20, "MemorySwap": 128 << 20}, {"NanoCpus": 10**9}, False),
    ],
)
def test_update_above_the_swap_limit_is_refused(
    hc: dict[str, int], update: dict[str, int], refused: bool
) -> None:
    got = c.swap_conflict(hc, update)
    assert (got is not None) == refused
    if refused:
        assert got is not None and got.startswith("Memory limit should be smaller")
    assert c.swap_in_force(hc) == (hc.get("MemorySwap") or 2 * hc.get("Memory", 0) or -1)


def test_cpusets_must_be_the_hosts() -> None:
    c.check_cpusets({"CpusetCpus": "0-1", "CpusetMems": "0"}, "0-1", "0")
    c.check_cpusets({}, "0", "0")
    with pytest.raises(
        InvalidParameter, match=r"^Requested CPUs are not available - requested 7, available: 0-1$"
    ):
        c.check_cpusets({"CpusetCpus": "7"}, "0-1", "0")
    with pytest.raises(InvalidParameter, match=r"^Requested memory nodes are not available"):
        c.check_cpusets({"CpusetMems": "0-1"}, "0-1", "0")
    with pytest.raises(InvalidParameter, match=r"^Invalid value 1-x for cpuset cpus"):
        c.check_cpusets({"CpusetCpus": "1-x"}, "0-1", "0")
