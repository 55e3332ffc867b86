"""Section 3 of the issue, each feature checked from inside a real container."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from .conftest import Runtime, make_config

pytestmark = pytest.mark.root

ALL_NS = ["pid", "network", "ipc", "uts", "mount", "cgroup"]


def status_field(text: str, name: str) -> str:
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"{name} not in status")


def cap_mask(names: list[str]) -> int:
    from dockyard.linux.capabilities import parse_caps

    return parse_caps(names)


def test_isolation_pid_hostname_domainname(rt: Runtime) -> None:
    cfg = make_config(
        ["sh", "-c", "echo $$; hostname; cat /proc/sys/kernel/domainname; ps -o pid,comm"]
    )
    cfg["hostname"] = "box1"
    cfg["domainname"] = "example.test"
    cfg["linux"]["namespaces"] = [{"type": t} for t in ALL_NS]
    out = rt.output(cfg).split("\n")
    assert out[0] == "1"
    assert out[1] == "box1"
    assert out[2] == "example.test"
    # Only the container's own processes are visible.
    assert len([ln for ln in out[3:] if ln.strip()]) == 2  # header + sh/ps
    assert os.uname().nodename != "box1"


def test_namespaces_differ_from_host(rt: Runtime) -> None:
    cfg = make_config(
        ["sh", "-c", "for n in pid net ipc uts mnt cgroup; do readlink /proc/self/ns/$n; done"]
    )
    cfg["linux"]["namespaces"] = [{"type": t} for t in ALL_NS]
    inside = rt.output(cfg).split()
    host = [
        os.readlink(f"/proc/self/ns/{n}") for n in ("pid", "net", "ipc", "uts", "mnt", "cgroup")
    ]
    assert len(inside) == 6
    for a, b in zip(inside, host, strict=True):
        assert a.split(":")[0] == b.split(":")[0] and a != b


def test_join_existing_namespace_by_path(rt: Runtime) -> None:
    cid = rt.create(make_config(["sleep", "100"]))
    rt.cmd("start", cid, check=True)
    pid = rt.state(cid)["pid"]
    cfg = make_config(["sh", "-c", "readlink /proc/self/ns/uts; hostname"])
    cfg["hostname"] = "other"
    cfg["linux"]["namespaces"] = [
        {"type": "mount"},
        {"type": "pid"},
        {"type": "uts", "path": f"/proc/{pid}/ns/uts"},
    ]
    out = rt.output(cfg).split()
    assert out[0] == os.readlink(f"/proc/{pid}/ns/uts")
    # The joined namespace now carries the hostname we set: it is shared.
    r = rt.cmd("exec", cid, "hostname")
    assert r.stdout.strip() == "other"


def test_default_capabilities_and_nnp(rt: Runtime) -> None:
    out = rt.output(make_config(["cat", "/proc/self/status"]))
    want = cap_mask(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"])
    assert int(status_field(out, "CapBnd"), 16) == want
    assert int(status_field(out, "CapEff"), 16) == want
    assert int(status_field(out, "CapPrm"), 16) == want
    # runc's default spec lists ambient caps but no inheritable ones: none can be raised.
    assert int(status_field(out, "CapInh"), 16) == 0
    assert int(status_field(out, "CapAmb"), 16) == 0
    assert status_field(out, "NoNewPrivs") == "1"


def test_all_five_capability_sets_exact(rt: Runtime) -> None:
    # As uid 0, execve() makes permitted = effective = bounding | inheritable (the kernel's
    # root rule), so bounding is what a root process ends up with, as with runc.
    caps = ["CAP_CHOWN", "CAP_NET_RAW", "CAP_SETUID"]
    cfg = make_config(["cat", "/proc/self/status"], noNewPrivileges=False)
    cfg["process"]["capabilities"] = {
        "bounding": caps,
        "effective": caps,
        "permitted": caps,
        "inheritable": ["CAP_NET_RAW"],
        "ambient": ["CAP_NET_RAW"],
    }
    out = rt.output(cfg)
    assert int(status_field(out, "CapBnd"), 16) == cap_mask(caps)
    assert int(status_field(out, "CapEff"), 16) == cap_mask(caps)
    assert int(status_field(out, "CapPrm"), 16) == cap_mask(caps)
    assert int(status_field(out, "CapInh"), 16) == cap_mask(["CAP_NET_RAW"])
    assert int(status_field(out, "CapAmb"), 16) == cap_mask(["CAP_NET_RAW"])
    assert status_field(out, "NoNewPrivs") == "0"


def test_user_groups_umask(rt: Runtime) -> None:
    cfg = make_config(["sh", "-c", "id -u; id -g; id -G; umask; touch /tmp/f; stat -c %a /tmp/f"])
    cfg["process"]["user"] = {"uid": 1000, "gid": 1001, "additionalGids": [5, 7], "umask": 0o027}
    out = rt.output(cfg).split("\n")
    assert out[0] == "1000" and out[1] == "1001"
    assert set(out[2].split()) == {"1001", "5", "7"}
    assert out[3] == "0027"
    assert out[4] == "640"


def test_nonroot_user_keeps_only_ambient_caps(rt: Runtime) -> None:
    # A non-root process keeps across execve() exactly its ambient set.
    cfg = make_config(["cat", "/proc/self/status"])
    cfg["process"]["user"] = {"uid": 1000, "gid": 1000}
    cfg["process"]["capabilities"]["inheritable"] = ["CAP_NET_BIND_SERVICE"]
    cfg["process"]["capabilities"]["ambient"] = ["CAP_NET_BIND_SERVICE"]
    out = rt.output(cfg)
    assert status_field(out, "Uid").split()[0] == "1000"
    want = cap_mask(["CAP_NET_BIND_SERVICE"])
    assert int(status_field(out, "CapEff"), 16) == want
    assert int(status_field(out, "CapPrm"), 16) == want
    assert int(status_field(out, "CapAmb"), 16) == want
    assert int(status_field(out, "CapInh"), 16) == want
    bnd = cap_mask(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"])
    assert int(status_field(out, "CapBnd"), 16) == bnd


def test_rlimits(rt: Runtime) -> None:
    cfg = make_config(["cat", "/proc/self/limits"])
    cfg["process"]["rlimits"] = [
        {"type": "RLIMIT_NOFILE", "soft": 321, "hard": 654},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
    ]
    out = rt.output(cfg)
    line = next(ln for ln in out.splitlines() if ln.startswith("Max open files"))
    assert line.split()[3:5] == ["321", "654"]
    core = next(ln for ln in out.splitlines() if ln.startswith("Max core file size"))
    assert core.split()[4:6] == ["0", "0"]


def test_readonly_root_and_writable_tmpfs(rt: Runtime) -> None:
    cfg = make_config(
        ["sh", "-c", "touch /x 2>/dev/null && echo wrote-root; touch /dev/shm/y && echo wrote-shm"]
    )
    cfg["root"]["readonly"] = True
    out = rt.output(cfg)
    assert "wrote-root" not in out and "wrote-shm" in out
    assert not (rt.rootfs / "x").exists()


def test_mounts_options_and_bind(rt: Runtime, tmp_path: Path) -> None:
    src = tmp_path / "data"
    src.mkdir()
    (src / "hello").write_text("hi")
    cfg = make_config(
        [
            "sh",
            "-c",
            "cat /data/hello; echo; echo x > /data/new 2>/dev/null || echo ro-ok; "
            "cat /proc/self/mountinfo",
        ]
    )
    cfg["mounts"] += [
        {
            "destination": "/data",
            "type": "bind",
            "source": str(src),
            "options": ["rbind", "ro", "nosuid"],
        },
        {
            "destination": "/scratch",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["size=1m", "mode=700", "noexec"],
        },
    ]
    out = rt.output(cfg)
    lines = out.splitlines()
    assert lines[0] == "hi" and lines[1] == "ro-ok"
    data = next(ln for ln in lines if " /data " in ln)
    assert data.split()[5].startswith("ro") and "nosuid" in data.split()[5]
    scratch = next(ln for ln in lines if " /scratch " in ln)
    assert "noexec" in scratch.split()[5] and "size=1024k" in scratch and "mode=700" in scratch
    assert not (src / "new").exists()
    # Nothing leaked to the host's mount table.
    assert str(src) not in Path("/proc/self/mountinfo").read_text()


def test_mount_propagation_option(rt: Runtime, tmp_path: Path) -> None:
    src = tmp_path / "shared"
    src.mkdir()
    cfg = make_config(["cat", "/proc/self/mountinfo"])
    cfg["mounts"].append(
        {
            "destination": "/mnt/p",
            "type": "bind",
            "source": str(src),
            "options": ["rbind", "rprivate"],
        }
    )
    line = next(ln for ln in rt.output(cfg).splitlines() if " /mnt/p " in ln)
    optional = line.split(" - ")[0].split()[6:]
    assert not any(o.startswith("shared:") for o in optional)


def test_default_devices_and_linux_devices(rt: Runtime) -> None:
    cfg = make_config(
        [
            "sh",
            "-c",
            "ls -l /dev; readlink /dev/ptmx /dev/fd /dev/stdin; "
            "echo ok > /dev/null && echo null-ok",
        ]
    )
    cfg["linux"]["devices"] = [
        {
            "path": "/dev/mynull",
            "type": "c",
            "major": 1,
            "minor": 3,
            "fileMode": 0o640,
            "uid": 0,
            "gid": 0,
        }
    ]
    out = rt.output(cfg)
    rows = {ln.split()[-1]: ln for ln in out.splitlines() if ln.startswith(("c", "l"))}
    for name, major, minor in (
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ):
        row = rows[name]
        assert row.startswith("crw-rw-rw-"), row
        assert row.split()[4:6] == [f"{major},", str(minor)]
    assert rows["mynull"].startswith("crw-r-----")
    assert "pts/ptmx" in out and "/proc/self/fd" in out and "/proc/self/fd/0" in out
    assert "null-ok" in out


def test_device_cgroup_denies_other_devices(rt: Runtime) -> None:
    # runc's default spec denies every device; the default nodes stay usable. /dev/mynull
    # is allowed too (listed in linux.devices), but a node made by hand is not.
    cfg = make_config(
        [
            "sh",
            "-c",
            "mknod /dev/sda8 b 8 8; "
            "head -c1 /dev/sda8 >/dev/null 2>&1 && echo opened || echo denied; "
            "head -c 4 /dev/zero | wc -c",
        ],
        noNewPrivileges=False,
    )
    cfg["process"]["capabilities"]["bounding"] += ["CAP_MKNOD"]
    cfg["process"]["capabilities"]["effective"] += ["CAP_MKNOD"]
    cfg["process"]["capabilities"]["permitted"] += ["CAP_MKNOD"]
    out = rt.output(cfg).split()
    assert out == ["denied", "4"]


def test_masked_and_readonly_paths(rt: Runtime) -> None:
    (rt.rootfs / "secret").mkdir()
    (rt.rootfs / "secret" / "key").write_text("k")
    cfg = make_config(
        [
            "sh",
            "-c",
            "cat /etc/passwd | wc -c; ls /secret | wc -l; "
            "echo 1 > /proc/sys/vm/overcommit_memory 2>/dev/null || echo ro-sys",
        ]
    )
    cfg["linux"]["maskedPaths"] = ["/etc/passwd", "/secret", "/does/not/exist"]
    cfg["linux"]["readonlyPaths"] = ["/proc/sys"]
    out = rt.output(cfg).split()
    assert out == ["0", "0", "ro-sys"]


def test_sysctls(rt: Runtime) -> None:
    cfg = make_config(["sh", "-c", "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni"])
    cfg["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"}
    cfg["linux"]["readonlyPaths"] = []
    assert rt.output(cfg).split() == ["1", "1234"]


def test_oom_score_adj(rt: Runtime) -> None:
    cfg = make_config(["cat", "/proc/self/oom_score_adj"], oomScoreAdj=345)
    assert rt.output(cfg).strip() == "345"


def test_cgroup_resources_v1(rt: Runtime) -> None:
    files = [
        "memory/memory.limit_in_bytes",
        "pids/pids.max",
        "cpu/cpu.cfs_quota_us",
        "cpu/cpu.shares",
    ]
    cfg = make_config(["cat", *(f"/sys/fs/cgroup/{f}" for f in files)])
    cfg["linux"]["resources"].update(
        {
            "memory": {"limit": 64 * 1024 * 1024},
            "pids": {"limit": 42},
            "cpu": {"quota": 50000, "period": 100000, "shares": 512},
        }
    )
    cfg["linux"]["namespaces"].append({"type": "cgroup"})
    out = rt.output(cfg).split()
    assert out == [str(64 * 1024 * 1024), "42", "50000", "512"]


def test_cgroup_namespace_root(rt: Runtime) -> None:
    cfg = make_config(["cat", "/proc/self/cgroup"])
    cfg["linux"]["namespaces"].append({"type": "cgroup"})
    out = rt.output(cfg)
    assert all(ln.endswith(":/") for ln in out.splitlines() if ln)


def test_update_resources(rt: Runtime, tmp_path: Path) -> None:
    cfg = make_config(["sleep", "100"])
    cfg["linux"]["namespaces"].append({"type": "cgroup"})
    cid = rt.create(cfg)
    rt.cmd("start", cid, check=True)
    res = tmp_path / "res.json"
    res.write_text(json.dumps({"memory": {"limit": 32 * 1024 * 1024}}))
    assert rt.cmd("update", "--resources", str(res), cid).returncode == 0
    assert rt.cmd("update", "--pids-limit", "17", cid).returncode == 0
    out = rt.cmd(
        "exec",
        cid,
        "cat",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        "/sys/fs/cgroup/pids/pids.max",
    )
    assert out.stdout.split() == [str(32 * 1024 * 1024), "17"]


def test_hostname_requires_uts(rt: Runtime) -> None:
    cfg = make_config(["true"])
    cfg["linux"]["namespaces"] = [{"type": "mount"}]
    r = rt.run(cfg)
    assert r.returncode != 0 and "uts" in r.stderr


def test_no_pivot(rt: Runtime) -> None:
    b = rt.bundle(make_config(["sh", "-c", "ls /; cat /proc/self/mountinfo | head -1"]))
    r = rt.cmd("run", "--no-pivot", "--bundle", str(b), rt.new_id())
    assert r.returncode == 0, r.stderr
    assert "bin" in r.stdout.split()


def test_time_namespace_offsets(rt: Runtime) -> None:
    if not Path("/proc/self/ns/time").exists():
        pytest.skip("kernel without time namespaces")
    cfg = make_config(["cat", "/proc/uptime"])
    cfg["linux"]["namespaces"].append({"type": "time"})
    cfg["linux"]["timeOffsets"] = {"boottime": {"secs": 86400 * 400, "nanosecs": 0}}
    up = float(rt.output(cfg).split()[0])
    assert up > 86400 * 400


def open_path_to(path: Path) -> None:
    """Let a mapped (non-host-root) uid traverse pytest's 0700 temp dirs to the rootfs."""
    for p in [path, *path.parents]:
        if p == Path("/"):
            break
        p.chmod(p.stat().st_mode | 0o011)


