from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

TARBUILD = Path(__file__).with_name("tarbuild.py")


def load_tarbuild() -> ModuleType:
    """The shared tar-building helpers, loaded by path (tests run in importlib mode)."""
    name = "dockyard_tests_tarbuild"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, TARBUILD)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


@pytest.fixture(scope="session")
def tb() -> ModuleType:
    return load_tarbuild()
