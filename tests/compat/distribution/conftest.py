"""Fixtures for the compat tests: registry:2 (also with Basic auth), dockyard-hub, stores;
shared with tests/integration/distribution (its distfixtures.py, which also loads the
helpers these tests import as dockyard_distribution_test_*)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "integration" / "distribution"))
from distfixtures import (  # type: ignore[import-not-found]
    empty_store,
    hub,
    registry2,
    source_store,
    start_registry2,
)

__all__ = ["empty_store", "hub", "registry2", "registry2_auth", "source_store"]


@pytest.fixture(scope="module")
def registry2_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    r = start_registry2(tmp_path_factory.mktemp("registry2auth"), users={"carol": "carol-pw"})
    yield r
    r.stop()
