"""dockyard's archives against a real containerd (Debian's package) and its ``ctr``."""

from __future__ import annotations

import io
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.store.bootstrap import bootstrap_busybox
from dockyard.store.images import ImageStore

sys.path.insert(0, str(Path(__file__).parent))
from storetools import Cli, serving

pytestmark = [pytest.mark.compat, pytest.mark.root, pytest.mark.slow]

CONFIG = """version = 2
root = "{base}/root"
state = "{base}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{base}/c.sock"
[ttrpc]
  address = "{base}/c.sock.ttrpc"
[debug]
  address = "{base}/d.sock"
"""


@pytest.fixture(scope="module")
def ctr() -> Iterator[Cli]:
    if shutil.which("containerd") is None or shutil.which("ctr") is None:
        pytest.skip("containerd is not installed (apt-get install containerd)")
    base = Path(tempfile.mkdtemp(prefix="dy-ctd-", dir="/tmp"))
    (base / "config.toml").write_text(CONFIG.format(base=base))
    c = Cli("ctr", "-a", str(base / "c.sock"), "-n", "dyt")
    with serving(["containerd", "--config", str(base / "config.toml")], base, c, 30):
        yield c


@pytest.mark.parametrize("oci", [False, True], ids=["docker-archive", "oci-layout"])
def test_containerd_imports_runs_and_exports(ctr: Cli, tmp_path: Path, oci: bool) -> None:
    store = ImageStore(tmp_path / "store")
    image = bootstrap_busybox(store)
    archive = tmp_path / "bb.tar"
    with open(archive, "wb") as f:
        (store.save_oci if oci else store.save)(["busybox"], f)
    ctr("images", "import", str(archive))
    ref = "docker.io/library/busybox:latest"
    assert ref in ctr("images", "ls", "-q").split()
    name = f"dyt-{int(oci)}"
    assert ctr("run", "--rm", ref, name, "sh", "-c", "echo hi from containerd") == (
        "hi from containerd\n"
    )
    exported = tmp_path / "exported.tar"
    ctr("images", "export", str(exported), ref)
    back = ImageStore(tmp_path / "back")
    [loaded] = back.load(io.BytesIO(exported.read_bytes()))
    assert loaded.image_id == image and loaded.tags == ["busybox:latest"]
    back.verify(image, deep=True)
    if oci:  # an OCI layout keeps dockyard's own manifest, digest for digest
        assert back.get(image).manifest_digest == store.get(image).manifest_digest
    ctr("images", "rm", ref)
