"""Pure helpers: mount options, ids, signals, sizes, JSON, records, device rules, spec."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockyard.linux import mounts as m
from dockyard.runtime.args import parse
from dockyard.runtime.cgroup import DEFAULT_DEVICE_RULES, resources_with_defaults
from dockyard.runtime.config import parse_config
from dockyard.runtime.defaults import default_spec, features
from dockyard.runtime.errors import ConfigError, SetupError, UsageError
from dockyard.runtime.execute import ExecOptions, build_process
from dockyard.runtime.finalize import _env_dict, find_executable
from dockyard.runtime.lifecycle import _merge, parse_signal
from dockyard.runtime.log import Log
from dockyard.runtime.mountopts import parse_mount_options
from dockyard.runtime.record import as_dict, record
from dockyard.runtime.resources import parse_bytes, resources_from_flags
from dockyard.runtime.state import State, check_id, hook_state


def test_mount_options() -> None:
    o = parse_mount_options(["ro", "rw", "nosuid", "rbind", "rslave", "size=1m", "rro", "mode=755"])
    assert not o.flags & m.MS_RDONLY  # the later "rw" wins
    assert o.flags & m.MS_NOSUID and o.is_bind and o.flags & m.MS_REC
    assert o.propagation == [m.MS_SLAVE | m.MS_REC]
    assert o.data_str == "size=1m,mode=755"
    assert o.rec_set == m.MOUNT_ATTR_RDONLY
    with pytest.raises(ConfigError, match="tmpcopyup"):
        parse_mount_options(["tmpcopyup"])


@pytest.mark.parametrize("good", ["abc", "a.b-c_d+e", "x" * 100, "0"])
def test_check_id_good(good: str) -> None:
    assert check_id(good) == good


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "../x", "a b", "a\x00", "é/"])
def test_check_id_bad(bad: str) -> None:
    with pytest.raises(UsageError):
        check_id(bad)


@pytest.mark.parametrize(
    ("text", "num"),
    [
        ("KILL", 9),
        ("SIGKILL", 9),
        ("sigterm", 15),
        ("9", 9),
        ("USR1", 10),
        ("RTMIN+2", 36),
        ("RTMIN", 34),
    ],
)
def test_parse_signal(text: str, num: int) -> None:
    assert parse_signal(text) == num


@pytest.mark.parametrize("bad", ["0", "99", "NOPE", "SIGRTMIN+99", ""])
def test_parse_signal_bad(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_signal(bad)


@pytest.mark.parametrize(
    ("text", "n"),
    [("512", 512), ("1k", 1024), ("64m", 64 << 20), ("1g", 1 << 30), ("2MB", 2 << 20), ("-1", -1)],
)
def test_parse_bytes(text: str, n: int) -> None:
    assert parse_bytes(text) == n


def test_resources_from_flags(tmp_path: Path) -> None:
    p = parse(
        ["--memory", "64m", "--cpu-quota", "5000", "--pids-limit", "9"],
        {"memory": "str", "cpu-quota": "int", "pids-limit": "int"},
    )
    assert resources_from_flags(p) == {
        "memory": {"limit": 64 << 20},
        "cpu": {"quota": 5000},
        "pids": {"limit": 9},
    }
    f = tmp_path / "r.json"
    f.write_text(json.dumps({"pids": {"limit": 3}}))
    assert resources_from_flags(parse(["--resources", str(f)], {"resources": "str"})) == {
        "pids": {"limit": 3}
    }
    with pytest.raises(UsageError, match="nothing to update"):
        resources_from_flags(parse([], {}))


@record
class _Point:
    x: int
    tags: list[str] = []  # noqa: RUF012 (copied per instance)


def test_record() -> None:
    a, b = _Point(1), _Point(x=1)
    a.tags.append("t")
    assert b.tags == [] and as_dict(a) == {"x": 1, "tags": ["t"]}
    assert _Point(2, ["u"]) == _Point(x=2, tags=["u"]) and "x=2" in repr(_Point(2))
    with pytest.raises(TypeError):
        _Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        _Point(1, [], 3)  # type: ignore[call-arg]


def test_default_device_rules_follow_config(tmp_path: Path) -> None:
    (tmp_path / "rootfs").mkdir()
    s = default_spec()
    s["linux"]["devices"] = [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]
    cfg = parse_config(s, str(tmp_path))
    res = resources_with_defaults(cfg)
    assert res is not None
    rules = res["devices"]
    assert rules[0] == {"allow": False, "access": "rwm"}  # the config's deny-all stays first
    assert rules[1 : 1 + len(DEFAULT_DEVICE_RULES)] == DEFAULT_DEVICE_RULES
    assert rules[-1] == {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rwm"}
    assert cfg.resources is not None and len(cfg.resources["devices"]) == 1  # not mutated


def test_hook_state_document() -> None:
    st_ = State(
        id="c1",
        bundle="/b",
        rootfs="/b/r",
        created="now",
        config={},
        pid=42,
        annotations={"a": "b"},
    )
    doc = json.loads(hook_state(st_, "running"))
    assert doc == {
        "ociVersion": doc["ociVersion"],
        "id": "c1",
        "status": "running",
        "pid": 42,
        "bundle": "/b",
        "annotations": {"a": "b"},
    }


def test_log_json_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = Log(str(tmp_path / "l"), "json")
    log.error("it broke")
    log.warning("careful")
    lines = [json.loads(x) for x in (tmp_path / "l").read_text().splitlines()]
    assert [(x["level"], x["msg"]) for x in lines] == [
        ("error", "it broke"),
        ("warning", "careful"),
    ]
    assert lines[0]["time"].endswith("Z")
    assert capsys.readouterr().err.splitlines()[0] == "dockyard-runc: it broke"
    Log(str(tmp_path / "t"), "text").error('say "hi"')
    assert 'level=error msg="say \\"hi\\""' in (tmp_path / "t").read_text()


def test_exec_process_overrides() -> None:
    kill = ["CAP_KILL"]
    base = {
        "args": ["sh"],
        "env": ["PATH=/bin", "A=1"],
        "cwd": "/",
        "user": {"uid": 0, "gid": 0},
        "capabilities": {"bounding": kill, "effective": kill, "permitted": kill},
    }
    o = ExecOptions(
        root="/r",
        cid="c",
        args=["ls", "-l"],
        env=["A=2", "B=3"],
        cwd="/tmp",
        user="5:6",
        caps=["CAP_CHOWN"],
    )
    p = build_process(base, o)
    assert p.args == ["ls", "-l"] and p.cwd == "/tmp" and (p.uid, p.gid) == (5, 6)
    assert p.env == ["PATH=/bin", "A=2", "B=3"]
    assert p.capabilities is not None and "CAP_CHOWN" in p.capabilities["bounding"]
    assert p.capabilities.get("inheritable", []) == [] and p.capabilities.get("ambient", []) == []
    with pytest.raises(ConfigError, match="uid"):
        build_process(base, ExecOptions(root="/r", cid="c", args=["x"], user="me"))
    with pytest.raises(ConfigError, match="no command"):
        build_process(base, ExecOptions(root="/r", cid="c"))


def test_env_and_path_lookup(tmp_path: Path) -> None:
    assert _env_dict(["A=1", "B=x=y", "junk"]) == {"A": "1", "B": "x=y"}
    exe = tmp_path / "tool"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    assert find_executable("tool", [f"PATH=/nonexistent:{tmp_path}"], "/") == str(exe)
    assert find_executable(str(exe), [], "/") == str(exe)
    # A relative path is the working directory's, as the process will see it after chdir.
    assert find_executable("./tool", [], str(tmp_path)) == "./tool"
    with pytest.raises(SetupError, match=r'^exec: "tool": executable file not found in \$PATH$'):
        find_executable("tool", ["PATH=/nonexistent"], "/")
    # runc's messages, by which Docker answers 127 (not found) or 126 (permission denied).
    with pytest.raises(SetupError, match=r'^exec: "/abs/x": stat /abs/x: no such file or dir'):
        find_executable("/abs/x", [], "/")
    with pytest.raises(SetupError, match=r'^exec: "./tool": stat ./tool: no such file'):
        find_executable("./tool", [], "/nonexistent")
    plain = tmp_path / "plain"
    plain.write_text("data")
    for target in (plain, tmp_path):
        with pytest.raises(SetupError, match=r'^exec: ".*": permission denied$'):
            find_executable(str(target), [], "/")


def test_merge_resources() -> None:
    assert _merge(
        {"memory": {"limit": 1, "swap": 2}, "pids": {"limit": 1}}, {"memory": {"limit": 5}}
    ) == {
        "memory": {"limit": 5, "swap": 2},
        "pids": {"limit": 1},
    }


def test_features_document() -> None:
    f = features()
    assert f["ociVersionMin"] == "1.0.0" and "poststop" in f["hooks"]
    assert "rbind" in f["mountOptions"] and "CAP_KILL" in f["linux"]["capabilities"]


def test_status_never_trusts_a_recycled_pid(tmp_path: Path) -> None:
    import os

    from dockyard.linux.process import start_time
    from dockyard.runtime.state import oci_state, reserve, save, status

    root = str(tmp_path)
    reserve(root, "c1")
    me = os.getpid()
    st_ = State(
        id="c1",
        bundle="/b",
        rootfs="/b/r",
        created="t",
        config={},
        pid=me,
        pid_start=start_time(me),
    )
    assert status(root, st_) == "running"
    (tmp_path / "c1" / "exec.fifo").write_text("")
    assert status(root, st_) == "created"
    st_.pid_start = (st_.pid_start or 0) + 1  # same pid, another process
    assert status(root, st_) == "stopped"
    assert oci_state(root, st_)["pid"] == 0
    save(root, st_)
    assert (tmp_path / "c1" / "state.json").exists()
