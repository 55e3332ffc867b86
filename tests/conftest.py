"""Fixtures shared by every test area."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BUSYBOX = Path("/bin/busybox")
API_SUPPORT = "dockyard_api_test_support"
ROOT_MODULE = "dockyard_tests_root"


def load_test_module(name: str, path: Path) -> ModuleType:
    """The helper file ``path`` as the module ``name``, loaded once. With
    --import-mode=importlib test folders are no packages: a helper shared between folders
    is loaded by path, and every folder then gets the same module object."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def load_api_support() -> ModuleType:
    """tests/integration/api/support.py (Daemon, Client, ...) for every test folder that
    starts daemons: ``import dockyard_api_test_support as support`` once this conftest ran."""
    return load_test_module(
        API_SUPPORT, Path(__file__).parent / "integration" / "api" / "support.py"
    )


# This file is not importable by name either: other folders reach its helpers
# (load_test_module, make_busybox_rootfs) as ``import dockyard_tests_root``.
sys.modules.setdefault(ROOT_MODULE, sys.modules[__name__])
load_api_support()


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


def _need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")


@pytest.fixture(scope="module")
def daemon() -> Iterator[Any]:
    """One dockyardd (temporary roots) with the busybox image, for a test module."""
    _need_root()
    support = load_api_support()
    d = support.Daemon(support.new_base())
    try:
        d.start()
        d.bootstrap()
        yield d
    finally:
        d.cleanup()


@pytest.fixture
def make_daemon() -> Iterator[Callable[[], Any]]:
    """Fresh daemons for tests that restart or kill them."""
    _need_root()
    support = load_api_support()
    made: list[Any] = []

    def make() -> Any:
        d = support.Daemon(support.new_base())
        made.append(d)
        return d

    yield make
    for d in made:
        d.cleanup()
