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


def test_env_merge_keeps_order_and_overrides_in_place() -> None:
    assert c.merge_env(["A=1", "B=2"], ["B=3", "C=4"]) == ["A=1", "B=3", "C=4"]


def test_image_defaults_fill_the_request() -> None:
    cfg = c.merge_config(IMAGE, {"Image": "bb", "Env": ["A=2"], "Labels": {"x": "y"}}, "bb")
    assert cfg["Cmd"] == ["sh"]
    assert cfg["Entrypoint"] is None
    assert cfg["Env"] == ["PATH=/usr/bin:/bin", "A=2"]
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
        c.check_host_config({"PortBindings": {"80/tcp": [{"HostPort": "8080"}]}})


def test_default_network_is_none_and_host_is_kept() -> None:
    assert c.check_host_config({})["NetworkMode"] == "none"
    assert c.check_host_config({"NetworkMode": "host"})["NetworkMode"] == "host"
    with pytest.raises(InvalidParameter):
        c.check_host_config({"NetworkMode": "mynet"})
    with pytest.raises(InvalidParameter, match="bridge networking"):
        c.check_host_config({"NetworkMode": "bridge"})


def test_autoremove_with_restart_policy_is_refused() -> None:
    with pytest.raises(InvalidParameter):
        c.check_host_config({"AutoRemove": True, "RestartPolicy": {"Name": "always"}})


def test_memory_below_docker_minimum_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="6MB"):
        c.check_host_config({"Memory": 1024})


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
