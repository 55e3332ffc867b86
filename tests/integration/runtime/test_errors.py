"""Bad input ends with one clear line, a non-zero status and nothing left behind."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from .conftest import RUNC, Runtime, make_config

pytestmark = pytest.mark.root


def create_fails(
    rt: Runtime, cfg: dict[str, Any] | str, expect: str, log: Path | None = None
) -> str:
    b = rt.tmp / f"bad-{len(rt.created)}"
    b.mkdir()
    if isinstance(cfg, str):
        (b / "config.json").write_text(cfg)
    else:
        cfg = dict(cfg)
        if cfg.get("root", {}).get("path") == "rootfs":
            cfg["root"] = {**cfg["root"], "path": str(rt.rootfs)}
        (b / "config.json").write_text(json.dumps(cfg))
    cid = rt.new_id()
    extra = ("--log", str(log), "--log-format", "json") if log else ()
    r = rt.cmd("create", "--bundle", str(b), cid, global_args=extra)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert expect in lines[0], lines[0]
    assert not (rt.root / cid).exists()
    leftovers = (
        [p for p in Path("/sys/fs/cgroup/memory/dockyard").glob(f"{cid}*")]
        if Path("/sys/fs/cgroup/memory/dockyard").exists()
        else []
    )
    assert leftovers == []
    return lines[0]


def test_malformed_json(rt: Runtime) -> None:
    create_fails(rt, "{not json", "config.json")


def test_incomplete_config(rt: Runtime) -> None:
    create_fails(rt, json.dumps({"ociVersion": "1.0.2"}), "root")
    cfg = make_config(["true"])
    del cfg["process"]["args"]
    create_fails(rt, cfg, "args")


def test_missing_root(rt: Runtime) -> None:
    cfg = make_config(["true"])
    cfg["root"] = {"path": "/nonexistent/rootfs"}
    create_fails(rt, cfg, "/nonexistent/rootfs")


def test_unknown_capability(rt: Runtime) -> None:
    cfg = make_config(["true"])
    cfg["process"]["capabilities"]["bounding"].append("CAP_BOGUS")
    create_fails(rt, cfg, "CAP_BOGUS")


def test_unknown_syscall(rt: Runtime) -> None:
    cfg = make_config(["true"])
    cfg["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["no_such_syscall_xyz"], "action": "SCMP_ACT_ERRNO"}],
    }
    create_fails(rt, cfg, "no_such_syscall_xyz")


def test_unknown_namespace_path(rt: Runtime) -> None:
    cfg = make_config(["true"])
    cfg["linux"]["namespaces"].append({"type": "cgroup", "path": "/proc/999999999/ns/cgroup"})
    create_fails(rt, cfg, "/proc/999999999/ns/cgroup")


def test_unknown_namespace_type(rt: Runtime) -> None:
    cfg = make_config(["true"])
    cfg["linux"]["namespaces"].append({"type": "bogus"})
    create_fails(rt, cfg, "bogus")


def test_bad_rlimit_and_sysctl(rt: Runtime) -> None:
    cfg = make_config(["true"])
    cfg["process"]["rlimits"] = [{"type": "RLIMIT_WHATEVER", "soft": 1, "hard": 1}]
    create_fails(rt, cfg, "RLIMIT_WHATEVER")
    cfg = make_config(["true"])
    cfg["linux"]["sysctl"] = {"vm.swappiness": "1"}
    create_fails(rt, cfg, "vm.swappiness")


def test_error_goes_to_json_log(rt: Runtime) -> None:
    log = rt.tmp / "log.json"
    cfg = make_config(["true"])
    cfg["process"]["capabilities"]["bounding"].append("CAP_BOGUS")
    line = create_fails(rt, cfg, "CAP_BOGUS", log=log)
    last = json.loads(log.read_text().splitlines()[-1])
    assert last["level"] == "error" and "CAP_BOGUS" in last["msg"] and last["time"]
    assert last["msg"] in line


def test_duplicate_id(rt: Runtime) -> None:
    b = rt.bundle(make_config(["sleep", "100"]))
    cid = rt.new_id()
    assert rt.cmd("create", "--bundle", str(b), cid).returncode == 0
    pid = rt.state(cid)["pid"]
    r = rt.cmd("create", "--bundle", str(b), cid)
    assert r.returncode != 0 and "already exists" in r.stderr
    # The first container is untouched.
    assert rt.state(cid)["status"] == "created" and rt.state(cid)["pid"] == pid


def test_start_of_non_created(rt: Runtime) -> None:
    r = rt.cmd("start", "nosuch")
    assert r.returncode != 0 and "does not exist" in r.stderr
    b = rt.bundle(make_config(["true"]))
    cid = rt.new_id()
    assert rt.cmd("run", "--keep", "--bundle", str(b), cid).returncode == 0
    r = rt.cmd("start", cid)
    assert r.returncode != 0 and "stopped" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_bad_ids_and_usage(rt: Runtime) -> None:
    for bad in ("../x", "a/b", ".."):
        r = rt.cmd("state", bad)
        assert r.returncode != 0 and "invalid container id" in r.stderr
    r = rt.cmd("frobnicate")
    assert r.returncode != 0 and "unknown command" in r.stderr
    r = rt.cmd("create", "--bogus-flag", "x")
    assert r.returncode != 0 and "--bogus-flag" in r.stderr


def test_exec_fails_cleanly_on_missing_container(rt: Runtime) -> None:
    r = rt.cmd("exec", "ghost", "true")
    assert r.returncode != 0 and "does not exist" in r.stderr


def test_version_and_harmless_globals(rt: Runtime) -> None:
    r = rt.cmd("--version")
    assert r.returncode == 0 and "dockyard-runc" in r.stdout
    r = rt.cmd("list", global_args=("--rootless", "false", "--systemd-cgroup"))
    assert r.returncode == 0


def test_spec_and_features(rt: Runtime, tmp_path: Path) -> None:
    d = tmp_path / "spec"
    d.mkdir()
    r = rt.cmd("spec", "--bundle", str(d))
    assert r.returncode == 0
    spec = json.loads((d / "config.json").read_text())
    assert spec["process"]["args"] == ["sh"] and spec["root"]["path"] == "rootfs"
    assert rt.cmd("spec", "--bundle", str(d)).returncode != 0  # refuses to overwrite
    feats = json.loads(rt.cmd("features").stdout)
    assert feats["ociVersionMin"] == "1.0.0"
    assert "createRuntime" in feats["hooks"] and "rbind" in feats["mountOptions"]
    assert "CAP_SYS_ADMIN" in feats["linux"]["capabilities"]
    assert set(feats["linux"]["namespaces"]) >= {"pid", "network", "mount", "user", "cgroup"}
    assert os.access(RUNC, os.X_OK)


def test_apparmor_profile_without_apparmor(rt: Runtime) -> None:
    if Path("/sys/module/apparmor/parameters/enabled").exists():
        pytest.skip("AppArmor is enabled on this host")
    cfg = make_config(["true"])
    cfg["process"]["apparmorProfile"] = "some-profile"
    create_fails(rt, cfg, "AppArmor")


def test_missing_executable_fails_create(rt: Runtime) -> None:
    # As runc: the engine learns it at create time and answers 127 before any start.
    create_fails(rt, make_config(["no-such-command"]), "executable file not found in $PATH")
