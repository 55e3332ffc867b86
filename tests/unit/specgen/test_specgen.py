"""The spec generator against Docker's known defaults and rules."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dockyard.oci import defaults as D
from dockyard.oci.specgen import (
    SpecError,
    combine_command,
    etc_hosts_content,
    evaluate_seccomp,
    generate_spec,
    merge_env,
    parse_bind,
    parse_device,
    parse_extra_host,
    parse_mounts,
    resolve_user,
    tweak_capabilities,
)

PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "app:x:1000:1000:App:/home/app:/bin/sh\n"
    "broken line\n"
)
GROUP = "root:x:0:\nwheel:x:10:app,other\nstaff:x:50:app\napp:x:1000:\n"

# Docker's default capability mask as seen in /proc/<pid>/status of a `docker run` process.
DOCKER_CAP_MASK = 0xA80425FB


def spec(
    create: dict[str, Any] | None = None, image: dict[str, Any] | None = None, **kw: Any
) -> dict[str, Any]:
    kw.setdefault("arch", "x86_64")
    kw.setdefault("kernel", "6.1.0")
    kw.setdefault("ncpu", 2)
    return generate_spec(
        image if image is not None else {"Cmd": ["sh"]},
        create or {},
        rootfs="/rootfs",
        hostname="abc123",
        container_id="abc123def",
        passwd=PASSWD,
        group=GROUP,
        **kw,
    )


def cap_mask(caps: list[str]) -> int:
    return sum(1 << D.ALL_CAPABILITIES.index(c) for c in caps)


def test_default_capabilities_are_dockers_14() -> None:
    s = spec()
    caps = s["process"]["capabilities"]
    assert len(D.DEFAULT_CAPABILITIES) == 14
    assert caps["bounding"] == list(D.DEFAULT_CAPABILITIES)
    assert caps["effective"] == caps["permitted"] == caps["bounding"]
    assert not caps.get("inheritable") and not caps.get("ambient")
    assert cap_mask(caps["bounding"]) == DOCKER_CAP_MASK


def test_masked_and_readonly_paths_and_mounts() -> None:
    s = spec()
    assert "/proc/kcore" in s["linux"]["maskedPaths"]
    assert "/sys/firmware" in s["linux"]["maskedPaths"]
    assert s["linux"]["readonlyPaths"] == [
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ]
    by_dest = {m["destination"]: m for m in s["mounts"]}
    assert set(by_dest) >= {
        "/proc",
        "/dev",
        "/dev/pts",
        "/sys",
        "/sys/fs/cgroup",
        "/dev/mqueue",
        "/dev/shm",
    }
    assert "size=67108864" in by_dest["/dev/shm"]["options"]
    assert "ro" in by_dest["/sys"]["options"]
    types = [n["type"] for n in s["linux"]["namespaces"]]
    assert sorted(types) == ["ipc", "mount", "network", "pid", "uts"]
    assert s["linux"]["cgroupsPath"] == "/dockyard/abc123def"
    assert s["hostname"] == "abc123"
    assert s["root"] == {"path": "/rootfs", "readonly": False}
    assert s["process"]["cwd"] == "/"
    json.dumps(s)  # plain JSON data all the way down


def test_shm_size_and_ipc_modes() -> None:
    s = spec({"HostConfig": {"ShmSize": 128 * 1024 * 1024}})
    shm = next(m for m in s["mounts"] if m["destination"] == "/dev/shm")
    assert "size=134217728" in shm["options"]
    s = spec({"HostConfig": {"IpcMode": "none"}})
    assert not any(m["destination"] == "/dev/shm" for m in s["mounts"])
    s = spec({"HostConfig": {"IpcMode": "host", "PidMode": "host", "NetworkMode": "host"}})
    assert [n["type"] for n in s["linux"]["namespaces"]] == ["mount", "uts"]
    with pytest.raises(SpecError, match="SHM size can not be less than 0"):
        spec({"HostConfig": {"ShmSize": -1}})


def test_cap_add_drop_rules() -> None:
    caps = tweak_capabilities(["net_admin", "CAP_SYS_TIME"], ["chown", "CAP_KILL"], False)
    assert "CAP_NET_ADMIN" in caps and "CAP_SYS_TIME" in caps
    assert "CAP_CHOWN" not in caps and "CAP_KILL" not in caps
    assert len(caps) == 14
    assert tweak_capabilities(["NET_ADMIN"], ["ALL"], False) == ["CAP_NET_ADMIN"]
    all_but = tweak_capabilities(["ALL"], ["SYS_ADMIN"], False)
    assert "CAP_SYS_ADMIN" not in all_but and len(all_but) == len(D.ALL_CAPABILITIES) - 1
    assert tweak_capabilities(["CHOWN"], [], False).count("CAP_CHOWN") == 1
    assert tweak_capabilities([], [], True) == list(D.ALL_CAPABILITIES)


def test_unknown_capability_message() -> None:
    with pytest.raises(SpecError) as e:
        spec({"HostConfig": {"CapAdd": ["CAP_FOO"]}})
    assert str(e.value) == 'invalid CapAdd: unknown capability: "CAP_FOO"'
    with pytest.raises(SpecError, match='invalid CapDrop: unknown capability: "CAP_BAR"'):
        spec({"HostConfig": {"CapDrop": ["bar"]}})


def test_privileged() -> None:
    s = spec({"HostConfig": {"Privileged": True}})
    assert s["process"]["capabilities"]["bounding"] == list(D.ALL_CAPABILITIES)
    assert "seccomp" not in s["linux"]
    assert s["linux"]["maskedPaths"] == [] and s["linux"]["readonlyPaths"] == []
    assert s["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    sysfs = next(m for m in s["mounts"] if m["destination"] == "/sys")
    assert "ro" not in sysfs["options"]


def syscall_rules(seccomp: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [r for r in seccomp["syscalls"] if name in r["names"]]


def test_default_seccomp_profile_for_default_caps() -> None:
    sc = spec()["linux"]["seccomp"]
    assert sc["defaultAction"] == "SCMP_ACT_ERRNO"
    assert sc["defaultErrnoRet"] == 1
    assert sc["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    allowed = {
        n
        for r in sc["syscalls"]
        if r["action"] == "SCMP_ACT_ALLOW" and "args" not in r
        for n in r["names"]
    }
    assert {"read", "write", "execve", "arch_prctl", "chroot", "ptrace"} <= allowed
    # Not allowed without CAP_SYS_ADMIN: mount, unshare, setns, and clone only with flags.
    assert not {"mount", "unshare", "setns", "reboot", "bpf"} & allowed
    clone = syscall_rules(sc, "clone")
    assert len(clone) == 1
    assert clone[0]["args"] == [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}]
    assert syscall_rules(sc, "clone3")[0]["action"] == "SCMP_ACT_ERRNO"
    assert syscall_rules(sc, "clone3")[0]["errnoRet"] == 38
    personas = sorted(r["args"][0]["value"] for r in syscall_rules(sc, "personality"))
    assert personas == [0, 8, 131072, 131080, 4294967295]
    # No rule for another architecture survives.
    assert not syscall_rules(sc, "s390_runtime_instr")
    assert not syscall_rules(sc, "set_tls")


def test_seccomp_follows_caps_arch_and_kernel() -> None:
    sc = spec({"HostConfig": {"CapAdd": ["SYS_ADMIN"]}})["linux"]["seccomp"]
    clone = syscall_rules(sc, "clone")
    assert clone and all("args" not in r for r in clone)  # unrestricted with SYS_ADMIN
    assert not syscall_rules(sc, "clone3") or all(
        r["action"] == "SCMP_ACT_ALLOW" for r in syscall_rules(sc, "clone3")
    )
    assert syscall_rules(sc, "mount")
    profile = D.default_seccomp_profile()
    arm = evaluate_seccomp(profile, list(D.DEFAULT_CAPABILITIES), "aarch64", "6.1")
    assert arm["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert syscall_rules(arm, "set_tls") and not syscall_rules(arm, "arch_prctl")
    old = evaluate_seccomp(profile, list(D.DEFAULT_CAPABILITIES), "x86_64", "4.4.0")
    # ptrace is allowed by default only from kernel 4.8 (seccomp bypass fixed there).
    assert not syscall_rules(old, "ptrace")
    assert syscall_rules(spec()["linux"]["seccomp"], "ptrace")


def test_seccomp_options() -> None:
    assert "seccomp" not in spec({"HostConfig": {"SecurityOpt": ["seccomp=unconfined"]}})["linux"]
    custom = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["chmod"], "action": "SCMP_ACT_ERRNO"}],
    }
    sc = spec({"HostConfig": {"SecurityOpt": ["seccomp=" + json.dumps(custom)]}})["linux"][
        "seccomp"
    ]
    assert sc["defaultAction"] == "SCMP_ACT_ALLOW"
    assert sc["syscalls"] == [{"names": ["chmod"], "action": "SCMP_ACT_ERRNO"}]
    with pytest.raises(SpecError, match="Decoding seccomp profile failed"):
        spec({"HostConfig": {"SecurityOpt": ["seccomp={nope"]}})
    s = spec({"HostConfig": {"SecurityOpt": ["no-new-privileges"]}})
    assert s["process"]["noNewPrivileges"] is True
    assert spec({"HostConfig": {"SecurityOpt": ["no-new-privileges:true"]}})["process"][
        "noNewPrivileges"
    ]
    assert spec()["process"]["noNewPrivileges"] is False
    with pytest.raises(SpecError, match="Invalid --security-opt"):
        spec({"HostConfig": {"SecurityOpt": ["bogus"]}})


def test_entrypoint_and_cmd_combination() -> None:
    img = {"Entrypoint": ["/entry"], "Cmd": ["--default"]}
    assert combine_command(img, {}) == ["/entry", "--default"]
    assert combine_command(img, {"Cmd": ["x"]}) == ["/entry", "x"]
    # A request entrypoint drops the image's Cmd.
    assert combine_command(img, {"Entrypoint": ["/other"]}) == ["/other"]
    assert combine_command(img, {"Entrypoint": ["/other"], "Cmd": ["y"]}) == ["/other", "y"]
    # --entrypoint "" clears the entrypoint but keeps the image's Cmd.
    assert combine_command(img, {"Entrypoint": [""]}) == ["--default"]
    assert combine_command(img, {"Entrypoint": ""}) == ["--default"]
    assert combine_command({"Cmd": ["sh"]}, {"Cmd": "echo hi"}) == ["echo hi"]
    with pytest.raises(SpecError, match="No command specified"):
        combine_command({}, {})


def test_env_merge_order_and_defaults() -> None:
    assert merge_env(["A=1", "B=2"], ["B=3", "C=4"], ["A=5"]) == ["A=5", "B=3", "C=4"]
    assert merge_env(["A=1", "B=2"], ["A"]) == ["B=2"]
    s = spec(
        {"Env": ["FOO=req", "PATH=/custom"], "Tty": True},
        {"Env": ["FOO=img", "X=1"], "Cmd": ["sh"]},
    )
    env = s["process"]["env"]
    assert env[:3] == ["PATH=/custom", "HOSTNAME=abc123", "TERM=xterm"]
    assert "FOO=req" in env and "X=1" in env and "HOME=/root" in env
    env = spec()["process"]["env"]
    assert env[0] == "PATH=" + D.DEFAULT_PATH_ENV
    assert not any(e.startswith("TERM=") for e in env)


def test_user_resolution() -> None:
    u = resolve_user("app", PASSWD, GROUP)
    assert (u.uid, u.gid, u.home) == (1000, 1000, "/home/app")
    # The primary group first, as dockerd: `id` in the container lists it among the groups.
    assert u.additional_gids == (1000, 10, 50)
    assert resolve_user("1000", PASSWD, GROUP).uid == 1000
    assert resolve_user("app:wheel", PASSWD, GROUP).gid == 10
    assert resolve_user("app:wheel", PASSWD, GROUP).additional_gids == (10,)
    u = resolve_user("4242:77", PASSWD, GROUP)
    assert (u.uid, u.gid, u.home) == (4242, 77, "/")
    assert resolve_user("", None, None).uid == 0
    assert resolve_user("daemon", PASSWD, GROUP, ["staff", "99"]).additional_gids == (1, 50, 99)
    assert resolve_user("4242", PASSWD, GROUP).additional_gids == (0,)
    with pytest.raises(SpecError) as e:
        resolve_user("nobody2", PASSWD, GROUP)
    assert str(e.value) == "unable to find user nobody2: no matching entries in passwd file"
    with pytest.raises(SpecError, match="unable to find group nogroup2"):
        resolve_user("app:nogroup2", PASSWD, GROUP)
    s = spec({"User": "app"})
    assert s["process"]["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [1000, 10, 50]}
    assert "HOME=/home/app" in s["process"]["env"]


def test_working_dir() -> None:
    assert spec({"WorkingDir": "/srv/app/"})["process"]["cwd"] == "/srv/app"
    assert spec({}, {"Cmd": ["sh"], "WorkingDir": "/img"})["process"]["cwd"] == "/img"
    with pytest.raises(SpecError, match="needs to be an absolute path"):
        spec({"WorkingDir": "rel"})


def test_resources() -> None:
    hc = {
        "Memory": 64 << 20,
        "NanoCpus": 1_500_000_000,
        "PidsLimit": 100,
        "CpuShares": 512,
        "CpusetCpus": "0-1",
    }
    res = spec({"HostConfig": hc})["linux"]["resources"]
    assert res["memory"] == {"limit": 64 << 20, "swap": 128 << 20}
    assert res["cpu"] == {"period": 100000, "quota": 150000, "shares": 512, "cpus": "0-1"}
    assert res["pids"] == {"limit": 100}
    assert res["devices"][0] == {"allow": False, "access": "rwm"}
    assert spec({"HostConfig": {"Memory": 64 << 20, "MemorySwap": -1}})["linux"]["resources"][
        "memory"
    ] == {"limit": 64 << 20, "swap": -1}
    assert "pids" not in spec({"HostConfig": {"PidsLimit": -1}})["linux"]["resources"]


@pytest.mark.parametrize(
    ("hc", "message"),
    [
        ({"Memory": 1024}, "Minimum memory limit allowed is 6MB"),
        ({"MemorySwap": 1 << 30}, "You should always set the Memory limit when using Memoryswap"),
        ({"Memory": 1 << 30, "MemorySwap": 64 << 20}, "Minimum memoryswap limit should be larger"),
        ({"NanoCpus": 3_000_000_000}, "Range of CPUs is from 0.01 to 2.00"),
        ({"NanoCpus": 1_000_000_000, "CpuPeriod": 50000}, "Nano CPUs and CPU Period"),
        ({"Ulimits": [{"Name": "bogus", "Soft": 1, "Hard": 1}]}, "invalid ulimit type: bogus"),
        ({"OomScoreAdj": 2000}, "range for oom score adj is"),
        ({"Sysctls": {"vm.swappiness": "1"}}, "not whitelisted"),
        ({"Sysctls": {"net.ipv4.ip_forward": "1"}, "NetworkMode": "host"}, "host network"),
        ({"Init": True}, "docker-init binary not found"),
    ],
)
def test_invalid_host_config(hc: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        spec({"HostConfig": hc})


def test_ulimits_sysctls_oom_init() -> None:
    s = spec(
        {
            "HostConfig": {
                "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
                "Sysctls": {"net.ipv4.ip_forward": "1", "kernel.shmmax": "1000"},
                "OomScoreAdj": 500,
                "Init": True,
            }
        },
        init_path="/usr/bin/docker-init",
    )
    assert s["process"]["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 2048, "soft": 1024}]
    assert s["linux"]["sysctl"] == {"net.ipv4.ip_forward": "1", "kernel.shmmax": "1000"}
    assert s["process"]["oomScoreAdj"] == 500
    assert s["process"]["args"] == ["/sbin/docker-init", "--", "sh"]
    init = next(m for m in s["mounts"] if m["destination"] == "/sbin/docker-init")
    assert init["source"] == "/usr/bin/docker-init" and "ro" in init["options"]
    assert spec()["process"]["rlimits"] == []


def test_binds_mounts_tmpfs() -> None:
    assert parse_bind("/host:/ctr:ro").read_only
    b = parse_bind("data:/var/lib/data:rw,nocopy")
    assert (b.type, b.source, b.target, b.nocopy) == ("volume", "data", "/var/lib/data", True)
    assert parse_bind("/anon").type == "volume"
    with pytest.raises(SpecError, match="invalid mode: bogus"):
        parse_bind("/a:/b:bogus")
    with pytest.raises(SpecError, match="mount path must be absolute"):
        parse_bind("/a:rel")
    reqs = parse_mounts({"HostConfig": {"Tmpfs": {"/run": "exec,size=1m"}}})
    assert reqs[0].options == ["nosuid", "nodev", "exec", "size=1m"]
    with pytest.raises(SpecError, match="Duplicate mount point: /data"):
        parse_mounts({"HostConfig": {"Binds": ["/a:/data"], "Tmpfs": {"/data": ""}}})
    s = spec(
        {
            "HostConfig": {
                "Binds": ["/srv/x:/data/x:ro", "vol:/data"],
                "Mounts": [
                    {"Type": "tmpfs", "Target": "/scratch", "TmpfsOptions": {"SizeBytes": 1 << 20}}
                ],
                "ReadonlyRootfs": True,
            }
        },
        volume_paths={"vol": "/var/lib/dockyard/volumes/vol/_data"},
        etc_files={"/etc/hosts": "/run/c/hosts", "/etc/resolv.conf": "/run/c/resolv.conf"},
    )
    dests = [m["destination"] for m in s["mounts"]]
    # Parents before children, and the defaults first.
    assert dests.index("/data") < dests.index("/data/x")
    assert dests.index("/proc") < dests.index("/data")
    data = next(m for m in s["mounts"] if m["destination"] == "/data")
    assert data["source"] == "/var/lib/dockyard/volumes/vol/_data"
    assert data["options"] == ["rbind", "rprivate", "rw"]
    hosts = next(m for m in s["mounts"] if m["destination"] == "/etc/hosts")
    assert hosts["source"] == "/run/c/hosts" and "ro" in hosts["options"]
    scratch = next(m for m in s["mounts"] if m["destination"] == "/scratch")
    assert "size=1048576" in scratch["options"]
    assert s["root"]["readonly"] is True
    with pytest.raises(SpecError, match="no host path for volume"):
        spec({"HostConfig": {"Binds": ["missing:/m"]}})


def test_user_mount_replaces_default_mount() -> None:
    s = spec({"HostConfig": {"Binds": ["/hostshm:/dev/shm"]}})
    shm = [m for m in s["mounts"] if m["destination"] == "/dev/shm"]
    assert len(shm) == 1 and shm[0]["type"] == "bind"


def test_devices() -> None:
    assert parse_device("/dev/sda") == ("/dev/sda", "/dev/sda", "rwm")
    assert parse_device("/dev/sda:/dev/xvda:r") == ("/dev/sda", "/dev/xvda", "r")
    assert parse_device("/dev/sda:rw") == ("/dev/sda", "/dev/sda", "rw")
    with pytest.raises(SpecError):
        parse_device("/dev/sda:/dev/x:rwx")

    def lookup(path: str) -> dict[str, Any]:
        assert path == "/dev/fuse"
        return {
            "path": path,
            "type": "c",
            "major": 10,
            "minor": 229,
            "fileMode": 0o666,
            "uid": 0,
            "gid": 0,
        }

    s = spec(
        {
            "HostConfig": {
                "Devices": [
                    {
                        "PathOnHost": "/dev/fuse",
                        "PathInContainer": "/dev/fuse",
                        "CgroupPermissions": "rwm",
                    }
                ]
            }
        },
        device_lookup=lookup,
    )
    assert s["linux"]["devices"][0]["path"] == "/dev/fuse"
    assert s["linux"]["resources"]["devices"][-1] == {
        "allow": True,
        "type": "c",
        "major": 10,
        "minor": 229,
        "access": "rwm",
    }


def test_hosts_file() -> None:
    text = etc_hosts_content("box", ["db:10.0.0.5", "v6=[::1]"], ip="172.17.0.2")
    lines = text.splitlines()
    assert lines[0] == "127.0.0.1\tlocalhost"
    assert "10.0.0.5\tdb" in lines and "::1\tv6" in lines
    assert lines[-1] == "172.17.0.2\tbox"
    assert parse_extra_host("gw:host-gateway") == ("gw", "host-gateway")
    with pytest.raises(SpecError, match="--add-host"):
        parse_extra_host("justname")
    with pytest.raises(SpecError):
        parse_extra_host("x:not-an-ip")


def test_hostname_domainname_stopsignal_uts() -> None:
    s = spec({"Domainname": "example.org", "StopSignal": "SIGQUIT"})
    assert s["domainname"] == "example.org"
    assert s["annotations"]["org.opencontainers.image.stopSignal"] == "SIGQUIT"
    # With the host's UTS namespace the host's name stays (the engine refuses -h with it).
    s = spec({"Hostname": "x", "HostConfig": {"UTSMode": "host"}})
    assert "hostname" not in s
    assert "uts" not in [n["type"] for n in s["linux"]["namespaces"]]


def test_private_cgroup_namespace_only_when_asked() -> None:
    kinds = [n["type"] for n in spec()["linux"]["namespaces"]]
    assert "cgroup" not in kinds
    s = spec({"HostConfig": {"CgroupnsMode": "private"}})
    assert [n for n in s["linux"]["namespaces"] if n["type"] == "cgroup"] == [{"type": "cgroup"}]
    s = spec(namespace_paths={"cgroup": "/proc/7/ns/cgroup"})
    assert [n for n in s["linux"]["namespaces"] if n["type"] == "cgroup"] == [
        {"type": "cgroup", "path": "/proc/7/ns/cgroup"}
    ]


def test_join_namespace_paths() -> None:
    s = spec(namespace_paths={"network": "/run/netns/c1"})
    net = next(n for n in s["linux"]["namespaces"] if n["type"] == "network")
    assert net == {"type": "network", "path": "/run/netns/c1"}


def test_host_config_extras() -> None:
    s = spec(
        {
            "HostConfig": {
                "CgroupParent": "custom",
                "OomKillDisable": True,
                "Memory": 64 << 20,
                "MaskedPaths": ["/proc/secret"],
                "ReadonlyPaths": [],
            }
        }
    )
    assert s["linux"]["cgroupsPath"] == "/custom/abc123def"
    assert s["linux"]["resources"]["memory"]["disableOOMKiller"] is True
    assert s["linux"]["maskedPaths"] == ["/proc/secret"]
    assert s["linux"]["readonlyPaths"] == []
    with pytest.raises(SpecError, match="invalid environment variable: =x"):
        spec({"Env": ["=x"]})


def test_console_size_for_tty_only() -> None:
    s = spec({"Tty": True, "ConsoleSize": [40, 120]})
    assert s["process"]["consoleSize"] == {"height": 40, "width": 120}
    assert "consoleSize" not in spec({"ConsoleSize": [40, 120]})["process"]
    assert "consoleSize" not in spec({"Tty": True, "ConsoleSize": [0, 0]})["process"]
