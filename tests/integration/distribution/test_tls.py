"""A registry that is neither loopback nor listed insecure must speak verified TLS: trusted
through certs.d (Docker's layout), refused otherwise. Runs in network namespaces, where a
10.x address is a real non-loopback host."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import netns
from dockyard_distribution_test_support import (  # type: ignore[import-not-found]
    PY,
    Registry2,
    self_signed,
)

pytestmark = pytest.mark.root

SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from dockyard.store.images import ImageStore
    from dockyard.store.bootstrap import bootstrap_busybox
    from dockyard.distribution.push import push
    from dockyard.distribution.pull import pull
    base, ref = Path(sys.argv[1]), sys.argv[2]
    a = ImageStore(base / "a")
    bootstrap_busybox(a)
    a.tag("busybox:latest", ref)
    try:
        push(a, ref)
        print(pull(ImageStore(base / "b"), ref, unpack=False).image_id == a.get(ref).id)
    except Exception as e:
        print(type(e).__name__ + ": " + str(e))
    """
)


@pytest.fixture
def tls_lab(tmp_path: Path) -> Iterator[dict[str, Any]]:
    for tool in ("ip", "openssl", "nsenter"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    if not Path("/usr/bin/docker-registry").exists():
        pytest.skip("docker-registry is not installed")
    world = netns.Lab()
    reg = None
    try:
        try:
            world.create(["reg", "m1"])
        except RuntimeError as e:
            pytest.skip(f"cannot create network namespaces: {e}")
        addr = world.machines["reg"]
        tls = self_signed(tmp_path / "tls", addr)
        reg = Registry2(tmp_path / "reg", host=addr, port=5000, tls=tls)
        reg.prefix = world.exec_prefix("reg")
        reg.start()
        world.wait_tcp("m1", addr, 5000, PY)
        yield {"world": world, "reg": reg, "cert": tls[0]}
    finally:
        if reg is not None:
            reg.stop()
        world.destroy()


def _run(lab: dict[str, Any], tmp: Path, certs_d: Path) -> str:
    r = subprocess.run(
        [*lab["world"].exec_prefix("m1"), PY, "-c", SCRIPT, str(tmp), f"{lab['reg'].addr}/t/bb:1"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"DOCKYARD_CERTS_D": str(certs_d), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_untrusted_certificate_is_refused(tls_lab: dict[str, Any], tmp_path: Path) -> None:
    out = _run(tls_lab, tmp_path / "run", tmp_path / "empty-certs.d")
    assert out.startswith("RegistryUnreachable") and "CERTIFICATE_VERIFY_FAILED" in out, out


def test_certs_d_ca_is_trusted(tls_lab: dict[str, Any], tmp_path: Path) -> None:
    certs_d = tmp_path / "certs.d"
    (certs_d / tls_lab["reg"].addr).mkdir(parents=True)
    shutil.copy(tls_lab["cert"], certs_d / tls_lab["reg"].addr / "ca.crt")
    assert _run(tls_lab, tmp_path / "run", certs_d) == "True"