def test_user_namespace_mappings(rt: Runtime) -> None:
    open_path_to(rt.rootfs)
    cfg = make_config(["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; sleep 0.3"])
    cfg["linux"]["namespaces"].append({"type": "user"})
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    # sysfs and cgroup v1 can't be mounted from a user namespace without a netns owned by it.
    cfg["mounts"] = [m for m in cfg["mounts"] if m["type"] not in ("cgroup",)]
    for m in cfg["mounts"]:
        if m["type"] == "devpts":
            m["options"] = [o for o in m["options"] if o != "gid=5"]
    out = rt.output(cfg).split("\n")
    assert out[0].split() == ["0", "100000", "65536"]
    assert out[1].split() == ["0", "100000", "65536"]
    assert out[2] == "0"


def test_user_namespace_host_uid(rt: Runtime) -> None:
    open_path_to(rt.rootfs)
    cfg = make_config(["sleep", "100"])
    cfg["linux"]["namespaces"].append({"type": "user"})
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 1000}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 1000}]
    cfg["mounts"] = [m for m in cfg["mounts"] if m["type"] not in ("cgroup",)]
    for m in cfg["mounts"]:
        if m["type"] == "devpts":
            m["options"] = [o for o in m["options"] if o != "gid=5"]
    cid = rt.create(cfg)
    rt.cmd("start", cid, check=True)
    pid = rt.state(cid)["pid"]
    uid_line = next(
        ln for ln in Path(f"/proc/{pid}/status").read_text().splitlines() if ln.startswith("Uid:")
    )
    assert uid_line.split()[1] == "200000"
    r = rt.cmd("exec", cid, "id", "-u")
    assert r.returncode == 0 and r.stdout.strip() == "0"


