"""Fixtures shared by tests/integration/distribution and tests/compat/distribution: a real
dockyard-hub with users made by its CLI, a real registry:2, and image stores (one with the
bootstrapped busybox image). Both conftests put this folder on sys.path and import them.

Importing this module also loads this folder's helpers under fixed names, for the tests of
both folders (with --import-mode=importlib the folders are no packages)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import dockyard_tests_root  # type: ignore[import-not-found]
import pytest

HERE = Path(__file__).resolve().parent
# dockyard-hub accounts: (name, password, admin)
ACCOUNTS = [
    ("root", "root-pass-1", True),
    ("alice", "alice-pass-1", False),
    ("bob", "bob-pass-1", False),
]


def load(name: str, file: str) -> ModuleType:
    """This folder's ``file`` as the module ``name``, loaded once."""
    return dockyard_tests_root.load_test_module(name, HERE / file)


ds = load("dockyard_distribution_test_support", "distsupport.py")
images = load("dockyard_distribution_test_images", "images.py")
daemons = load("dockyard_distribution_test_daemons", "daemons.py")


def start_registry2(root: Path, users: dict[str, str] | None = None) -> Any:
    """A started registry:2 keeping its data in ``root`` (Basic auth when ``users``)."""
    if not Path(ds.DOCKER_REGISTRY).exists():
        pytest.skip("docker-registry (registry:2) is not installed")
    return ds.Registry2(root, users=users or {}).start()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    h = ds.Hub(tmp_path_factory.mktemp("hub") / "data")
    h.data.mkdir()
    for name, password, admin in ACCOUNTS:
        h.add_user(name, password, admin=admin)
    h.start()
    yield h
    h.stop()


@pytest.fixture(scope="module")
def registry2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    r = start_registry2(tmp_path_factory.mktemp("registry2"))
    yield r
    r.stop()


@pytest.fixture(scope="module")
def source_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A store with busybox:latest bootstrapped from the host's static busybox."""
    if not Path("/bin/busybox").exists():
        pytest.skip("no host busybox (/bin/busybox)")
    from dockyard.store.bootstrap import bootstrap_busybox
    from dockyard.store.images import ImageStore

    store = ImageStore(tmp_path_factory.mktemp("source") / "store")
    bootstrap_busybox(store)
    yield store
    store.close()


@pytest.fixture
def empty_store(tmp_path: Path) -> Iterator[Any]:
    from dockyard.store.images import ImageStore

    store = ImageStore(tmp_path / "store")
    yield store
    store.close()
