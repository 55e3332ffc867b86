"""Fixtures for the compat tests: registry:2, dockyard-hub, stores; the helpers are shared
with tests/integration/distribution (loaded by path)."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

HERE = Path(__file__).resolve().parent
SUPPORT = HERE.parents[1] / "integration" / "distribution"


def _load(name: str, file: Path) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


ds = _load("dockyard_distribution_test_support", SUPPORT / "distsupport.py")
images = _load("dockyard_distribution_test_images", SUPPORT / "images.py")
daemons = _load("dockyard_distribution_test_daemons", SUPPORT / "daemons.py")


@pytest.fixture(scope="module")
def registry2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    if not Path(ds.DOCKER_REGISTRY).exists():
        pytest.skip("docker-registry (registry:2) is not installed")
    r = ds.Registry2(tmp_path_factory.mktemp("registry2")).start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def registry2_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    if not Path(ds.DOCKER_REGISTRY).exists():
        pytest.skip("docker-registry (registry:2) is not installed")
    r = ds.Registry2(tmp_path_factory.mktemp("registry2auth"), users={"carol": "carol-pw"})
    r.start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def source_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    if not Path("/bin/busybox").exists():
        pytest.skip("no host busybox (/bin/busybox)")
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


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    base = tmp_path_factory.mktemp("hub")
    h = ds.Hub(base / "data")
    h.data.mkdir()
    h.add_user("alice", "alice-pass-1")
    h.start()
    yield h
    h.stop()
