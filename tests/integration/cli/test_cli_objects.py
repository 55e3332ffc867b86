"""`dockyard` images, volumes, save/load and inspect against real daemons."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from .conftest import Daemon  # type: ignore[import-not-found]

pytestmark = pytest.mark.root


def out(proc: subprocess.CompletedProcess[bytes]) -> str:
    return proc.stdout.decode()


def err(proc: subprocess.CompletedProcess[bytes]) -> str:
    return proc.stderr.decode()


def test_volume_create_ls_inspect_rm(daemon: Daemon, name: str) -> None:
    created = daemon.cli("volume", "create", "--label", "k=v", name)
    assert (created.returncode, out(created)) == (0, f"{name}\n")
    try:
        table = out(daemon.cli("volume", "ls")).splitlines()
        assert table[0].split() == ["DRIVER", "VOLUME", "NAME"]
        assert any(line.split() == ["local", name] for line in table[1:])
        assert name in out(daemon.cli("volume", "ls", "-q")).split()
        shown = daemon.cli(
            "volume", "inspect", "--format", "{{.Name}} {{.Driver}} {{.Labels.k}}", name
        )
        assert out(shown) == f"{name} local v\n"
        data = json.loads(out(daemon.cli("volume", "inspect", name)))
        assert data[0]["Name"] == name
    finally:
        removed = daemon.cli("volume", "rm", name)
    assert (removed.returncode, out(removed)) == (0, f"{name}\n")
    again = daemon.cli("volume", "rm", name)
    assert again.returncode == 1
    assert err(again).startswith("Error response from daemon: ")


def test_named_volume_persists_between_containers(daemon: Daemon, name: str) -> None:
    try:
        wrote = daemon.cli(
            "run", "--rm", "-v", f"{name}:/data", "busybox", "sh", "-c", "echo kept > /data/f"
        )
        assert wrote.returncode == 0, err(wrote)
        read = daemon.cli("run", "--rm", "-v", f"{name}:/data:ro", "busybox", "cat", "/data/f")
        assert out(read) == "kept\n"
    finally:
        daemon.cli("volume", "rm", "-f", name)


def test_images_table_quiet_and_inspect_format(daemon: Daemon) -> None:
    table = out(daemon.cli("images")).splitlines()
    assert table[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    row = next(line.split() for line in table[1:] if line.startswith("busybox "))
    assert row[1] == "latest"
    image_id = out(daemon.cli("image", "inspect", "--format", "{{.Id}}", "busybox")).strip()
    assert image_id.startswith("sha256:")
    assert row[2] == image_id[7:19]
    assert image_id[7:19] in out(daemon.cli("images", "-q")).split()
    generic = out(daemon.cli("inspect", "--format", "{{.Id}}", "busybox")).strip()
    assert generic == image_id
    arch = out(daemon.cli("image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", "busybox"))
    assert arch.startswith("linux/")
    missing = daemon.cli("image", "inspect", "nosuchimage")
    assert missing.returncode == 1
    assert err(missing).startswith("Error response from daemon: ")
    assert "nosuchimage" in err(missing)


def test_tag_save_load_roundtrip(daemon: Daemon, tmp_path: Path) -> None:
    tag = f"cli-save-{daemon.kind}:1"
    assert daemon.cli("tag", "busybox", tag).returncode == 0
    archive = tmp_path / "img.tar"
    try:
        saved = daemon.cli("save", "-o", str(archive), tag)
        assert saved.returncode == 0, err(saved)
        assert archive.stat().st_size > 100_000
        streamed = daemon.cli("save", tag)
        assert streamed.stdout[:512].count(b"\0") > 0  # a tar stream on stdout
        removed = daemon.cli("rmi", tag)
        assert removed.returncode == 0, err(removed)
        assert f"Untagged: {tag}" in out(removed)
        assert tag not in out(daemon.cli("images", "--format", "{{.Repository}}:{{.Tag}}"))
        loaded = daemon.cli("load", input=streamed.stdout)
        assert loaded.returncode == 0, err(loaded)
        assert f"Loaded image: {tag}" in out(loaded)
        assert tag in out(daemon.cli("images", "--format", "{{.Repository}}:{{.Tag}}"))
        ran = daemon.cli("run", "--rm", tag, "echo", "from-loaded")
        assert out(ran) == "from-loaded\n"
    finally:
        daemon.cli("rmi", tag)


def test_commit_makes_a_runnable_image(daemon: Daemon, name: str) -> None:
    tag = f"cli-commit-{daemon.kind}:1"
    made = daemon.cli("run", "--name", name, "busybox", "sh", "-c", "echo baked > /baked")
    assert made.returncode == 0, err(made)
    try:
        committed = daemon.cli("commit", "-m", "msg", name, tag)
        assert committed.returncode == 0, err(committed)
        assert out(committed).startswith("sha256:")
        ran = daemon.cli("run", "--rm", tag, "cat", "/baked")
        assert out(ran) == "baked\n"
    finally:
        daemon.cli("rm", "-f", name)
        daemon.cli("rmi", tag)


def test_unknown_objects_and_commands(daemon: Daemon) -> None:
    missing = daemon.cli("inspect", "nosuchthing")
    assert missing.returncode == 1
    assert out(missing) == "[]\n"
    assert err(missing) == "Error: No such object: nosuchthing\n"
    stop = daemon.cli("stop", "nosuchthing")
    assert stop.returncode == 1
    assert "No such container: nosuchthing" in err(stop)
    verb = daemon.cli("frobnicate")
    assert verb.returncode == 1
    assert "unknown command" in err(verb)


def test_version_and_info_reach_the_daemon(daemon: Daemon) -> None:
    version = daemon.cli("version", "--format", "{{.Server.ApiVersion}}")
    assert version.returncode == 0, err(version)
    assert out(version).strip().startswith("1.")
    info = daemon.cli("info", "--format", "{{.OSType}}")
    assert out(info) == "linux\n"


def test_host_flag_and_docker_host(daemon: Daemon) -> None:
    import os
    import subprocess

    from .conftest import DOCKYARD  # type: ignore[import-not-found]

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKYARD", "DOCKER_"))}
    env["DOCKYARD_NO_AUTOSTART"] = "1"
    by_flag = subprocess.run(
        [DOCKYARD, "-H", daemon.host, "images", "-q"],
        env=env,
        capture_output=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert by_flag.returncode == 0, by_flag.stderr
    by_env = subprocess.run(
        [DOCKYARD, "images", "-q"],
        env={**env, "DOCKER_HOST": daemon.host},
        capture_output=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert by_env.stdout == by_flag.stdout != b""


def test_volume_and_system_prune(daemon: Daemon, name: str) -> None:
    assert daemon.cli("volume", "create", name).returncode == 0
    pruned = daemon.cli("volume", "prune", "-f")
    assert pruned.returncode == 0, err(pruned)
    text = out(pruned)
    assert text.rstrip().splitlines()[-1].startswith("Total reclaimed space: ")
    remaining = out(daemon.cli("volume", "ls", "-q")).split()
    if name in remaining:  # daemons on API >= 1.42 keep named volumes without --all
        daemon.cli("volume", "rm", name)
    else:
        assert f"Deleted Volumes:\n{name}\n" in text
    assert daemon.cli("create", "--name", name, "busybox", "true").returncode == 0
    refused = daemon.cli("system", "prune", input=b"n\n")
    assert refused.returncode == 0
    assert out(refused).startswith("WARNING! This will remove:\n  - all stopped containers\n")
    assert name in out(daemon.cli("ps", "-a", "--format", "{{.Names}}")).split()
    system = daemon.cli("system", "prune", "-f")
    assert system.returncode == 0, err(system)
    assert out(system).rstrip().splitlines()[-1].startswith("Total reclaimed space: ")
    assert name not in out(daemon.cli("ps", "-a", "--format", "{{.Names}}")).split()
