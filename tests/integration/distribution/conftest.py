"""Fixtures: a real dockyard-hub with users made by its CLI, a real registry:2, and image
stores (one with the bootstrapped busybox image)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest


def _load(name: str, file: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(file))
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


ds = _load("dockyard_distribution_test_support", "distsupport.py")

USERS = {"alice": "alice-pass-1", "bob": "bob-pass-1"}


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    base = tmp_path_factory.mktemp("hub")
    h = ds.Hub(base / "data")
    h.data.mkdir()
    h.add_user("root", "root-pass-1", admin=True)
    for name, password in USERS.items():
        h.add_user(name, password)
    h.start()
    yield h
    h.stop()


@pytest.fixture(scope="module")
def registry2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    if not Path(ds.DOCKER_REGISTRY).exists():
        pytest.skip("docker-registry (registry:2) is not installed")
    r = ds.Registry2(tmp_path_factory.mktemp("registry2")).start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def source_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A store with busybox:latest bootstrapped from the host's static busybox."""
    if shutil.which("busybox") is None and not Path("/bin/busybox").exists():
        pytest.skip("no host busybox")
    from dockyard.store.bootstrap import bootstrap_busybox
    from dockyard.store.images import ImageStore

    store = ImageStore(tmp_path_factory.mktemp("source") / "store")
    bootstrap_busybox(store)
    yield store
    store.close()


@pytest.fixture
def empty_store(tmp_path: Path) -> Iterator[object]:
    from dockyard.store.images import ImageStore

    store = ImageStore(tmp_path / "store")
    yield store
    store.close()
