"""Fixtures: the client of the shared `daemon` (tests/conftest.py: a real dockyardd in
temporary roots, with the busybox image); helpers live in support.py."""

from __future__ import annotations

from typing import Any

import dockyard_api_test_support as support  # loaded by tests/conftest.py
import pytest

__all__ = ["support"]


@pytest.fixture
def api(daemon: Any) -> Any:
    return daemon.client
