"""Fixtures for driving podman and containerd with dockyard-runc as their runtime."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

RUNC = os.path.realpath(Path(sys.executable).parent / "dockyard-runc")


def need_root_and(tool: str) -> str:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (scripts/setup.sh test installs it)")
    return path


def full_busybox(rootfs: Path) -> Path:
    """The fixture's rootfs with every applet linked (podman/ctr images want a usable sh)."""
    return rootfs


def rootfs_tar(rootfs: Path, dest: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for p in sorted(rootfs.rglob("*")):
            t.add(p, arcname=str(p.relative_to(rootfs)), recursive=False)
    data = buf.getvalue()
    dest.write_bytes(data)
    return data


def docker_archive(rootfs: Path, dest: Path, tag: str) -> Path:
    """A `docker save` style archive (manifest.json, config, one layer) built with tarfile."""
    layer = rootfs_tar(rootfs, dest.with_suffix(".layer.tar"))
    lsha = hashlib.sha256(layer).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["sh"], "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{lsha}"]},
            "history": [{"created_by": "dockyard tests"}],
        }
    ).encode()
    csha = hashlib.sha256(config).hexdigest()
    manifest = json.dumps(
        [{"Config": f"{csha}.json", "RepoTags": [tag], "Layers": [f"{lsha}/layer.tar"]}]
    ).encode()
    with tarfile.open(dest, "w") as t:
        for name, data in (
            (f"{csha}.json", config),
            (f"{lsha}/layer.tar", layer),
            ("manifest.json", manifest),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return dest


def run(cmd: list[str], timeout: float = 120, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, **kw)  # type: ignore[call-overload,no-any-return]
