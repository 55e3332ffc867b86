"""dockyard's archives against the real podman and skopeo (Debian's packages)."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.store.bootstrap import bootstrap_busybox
from dockyard.store.images import ImageStore
from dockyard.store.snapshots import CopySnapshotter

sys.path.insert(0, str(Path(__file__).parent))
from storetools import Cli, busybox_archive

pytestmark = [pytest.mark.compat, pytest.mark.root]


class Podman(Cli):
    def __init__(self, base: Path) -> None:
        self.base = base
        super().__init__(
            "podman",
            "--root", str(base / "root"),
            "--runroot", str(base / "runroot"),
            "--storage-driver", "vfs",
            "--cgroup-manager", "cgroupfs",
            "--events-backend", "none",
        )  # fmt: skip

    def run(self, image: str, *cmd: str) -> str:
        # This machine lacks CAP_SYS_RESOURCE: podman's default rlimits (above our hard
        # limits) cannot be set, so ask for modest ones explicitly.
        return self(
            "run", "--rm", "--network", "none",
            "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1000:1000",
            image, *cmd,
        )  # fmt: skip


@pytest.fixture
def podman(tmp_path: Path) -> Iterator[Podman]:
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (apt-get install podman)")
    # podman refuses a runroot longer than 50 characters: pytest's tmp_path is too long.
    p = Podman(Path(tempfile.mkdtemp(prefix="dy-podman-", dir="/tmp")))
    try:
        p("info")
    except AssertionError as e:
        pytest.skip(f"podman cannot run here: {e}")
    yield p
    subprocess.run([*p.argv, "rm", "-af"], capture_output=True, check=False, timeout=60)
    subprocess.run([*p.argv, "image", "unmount", "-a"], capture_output=True, check=False)
    shutil.rmtree(p.base, ignore_errors=True)


@pytest.fixture
def skopeo() -> str:
    path = shutil.which("skopeo")
    if path is None:
        pytest.skip("skopeo is not installed (apt-get install skopeo)")
    return path


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "store", CopySnapshotter(tmp_path / "snaps"))


def tree_facts(root: Path) -> dict[str, tuple[object, ...]]:
    """Every path under ``root``: type, permissions, owner, link target or content hash."""
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            rel = str(p.relative_to(root))
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("l", os.readlink(p), st.st_uid, st.st_gid)
            elif stat.S_ISREG(st.st_mode):
                digest = hashlib.sha256(p.read_bytes()).hexdigest()
                out[rel] = ("f", mode, st.st_uid, st.st_gid, digest, int(st.st_mtime))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("d", mode, st.st_uid, st.st_gid)
            else:
                out[rel] = ("o", stat.S_IFMT(st.st_mode), mode, st.st_rdev)
    return out


def dockyard_rootfs(store: ImageStore, image: str) -> dict[str, tuple[object, ...]]:
    top = store.ensure_unpacked(image)
    snap = store.snapshotter
    assert isinstance(snap, CopySnapshotter)
    key = f"look-{image[7:19]}"
    snap.prepare(key, top)
    try:
        return tree_facts(snap.upper_dir(key))
    finally:
        snap.remove(key)


def test_podman_loads_and_runs_a_dockyard_image(
    podman: Podman, store: ImageStore, tmp_path: Path
) -> None:
    image = bootstrap_busybox(store)
    store.tag("busybox", "localhost/dy/busybox:v1")
    archive = tmp_path / "dy.tar"
    with open(archive, "wb") as f:
        store.save(["localhost/dy/busybox:v1"], f)
    out = podman("load", "-i", str(archive))
    assert "localhost/dy/busybox:v1" in out
    assert podman("image", "inspect", "--format", "{{.Id}}", "localhost/dy/busybox:v1").strip() == (
        image.removeprefix("sha256:")
    )
    assert podman.run("localhost/dy/busybox:v1", "sh", "-c", "echo hello; id -u") == "hello\n0\n"
    # and the OCI layout flavour, through podman's oci-archive transport
    oci = tmp_path / "dy-oci.tar"
    with open(oci, "wb") as f:
        store.save_oci(["localhost/dy/busybox:v1"], f)
    podman("rmi", "-f", "localhost/dy/busybox:v1")
    podman("load", "-i", str(oci))
    assert "hello" in podman.run(image.removeprefix("sha256:"), "echo", "hello")


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_dockyard_loads_podman_archives_with_identical_rootfs(
    podman: Podman, store: ImageStore, tmp_path: Path, fmt: str
) -> None:
    podman("load", "-i", str(busybox_archive(tmp_path)))
    # a second layer made by podman itself: a modified file, a deletion, a new dir and link
    podman(
        "run", "--name", "mod", "--network", "none",
        "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1000:1000",
        "localhost/busybox:latest", "sh", "-c",
        "echo changed > /etc/passwd; rm /etc/group; mkdir -p /data/sub; "
        "echo x > /data/sub/f; ln -s /data/sub/f /data/link; chmod 4755 /data/sub/f",
    )  # fmt: skip
    podman("commit", "-q", "mod", "localhost/mod:1")
    archive = tmp_path / f"mod.{fmt}"
    podman("save", "--format", fmt, "-o", str(archive), "localhost/mod:1")
    [loaded] = store.load(io.BytesIO(archive.read_bytes()))
    assert len(store.layers(loaded.image_id)) == 2
    store.verify(loaded.image_id, deep=True)
    assert (
        loaded.image_id.removeprefix("sha256:")
        == podman("image", "inspect", "--format", "{{.Id}}", "localhost/mod:1").strip()
    )
    mine = dockyard_rootfs(store, loaded.image_id)
    theirs_dir = Path(podman("image", "mount", "localhost/mod:1").strip())
    try:
        theirs = tree_facts(theirs_dir)
    finally:
        podman("image", "unmount", "localhost/mod:1")
    assert "etc/group" not in mine
    assert mine["data/link"][:2] == ("l", "/data/sub/f")
    assert sorted(mine) == sorted(theirs)
    assert mine == theirs


def _skopeo(skopeo: str, *args: str) -> None:
    result = subprocess.run(
        [skopeo, "--insecure-policy", *args], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_skopeo_copies_dockyard_layouts_both_ways(
    skopeo: str, store: ImageStore, tmp_path: Path
) -> None:
    image = bootstrap_busybox(store)
    out = io.BytesIO()
    store.save_oci(["busybox"], out)
    layout = tmp_path / "layout"
    layout.mkdir()
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tf:
        tf.extractall(layout, filter="data")
    # dockyard's OCI layout → docker-archive, loaded back by dockyard
    da = tmp_path / "from-oci.tar"
    _skopeo(skopeo, "copy", f"oci:{layout}:latest", f"docker-archive:{da}:localhost/sk/bb:1")
    other = ImageStore(tmp_path / "other")
    [loaded] = other.load_path(da)
    assert loaded.image_id == image and loaded.tags == ["localhost/sk/bb:1"]
    other.verify(image, deep=True)
    # dockyard's docker-archive → an OCI layout written by skopeo, loaded back by dockyard
    mine = tmp_path / "mine.tar"
    with open(mine, "wb") as f:
        store.save(["busybox"], f)
    layout2 = tmp_path / "layout2"
    _skopeo(skopeo, "copy", f"docker-archive:{mine}", f"oci:{layout2}:localhost/sk/bb:2")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        tf.add(layout2, arcname=".")
    third = ImageStore(tmp_path / "third")
    [again] = third.load(io.BytesIO(buf.getvalue()))
    # skopeo rewrites the config as it converts to OCI types; the layers must be the same
    assert third.config(again.image_id).diff_ids == store.config(image).diff_ids
    assert again.tags == ["localhost/sk/bb:2"]
    third.verify(again.image_id, deep=True)
