"""Fixtures shared by the compat folders."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def client(daemon: Any) -> Iterator[Any]:
    """A docker-py client (the `docker` SDK from PyPI) of the `daemon` fixture's dockyardd."""
    docker = pytest.importorskip("docker")
    c = docker.DockerClient(base_url=f"unix://{daemon.sock}", timeout=60)
    yield c
    c.close()
