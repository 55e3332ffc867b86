from __future__ import annotations

from pathlib import Path
from types import ModuleType

import dockyard_tests_root  # type: ignore[import-not-found]
import pytest

TARBUILD = Path(__file__).with_name("tarbuild.py")


def load_tarbuild() -> ModuleType:
    """The shared tar-building helpers, loaded by path (tests run in importlib mode)."""
    return dockyard_tests_root.load_test_module("dockyard_tests_tarbuild", TARBUILD)


@pytest.fixture(scope="session")
def tb() -> ModuleType:
    return load_tarbuild()
