"""dockyard's archives against a real dockerd (Debian's docker.io), started by the test."""

from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.store.bootstrap import bootstrap_busybox
from dockyard.store.images import ImageStore

sys.path.insert(0, str(Path(__file__).parent))
from storetools import Cli, busybox_archive, serving

pytestmark = [pytest.mark.compat, pytest.mark.root, pytest.mark.slow]


@pytest.fixture(scope="module")
def docker() -> Iterator[Cli]:
    if shutil.which("dockerd") is None or shutil.which("docker") is None:
        pytest.skip("dockerd or the docker CLI is not installed (apt-get install docker.io)")
    if os.geteuid() != 0:
        pytest.skip("dockerd needs root")
    base = Path(tempfile.mkdtemp(prefix="dy-dk-", dir="/tmp"))
    sock = f"unix://{base / 'd.sock'}"
    d = Cli("docker", "-H", sock)
    argv = [
        "dockerd",
        "--data-root", str(base / "data"),
        "--exec-root", str(base / "exec"),
        "-H", sock,
        "--pidfile", str(base / "d.pid"),
        "--iptables=false", "--ip6tables=false", "--bridge=none",
        "--storage-driver", "vfs",
    ]  # fmt: skip
    with serving(argv, base, d, 60):
        yield d


def test_docker_loads_and_runs_dockyard_archives(docker: Cli, tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "store")
    image = bootstrap_busybox(store)
    store.tag("busybox", "dy-test/bb:docker")
    for i, save in enumerate((store.save, store.save_oci)):
        archive = tmp_path / f"a{i}.tar"
        with open(archive, "wb") as f:
            save(["dy-test/bb:docker"], f)
        assert "Loaded image: dy-test/bb:docker" in docker("load", "-i", str(archive))
        assert docker("image", "inspect", "--format", "{{.Id}}", "dy-test/bb:docker").strip() == (
            image
        )
        out = docker("run", "--rm", "--network", "none", "dy-test/bb:docker", "sh", "-c", "echo hi")
        assert out == "hi\n"
        docker("rmi", "dy-test/bb:docker")


def test_dockyard_loads_what_docker_saves(docker: Cli, tmp_path: Path) -> None:
    docker("load", "-i", str(busybox_archive(tmp_path)))
    docker(
        "run", "--name", "dy-mod", "--network", "none", "busybox", "sh", "-c",
        "echo changed > /etc/passwd && rm /etc/group && mkdir -p /opt/x && echo y > /opt/x/f",
    )  # fmt: skip
    docker("commit", "-m", "by docker", "dy-mod", "dy-test/mod:1")
    docker("rm", "dy-mod")
    archive = tmp_path / "mod.tar"
    docker("save", "-o", str(archive), "dy-test/mod:1")
    store = ImageStore(tmp_path / "store")
    [loaded] = store.load(io.BytesIO(archive.read_bytes()))
    assert loaded.tags == ["dy-test/mod:1"]
    assert (
        loaded.image_id
        == docker("image", "inspect", "--format", "{{.Id}}", "dy-test/mod:1").strip()
    )
    assert [x.diff_id for x in store.layers(loaded.image_id)] == docker(
        "image", "inspect", "--format", "{{range .RootFS.Layers}}{{.}} {{end}}", "dy-test/mod:1"
    ).split()
    store.verify(loaded.image_id, deep=True)
    assert store.history("dy-test/mod:1")[0]["Comment"] == "by docker"
    docker("rmi", "dy-test/mod:1", "busybox")
