"""Fixtures for the linux unit tests: run path tests with and without openat2."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dockyard.linux import paths


@pytest.fixture(params=["openat2", "walk"])
def resolver(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each path test runs twice: through openat2 and through the manual walk."""
    if request.param == "walk":
        paths.use_openat2(False)
    else:
        paths.use_openat2(None)
    try:
        yield str(request.param)
    finally:
        paths.use_openat2(None)