def test_seccomp_with_argument_conditions(rt: Runtime) -> None:
    script = (
        "mkdir /tmp/a 2>/dev/null && echo mkdir-ok || echo mkdir-blocked; "
        "touch /tmp/f; chmod 777 /tmp/f 2>/dev/null && echo c777-ok || echo c777-blocked; "
        "chmod 755 /tmp/f && echo c755-ok; grep Seccomp: /proc/self/status"
    )
    cfg = make_config(["sh", "-c", script])
    cfg["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
            {
                "names": ["fchmodat", "chmod", "fchmodat2"],
                "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 1, "value": 0o777, "op": "SCMP_CMP_EQ"}],
            },
            {
                "names": ["fchmodat", "fchmodat2"],
                "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 2, "value": 0o777, "op": "SCMP_CMP_EQ"}],
            },
        ],
    }
    out = rt.output(cfg).split()
    assert out[:4] == ["mkdir-blocked", "c777-blocked", "c755-ok", "Seccomp:"]
    assert out[4] == "2"
    assert not (rt.rootfs / "tmp" / "a").exists()


def test_seccomp_applies_to_exec(rt: Runtime) -> None:
    cfg = make_config(["sleep", "100"])
    cfg["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
    }
    cid = rt.create(cfg)
    rt.cmd("start", cid, check=True)
    r = rt.cmd("exec", cid, "sh", "-c", "mkdir /tmp/b && echo made || echo blocked")
    assert r.stdout.strip() == "blocked"


