"""Fixtures shared by the layer and snapshot integration tests."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import dockyard_tests_root  # type: ignore[import-not-found]
import pytest

from dockyard.store.snapshots import Mount

TARBUILD = Path(__file__).parents[1] / "unit" / "layers" / "tarbuild.py"


@pytest.fixture(scope="session")
def tb() -> ModuleType:
    """The tar-building helpers of the unit tests, loaded by path (importlib mode)."""
    return dockyard_tests_root.load_test_module("dockyard_tests_tarbuild", TARBUILD)


@contextlib.contextmanager
def mounted(mounts: list[Mount], target: Path) -> Iterator[Path]:
    """Perform a snapshot's mounts with mount(8), as a runtime would; unmount after."""
    assert len(mounts) == 1
    m = mounts[0]
    target.mkdir(parents=True, exist_ok=True)
    if m.type == "bind":
        subprocess.run(["mount", "--bind", m.source, str(target)], check=True)
        if "ro" in m.options:
            subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], check=True)
    else:
        subprocess.run(["mount", "-t", m.type, m.source, "-o", m.data, str(target)], check=True)
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=True)


@pytest.fixture
def mount() -> object:
    """``mounted`` as a fixture: ``with mount(mounts, target) as path: ...``."""
    return mounted
