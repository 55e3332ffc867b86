"""Fixtures: a real dockyardd (temporary roots) with the busybox image, and its client."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest


def load_support() -> ModuleType:
    name = "dockyard_api_test_support"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("support.py"))
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


support = load_support()


def _need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")


@pytest.fixture(scope="module")
def daemon() -> Iterator[object]:
    _need_root()
    d = support.Daemon(support.new_base())
    try:
        d.start()
        d.bootstrap()
        yield d
    finally:
        d.cleanup()


@pytest.fixture
def api(daemon: object) -> object:
    return daemon.client  # type: ignore[attr-defined]


@pytest.fixture
def make_daemon() -> Iterator[Callable[[], object]]:
    """Fresh daemons for tests that restart or kill them."""
    _need_root()
    made: list[object] = []

    def make() -> object:
        d = support.Daemon(support.new_base())
        made.append(d)
        return d

    yield make
    for d in made:
        d.cleanup()  # type: ignore[attr-defined]
