"""Fixtures for driving a real hub with third-party clients (skopeo, podman)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "integration" / "hub"))

import hubtools

USERS = {"root": "root-pass-1", "alice": "alice-pass-1", "bob": "bob-pass-1"}


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[hubtools.HubProcess]:
    data = tmp_path / "data"
    data.mkdir()
    for name, password in USERS.items():
        hubtools.add_user(data, name, password, admin=(name == "root"))
    cfg = tmp_path / "hub.toml"
    cfg.write_text("gc_interval = 0\n")
    h = hubtools.HubProcess(data, config=cfg).start()
    yield h
    h.stop()


@pytest.fixture
def oci_layout(tmp_path: Path) -> tuple[Path, str]:
    """An OCI image layout holding a tiny busybox image tagged `latest`."""
    if not Path("/bin/busybox").exists():
        pytest.skip("busybox-static is not installed")
    dest = tmp_path / "layout"
    digest = hubtools.write_oci_layout(dest, hubtools.busybox_layer())
    return dest, digest
