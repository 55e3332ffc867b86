from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from dockyard.linux import mounts as m
from dockyard.runtime.config import load_config_file, parse_config, parse_process
from dockyard.runtime.defaults import default_spec
from dockyard.runtime.errors import ConfigError


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    (tmp_path / "rootfs").mkdir()
    return tmp_path


def spec(**changes: Any) -> dict[str, Any]:
    s = copy.deepcopy(default_spec())
    s.update(changes)
    return s


def test_default_spec_parses(bundle: Path) -> None:
    cfg = parse_config(spec(), str(bundle))
    assert cfg.root == str(bundle / "rootfs") and cfg.root_readonly
    assert cfg.process is not None and cfg.process.args == ["sh"] and cfg.process.terminal
    assert cfg.process.rlimits == [(7, 1024, 1024)]
    assert cfg.new_ns("pid") and cfg.new_ns("mount") and not cfg.new_ns("user")
    assert [x.destination for x in cfg.mounts][:3] == ["/proc", "/dev", "/dev/pts"]
    sysfs = next(x for x in cfg.mounts if x.type == "sysfs")
    assert sysfs.options.flags & m.MS_RDONLY and sysfs.options.flags & m.MS_NOSUID
    assert cfg.hostname == "runc"


def test_destinations_are_normalised(bundle: Path) -> None:
    s = spec()
    s["mounts"] = [{"destination": "//proc/../proc/", "type": "proc", "source": "proc"}]
    cfg = parse_config(s, str(bundle))
    assert cfg.mounts[0].destination == "/proc"


def test_bind_sources_relative_to_bundle(bundle: Path) -> None:
    s = spec()
    s["mounts"] = [
        {"destination": "/d", "type": "none", "source": "data", "options": ["rbind", "ro"]}
    ]
    mnt = parse_config(s, str(bundle)).mounts[0]
    assert mnt.source == str(bundle / "data") and mnt.options.is_bind
    assert mnt.options.flags & m.MS_REC and mnt.options.flags & m.MS_RDONLY


def test_user_namespace_needs_mappings(bundle: Path) -> None:
    s = spec()
    s["linux"]["namespaces"].append({"type": "user"})
    with pytest.raises(ConfigError, match="uidMappings"):
        parse_config(s, str(bundle))
    s["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 10}]
    s["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 10}]
    cfg = parse_config(s, str(bundle))
    assert cfg.uid_mappings == [(0, 1000, 10)]


@pytest.mark.parametrize(
    ("mutate", "msg"),
    [
        (lambda s: s.pop("ociVersion"), "ociVersion"),
        (lambda s: s.update(root={"path": "missing"}), "does not exist"),
        (lambda s: s.update(root={}), "root.path"),
        (lambda s: s["process"].update(args=[]), "args"),
        (lambda s: s["process"].update(cwd="relative"), "cwd"),
        (
            lambda s: s["process"]["rlimits"].append({"type": "RLIMIT_X", "soft": 1, "hard": 1}),
            "RLIMIT_X",
        ),
        (
            lambda s: s["process"]["rlimits"].append(
                {"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1}
            ),
            "duplicate",
        ),
        (lambda s: s["linux"]["namespaces"].append({"type": "pid"}), "duplicate namespace"),
        (lambda s: s["linux"]["namespaces"].append({"type": "nope"}), "nope"),
        (
            lambda s: s["linux"]["namespaces"].append({"type": "cgroup", "path": "/no/such/ns"}),
            "/no/such/ns",
        ),
        (lambda s: s["linux"].update(sysctl={"kernel.panic": "1"}), "not namespaced"),
        (
            lambda s: s["linux"].update(
                sysctl={"net.ipv4.ip_forward": "1"}, namespaces=[{"type": "mount"}]
            ),
            "network",
        ),
        (lambda s: s["linux"].update(namespaces=[{"type": "mount"}]), "uts"),
        (lambda s: s.update(hooks={"prestart": [{"path": "relative"}]}), "absolute"),
        (lambda s: s.update(hooks={"sometime": []}), "sometime"),
        (lambda s: s.update(mounts=[{"destination": "/x", "type": "bind"}]), "no source"),
        (lambda s: s.update(mounts=[{"destination": "/x", "source": "y"}]), "no type"),
        (
            lambda s: s.update(
                mounts=[{"destination": "/x", "type": "tmpfs", "options": ["idmap"]}]
            ),
            "idmap",
        ),
        (lambda s: s["linux"].update(devices=[{"path": "/dev/x", "type": "z"}]), "type"),
        (lambda s: s["linux"].update(rootfsPropagation="sideways"), "sideways"),
        (lambda s: s["linux"].update(intelRdt={"closID": "x"}), "intelRdt"),
        (lambda s: s["linux"].update(timeOffsets={"monotonic": {"secs": 1}}), "time namespace"),
        (lambda s: s.update(process="nope"), "object"),
    ],
)
def test_rejections(bundle: Path, mutate: Any, msg: str) -> None:
    s = spec()
    mutate(s)
    with pytest.raises(ConfigError, match=msg):
        parse_config(s, str(bundle))


def test_load_config_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no config\.json"):
        load_config_file(str(tmp_path))
    (tmp_path / "config.json").write_text("[1, 2")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config_file(str(tmp_path))
    (tmp_path / "config.json").write_text("[]")
    with pytest.raises(ConfigError, match="object"):
        load_config_file(str(tmp_path))


def test_parse_process_user_and_caps() -> None:
    p = parse_process(
        {
            "args": ["a"],
            "cwd": "/x/../y",
            "user": {"uid": 5, "gid": 6, "umask": 18, "additionalGids": [7]},
            "capabilities": {"bounding": ["CAP_KILL"]},
            "consoleSize": {"height": 10, "width": 20},
            "oomScoreAdj": 100,
        }
    )
    assert (p.uid, p.gid, p.umask, p.additional_gids) == (5, 6, 18, [7])
    assert p.cwd == "/y" and p.console_size == (10, 20) and p.oom_score_adj == 100
    assert p.capabilities == {
        "bounding": ["CAP_KILL"],
        "effective": [],
        "permitted": [],
        "inheritable": [],
        "ambient": [],
    }
    with pytest.raises(ConfigError, match="integer"):
        parse_process({"args": ["a"], "user": {"uid": "0"}})
