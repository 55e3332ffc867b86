"""Fixtures shared by every test area."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

BUSYBOX = Path("/bin/busybox")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root (namespaces, mounts, cgroups)")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


def make_busybox_rootfs(dest: Path) -> Path:
    """A minimal root filesystem: the host's static busybox and its applet links."""
    if not BUSYBOX.exists():
        pytest.skip("busybox-static is not installed (scripts/setup.sh base installs it)")
    for d in ("bin", "dev", "proc", "sys", "etc", "tmp", "root", "var", "run"):
        (dest / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, dest / "bin" / "busybox")
    applets = subprocess.run(
        [str(BUSYBOX), "--list"], check=True, capture_output=True, text=True
    ).stdout.split()
    for name in applets:
        link = dest / "bin" / name
        if not link.exists() and name != "busybox":
            link.symlink_to("busybox")
    (dest / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    )
    (dest / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    (dest / "tmp").chmod(0o1777)
    return dest


@pytest.fixture
def busybox_rootfs(tmp_path: Path) -> Iterator[Path]:
    yield make_busybox_rootfs(tmp_path / "rootfs")
