"""Fixtures: one dockyardd with busybox for the engine's docker-py compat tests."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def _support() -> Any:
    name = "dockyard_api_test_support"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).parents[2] / "integration" / "api" / "support.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


support = _support()


@pytest.fixture(scope="module")
def daemon() -> Iterator[Any]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    d = support.Daemon(support.new_base())
    try:
        d.start()
        d.bootstrap()
        yield d
    finally:
        d.cleanup()
