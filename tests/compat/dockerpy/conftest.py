"""Fixtures: one dockyardd with busybox for the docker CLI and docker-py compat tests."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
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


@pytest.fixture
def make_daemon() -> Iterator[Callable[[], Any]]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    made: list[Any] = []

    def make() -> Any:
        d = support.Daemon(support.new_base())
        made.append(d)
        return d

    yield make
    for d in made:
        d.cleanup()