def test_session_keyring(rt: Runtime) -> None:
    if not Path("/proc/keys").exists():
        pytest.skip("kernel without /proc/keys")
    own = rt.create(make_config(["sleep", "100"]))
    shared = rt.create(make_config(["sleep", "100"]), "--no-new-keyring")
    keys = Path("/proc/keys").read_text()
    # Without --no-new-keyring the init joined a fresh session keyring named after it.
    assert f"_ses.{own}" in keys
    assert f"_ses.{shared}" not in keys


@pytest.mark.parametrize("prop", ["rshared", "rprivate", "rslave", "private"])
def test_rootfs_propagation(rt: Runtime, prop: str) -> None:
    cfg = make_config(["awk", '$5 == "/"', "/proc/self/mountinfo"])
    cfg["linux"]["rootfsPropagation"] = prop
    line = rt.output(cfg).strip()
    assert line, "no root mount"
    shared = any(f.startswith("shared:") for f in line.split(" - ")[0].split()[6:])
    assert not shared or prop == "rshared"
    assert str(rt.rootfs) not in Path("/proc/self/mountinfo").read_text()


@pytest.mark.parametrize("nnp", [False, True])
def test_seccomp_for_a_non_root_user_on_run_and_exec(rt: Runtime, nnp: bool) -> None:
    # Without no_new_privs the filter must be loaded while CAP_SYS_ADMIN is still effective,
    # that is before the switch to the user (which clears the effective set).
    rules = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
    }
    script = "id -u; mkdir /tmp/x 2>/dev/null && echo made || echo blocked"
    cfg = make_config(["sh", "-c", script], user={"uid": 65534, "gid": 65534})
    cfg["process"]["noNewPrivileges"] = nnp
    cfg["linux"]["seccomp"] = rules
    assert rt.output(cfg).split() == ["65534", "blocked"]
    cfg = make_config(["sleep", "100"], user={"uid": 65534, "gid": 65534})
    cfg["process"]["noNewPrivileges"] = nnp
    cfg["linux"]["seccomp"] = rules
    cid = rt.create(cfg)
    rt.cmd("start", cid, check=True)
    r = rt.cmd("exec", "--user", "65534:65534", cid, "sh", "-c", script)
    assert r.stdout.split() == ["65534", "blocked"], r.stderr


def test_signals_default_and_unblocked_in_init_and_exec(rt: Runtime) -> None:
    """Python (the runtime) ignores SIGPIPE and SIGXFSZ; SIG_IGN survives execve, so the
    runtime must hand the container default dispositions, as runc does."""
    out = rt.output(make_config(["cat", "/proc/self/status"]))
    assert status_field(out, "SigIgn") == "0" * 16
    assert status_field(out, "SigBlk") == "0" * 16
    cid = rt.create(make_config(["sleep", "100"]))
    rt.cmd("start", cid, check=True)
    r = rt.cmd("exec", cid, "cat", "/proc/self/status")
    assert status_field(r.stdout, "SigIgn") == "0" * 16
    # A broken pipe ends the writer by its signal, not a flood of EPIPE errors.
    piped = rt.output(make_config(["sh", "-c", "yes | head -n 1; echo done"]))
    assert piped.split() == ["y", "done"]
