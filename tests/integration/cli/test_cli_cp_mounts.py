"""`cp` into and out of volumes and bind mounts mounted inside a container, running or
stopped, through `dockyard` (and the real `docker` client) against dockerd and dockyardd."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .conftest import Daemon  # type: ignore[import-not-found]

pytestmark = pytest.mark.root

Run = Callable[..., subprocess.CompletedProcess[bytes]]


def _clients(daemon: Daemon) -> list[tuple[str, Run]]:
    out: list[tuple[str, Run]] = [("dockyard", daemon.cli)]
    if shutil.which("docker"):
        out.append(("docker", daemon.docker))
    return out


@pytest.fixture
def cleanup(daemon: Daemon) -> Iterator[list[str]]:
    """Names of containers (``c:``) and volumes (``v:``) to remove after the test."""
    made: list[str] = []
    yield made
    for item in made:
        kind, _, name = item.partition(":")
        if kind == "c":
            daemon.cli("rm", "-f", name)
    for item in made:
        kind, _, name = item.partition(":")
        if kind == "v":
            daemon.cli("volume", "rm", "-f", name)


def ok(proc: subprocess.CompletedProcess[bytes]) -> str:
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode()


def test_cp_into_and_out_of_a_named_volume_running(
    daemon: Daemon, name: str, tmp_path: Path, cleanup: list[str]
) -> None:
    vol = f"{name}-v"
    cleanup += [f"c:{name}", f"v:{vol}"]
    ok(daemon.cli("run", "-d", "--name", name, "-v", f"{vol}:/data", "busybox", "sleep", "300"))
    for client, run in _clients(daemon):
        src = tmp_path / f"{client}.txt"
        src.write_text(f"from {client}\n")
        ok(run("cp", str(src), f"{name}:/data/"))
        # In the volume itself: a fresh container with only the volume sees it.
        seen = daemon.cli("run", "--rm", "-v", f"{vol}:/v", "busybox", "cat", f"/v/{client}.txt")
        assert ok(seen) == f"from {client}\n"
        back = tmp_path / f"back-{client}"
        back.mkdir()
        ok(run("cp", f"{name}:/data/{client}.txt", str(back)))
        assert (back / f"{client}.txt").read_text() == f"from {client}\n"
    # Written inside the container, read out through cp.
    ok(daemon.cli("exec", name, "sh", "-c", "mkdir /data/d && echo inner > /data/d/x"))
    ok(daemon.cli("cp", f"{name}:/data/d", str(tmp_path / "tree")))
    assert (tmp_path / "tree" / "x").read_text() == "inner\n"


def test_cp_with_a_stopped_container_and_a_bind_mount(
    daemon: Daemon, name: str, tmp_path: Path, cleanup: list[str]
) -> None:
    vol = f"{name}-v"
    cleanup += [f"c:{name}", f"v:{vol}"]
    host = tmp_path / "host"
    host.mkdir()
    (host / "from-host").write_text("host side\n")
    ok(
        daemon.cli(
            "create", "--name", name, "-v", f"{vol}:/data", "-v", f"{host}:/mnt/h",
            "busybox", "true",
        )
    )  # fmt: skip
    src = tmp_path / "f.txt"
    src.write_text("into a created container\n")
    ok(daemon.cli("cp", str(src), f"{name}:/data/"))
    ok(daemon.cli("cp", str(src), f"{name}:/mnt/h/"))
    assert (host / "f.txt").read_text() == "into a created container\n"
    back = tmp_path / "back"
    back.mkdir()
    ok(daemon.cli("cp", f"{name}:/mnt/h/from-host", str(back)))
    assert (back / "from-host").read_text() == "host side\n"
    seen = daemon.cli("run", "--rm", "-v", f"{vol}:/v", "busybox", "cat", "/v/f.txt")
    assert ok(seen) == "into a created container\n"
    # Run it once, so that it is exited, and copy again both ways.
    ok(daemon.cli("start", "-a", name))
    ok(daemon.cli("cp", f"{name}:/data/f.txt", str(back / "again.txt")))
    assert (back / "again.txt").read_text() == "into a created container\n"
    (tmp_path / "g.txt").write_text("into an exited container\n")
    ok(daemon.cli("cp", str(tmp_path / "g.txt"), f"{name}:/data/g.txt"))
    seen = daemon.cli("run", "--rm", "-v", f"{vol}:/v", "busybox", "cat", "/v/g.txt")
    assert ok(seen) == "into an exited container\n"


def test_read_only_mounts_and_rootfs_refuse_writes(
    daemon: Daemon, name: str, tmp_path: Path, cleanup: list[str]
) -> None:
    rw, ro = f"{name}-rw", f"{name}-ro"
    cleanup += [f"c:{name}", f"v:{rw}", f"v:{ro}"]
    ok(
        daemon.cli(
            "run", "-d", "--name", name, "--read-only", "-v", f"{rw}:/rw",
            "-v", f"{ro}:/ro:ro", "busybox", "sleep", "300",
        )
    )  # fmt: skip
    src = tmp_path / "f.txt"
    src.write_text("x\n")
    for _client, run in _clients(daemon):
        into_ro = run("cp", str(src), f"{name}:/ro/")
        assert into_ro.returncode == 1
        assert "mounted volume is marked read-only" in into_ro.stderr.decode()
        into_root = run("cp", str(src), f"{name}:/tmp/")
        assert into_root.returncode == 1
        assert "container rootfs is marked read-only" in into_root.stderr.decode()
        # A writable volume of a read-only container takes the file.
        ok(run("cp", str(src), f"{name}:/rw/"))
    assert ok(daemon.cli("exec", name, "cat", "/rw/f.txt")) == "x\n"
    assert daemon.cli("exec", name, "ls", "/ro/f.txt").returncode != 0


def test_nested_mounts_pick_the_deepest(
    daemon: Daemon, name: str, tmp_path: Path, cleanup: list[str]
) -> None:
    outer, inner = f"{name}-o", f"{name}-i"
    cleanup += [f"c:{name}", f"v:{outer}", f"v:{inner}"]
    ok(
        daemon.cli(
            "run", "-d", "--name", name, "-v", f"{outer}:/data",
            "-v", f"{inner}:/data/inner:ro", "busybox", "sleep", "300",
        )
    )  # fmt: skip
    src = tmp_path / "f.txt"
    src.write_text("outer\n")
    ok(daemon.cli("cp", str(src), f"{name}:/data/"))
    refused = daemon.cli("cp", str(src), f"{name}:/data/inner/")
    assert refused.returncode == 1
    # dockerd 20.10 checks whichever mount its map yields first (here often the writable
    # outer one) and then fails on the write; dockyardd names the deepest mount's refusal.
    if daemon.kind == "dockyardd":
        assert "mounted volume is marked read-only" in refused.stderr.decode()
    else:
        assert "read-only" in refused.stderr.decode()
    ok(daemon.cli("run", "--rm", "-v", f"{inner}:/i", "busybox", "sh", "-c", "echo in > /i/n"))
    back = tmp_path / "back"
    back.mkdir()
    ok(daemon.cli("cp", f"{name}:/data/inner/n", str(back)))
    assert (back / "n").read_text() == "in\n"
    # The whole tree of the outer mount point includes the inner one's files.
    ok(daemon.cli("cp", f"{name}:/data", str(back / "tree")))
    assert (back / "tree" / "f.txt").read_text() == "outer\n"
    assert (back / "tree" / "inner" / "n").read_text() == "in\n"


def test_etc_files_are_the_containers(daemon: Daemon, name: str, cleanup: list[str]) -> None:
    cleanup.append(f"c:{name}")
    ok(daemon.cli("run", "-d", "--name", name, "-h", "cp-host", "busybox", "sleep", "300"))
    got = daemon.cli("cp", f"{name}:/etc/hostname", "-")
    assert got.returncode == 0
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(got.stdout)) as tar:
        f = tar.extractfile("hostname")
        assert f is not None and f.read() == b"cp-host\n"


def test_a_tree_copied_above_a_mount_point_lands_in_it(
    daemon: Daemon, name: str, tmp_path: Path, cleanup: list[str]
) -> None:
    vol = f"{name}-v"
    cleanup += [f"c:{name}", f"v:{vol}"]
    ok(daemon.cli("run", "-d", "--name", name, "-v", f"{vol}:/srv/data", "busybox", "sleep", "300"))
    tree = tmp_path / "tree"
    (tree / "data" / "sub").mkdir(parents=True)
    (tree / "data" / "sub" / "n.txt").write_text("nested\n")
    (tree / "top.txt").write_text("top\n")
    ok(daemon.cli("cp", f"{tree}/.", f"{name}:/srv/"))
    shown = daemon.cli("exec", name, "cat", "/srv/top.txt", "/srv/data/sub/n.txt")
    assert ok(shown) == "top\nnested\n"
    seen = daemon.cli("run", "--rm", "-v", f"{vol}:/v", "busybox", "cat", "/v/sub/n.txt")
    assert ok(seen) == "nested\n"
