"""dockyard's archives against a real containerd (Debian's package) and its ``ctr``."""

from __future__ import annotations

import io
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.store.bootstrap import bootstrap_busybox
from dockyard.store.images import ImageStore

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


class Ctr:
    def __init__(self, base: Path) -> None:
        self.base = base

    def __call__(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run(
            ["ctr", "-a", str(self.base / "c.sock"), "-n", "dyt", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(f"ctr {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout


@pytest.fixture(scope="module")
def ctr() -> Iterator[Ctr]:
    if shutil.which("containerd") is None or shutil.which("ctr") is None:
        pytest.skip("containerd is not installed (apt-get install containerd)")
    base = Path(tempfile.mkdtemp(prefix="dy-ctd-", dir="/tmp"))
    (base / "config.toml").write_text(CONFIG.format(base=base))
    log = open(base / "log", "wb")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(
        ["containerd", "--config", str(base / "config.toml")], stdout=log, stderr=log
    )
    c = Ctr(base)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                c("version", timeout=10)
                break
            except (AssertionError, subprocess.TimeoutExpired):
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.skip(f"containerd did not start: {(base / 'log').read_text()[-400:]}")
                time.sleep(0.3)
        yield c
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("oci", [False, True], ids=["docker-archive", "oci-layout"])
def test_containerd_imports_runs_and_exports(ctr: Ctr, tmp_path: Path, oci: bool) -> None:
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
