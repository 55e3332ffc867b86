"""run/create flags → the Engine API create body, as the docker CLI builds it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dockyard.cli.catalog import lookup
from dockyard.cli.errors import UsageError
from dockyard.cli.flags import Parser
from dockyard.cli.runopts import (
    build_create_body,
    parse_device,
    parse_mount,
    parse_port,
    parse_restart,
    parse_ulimit,
)


def body_of(*argv: str, environ: dict[str, str] | None = None) -> tuple[str, dict[str, Any]]:
    run = lookup(["run"])[0]
    assert run is not None
    opts = Parser(run).parse(list(argv))
    return build_create_body(opts, environ or {}, cwd="/work")


def test_plain_run() -> None:
    name, body = body_of("busybox", "ls", "-l")
    assert name == ""
    assert body["Image"] == "busybox"
    assert body["Cmd"] == ["ls", "-l"]
    assert body["Entrypoint"] is None
    assert body["AttachStdout"] and body["AttachStderr"] and not body["AttachStdin"]
    assert not body["OpenStdin"] and not body["StdinOnce"] and not body["Tty"]
    host = body["HostConfig"]
    assert host["NetworkMode"] == "default"
    assert host["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert host["PidsLimit"] is None and "Init" not in host


def test_interactive_tty_and_detach() -> None:
    _, body = body_of("-it", "busybox", "sh")
    assert body["Tty"] and body["OpenStdin"] and body["AttachStdin"] and body["StdinOnce"]
    _, body = body_of("-d", "-i", "busybox")
    assert body["OpenStdin"] and not body["AttachStdin"] and not body["StdinOnce"]
    assert not body["AttachStdout"] and not body["AttachStderr"]
    assert body["Cmd"] is None


def test_resources() -> None:
    _, body = body_of(
        "--memory",
        "64m",
        "--memory-swap",
        "-1",
        "--cpus",
        "1.5",
        "--cpu-shares",
        "512",
        "--cpuset-cpus",
        "0",
        "--pids-limit",
        "20",
        "--shm-size",
        "1g",
        "busybox",
    )
    host = body["HostConfig"]
    assert host["Memory"] == 64 * 1024 * 1024
    assert host["MemorySwap"] == -1
    assert host["NanoCpus"] == 1_500_000_000
    assert host["CpuShares"] == 512
    assert host["CpusetCpus"] == "0"
    assert host["PidsLimit"] == 20
    assert host["ShmSize"] == 1 << 30


def test_env_labels_and_files(tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nFROM_FILE=1\n\nPASSED\n")
    _, body = body_of(
        "--env-file",
        str(env_file),
        "-e",
        "A=b",
        "-e",
        "HOME_FROM_ENV",
        "-e",
        "UNSET",
        "-l",
        "x=y",
        "-l",
        "flag",
        "busybox",
        environ={"PASSED": "p", "HOME_FROM_ENV": "/h"},
    )
    assert body["Env"] == ["FROM_FILE=1", "PASSED=p", "A=b", "HOME_FROM_ENV=/h", "UNSET"]
    assert body["Labels"] == {"x": "y", "flag": ""}


def test_entrypoint_reset_and_set() -> None:
    assert body_of("--entrypoint", "/bin/sh", "busybox")[1]["Entrypoint"] == ["/bin/sh"]
    assert body_of("--entrypoint=", "busybox")[1]["Entrypoint"] == [""]


def test_volumes_binds_and_mounts() -> None:
    _, body = body_of(
        "-v",
        "/data",
        "-v",
        "named:/n:ro",
        "-v",
        "./rel:/r",
        "--mount",
        "type=bind,source=/src,target=/dst,readonly",
        "--tmpfs",
        "/run:size=64m",
        "busybox",
    )
    assert body["Volumes"] == {"/data": {}}
    host = body["HostConfig"]
    assert host["Binds"] == ["named:/n:ro", "/work/rel:/r"]
    assert host["Mounts"] == [
        {"Type": "bind", "Source": "/src", "Target": "/dst", "ReadOnly": True}
    ]
    assert host["Tmpfs"] == {"/run": "size=64m"}


def test_security_and_devices() -> None:
    _, body = body_of(
        "--cap-add",
        "NET_ADMIN",
        "--cap-drop",
        "ALL",
        "--privileged",
        "--security-opt",
        "no-new-privileges",
        "--device",
        "/dev/fuse",
        "--ulimit",
        "nofile=1024:2048",
        "--sysctl",
        "net.ipv4.ip_forward=1",
        "--read-only",
        "--init",
        "busybox",
    )
    host = body["HostConfig"]
    assert host["CapAdd"] == ["NET_ADMIN"] and host["CapDrop"] == ["ALL"]
    assert host["Privileged"] and host["ReadonlyRootfs"] and host["Init"] is True
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["Devices"] == [
        {"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"}
    ]
    assert host["Ulimits"] == [{"Name": "nofile", "Hard": 2048, "Soft": 1024}]
    assert host["Sysctls"] == {"net.ipv4.ip_forward": "1"}


def test_seccomp_profile_file_is_inlined(tmp_path: Path) -> None:
    profile = tmp_path / "p.json"
    profile.write_text('{ "defaultAction": "SCMP_ACT_ALLOW" }')
    _, body = body_of("--security-opt", f"seccomp={profile}", "busybox")
    assert body["HostConfig"]["SecurityOpt"] == ['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}']
    with pytest.raises(UsageError, match="Invalid --security-opt"):
        body_of("--security-opt", "label", "busybox")


def test_naming_restart_stop_and_host_options() -> None:
    name, body = body_of(
        "--name",
        "web",
        "--restart",
        "on-failure:3",
        "--stop-signal",
        "SIGINT",
        "--stop-timeout",
        "5",
        "-h",
        "box",
        "--add-host",
        "db:10.0.0.2",
        "--network",
        "none",
        "--log-opt",
        "max-size=1m",
        "-u",
        "1000:1000",
        "-w",
        "/srv",
        "busybox",
    )
    assert name == "web"
    host = body["HostConfig"]
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert body["StopSignal"] == "SIGINT" and body["StopTimeout"] == 5
    assert body["Hostname"] == "box" and body["User"] == "1000:1000"
    assert body["WorkingDir"] == "/srv"
    assert host["ExtraHosts"] == ["db:10.0.0.2"]
    assert host["NetworkMode"] == "none"
    assert host["LogConfig"] == {"Type": "", "Config": {"max-size": "1m"}}


def test_publish_goes_to_port_bindings() -> None:
    _, body = body_of("-p", "8080:80", "-p", "127.0.0.1::53/udp", "busybox")
    assert body["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert body["HostConfig"]["PortBindings"] == {
        "80/tcp": [{"HostIp": "", "HostPort": "8080"}],
        "53/udp": [{"HostIp": "127.0.0.1", "HostPort": ""}],
    }


def test_conflicts() -> None:
    with pytest.raises(UsageError, match="--restart and --rm"):
        body_of("--rm", "--restart", "always", "busybox")
    with pytest.raises(UsageError, match="Conflicting options: -a and -d"):
        body_of("-d", "-a", "stdout", "busybox")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--cpus", "x"], "failed to parse x as a rational number"),
        (["--restart", "sometimes"], "invalid restart policy"),
        (["--restart", "always:3"], "maximum retry count cannot be used"),
        (["--ulimit", "nofile"], "invalid ulimit argument"),
        (["--mount", "type=bind,source=/a"], "target is required"),
        (["--mount", "type=bind,bogus=1,target=/a"], "unexpected key 'bogus'"),
        (["-p", "99999:80"], "invalid port range"),
        (["--tmpfs", "relative"], "mount path must be absolute"),
    ],
)
def test_bad_values_are_usage_errors(argv: list[str], fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        body_of(*argv, "busybox")
    assert fragment in info.value.message
    assert info.value.status == 125


def test_value_parsers() -> None:
    assert parse_restart("unless-stopped") == {"Name": "unless-stopped", "MaximumRetryCount": 0}
    assert parse_ulimit("nproc=10") == {"Name": "nproc", "Hard": 10, "Soft": 10}
    assert parse_device("/dev/a:/dev/b:r") == {
        "PathOnHost": "/dev/a",
        "PathInContainer": "/dev/b",
        "CgroupPermissions": "r",
    }
    assert parse_mount("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1777") == {
        "Type": "tmpfs",
        "Target": "/t",
        "TmpfsOptions": {"SizeBytes": 1 << 20, "Mode": 0o1777},
    }
    assert parse_mount("source=v,target=/v")["Type"] == "volume"
    assert parse_port("8000-8001:80-81") == [
        ("80/tcp", {"HostIp": "", "HostPort": "8000"}),
        ("81/tcp", {"HostIp": "", "HostPort": "8001"}),
    ]
