"""Fixtures for the image store's integration tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.store.bootstrap import bootstrap_busybox
from dockyard.store.images import ImageStore

# --import-mode=importlib puts no test folder on sys.path; the helper module lives here.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ImageStore]:
    s = ImageStore(tmp_path / "store")
    yield s
    s.close()


@pytest.fixture
def busybox(store: ImageStore) -> str:
    return bootstrap_busybox(store)
