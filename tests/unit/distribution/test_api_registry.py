"""The daemon-side helpers of api/registry: error statuses and search filters."""

from __future__ import annotations

import pytest

from dockyard.api.http import HttpError
from dockyard.api.registry import _filter, status_of
from dockyard.distribution import errors

RESULTS = [
    {
        "name": "busybox",
        "description": "",
        "star_count": 5,
        "is_official": True,
        "is_automated": False,
    },
    {
        "name": "alice/web",
        "description": "",
        "star_count": 0,
        "is_official": False,
        "is_automated": False,
    },
]


def test_statuses() -> None:
    assert status_of(errors.Unauthorized("x")) == 401
    assert status_of(errors.Denied("x")) == 403
    assert status_of(errors.NotFoundError("x")) == 404
    assert status_of(errors.RegistryUnreachable("x")) == 502
    assert status_of(errors.TransferInterrupted("x")) == 502
    assert status_of(errors.InvalidAuthConfig("x")) == 400

    class ImageNotFound(Exception):
        pass

    assert status_of(ImageNotFound("x")) == 404
    assert status_of(RuntimeError("x")) == 500


def test_search_filters() -> None:
    assert [r["name"] for r in _filter(RESULTS, {"is-official": {"true": True}})] == ["busybox"]
    assert [r["name"] for r in _filter(RESULTS, {"is-official": ["false"]})] == ["alice/web"]
    assert [r["name"] for r in _filter(RESULTS, {"stars": ["1"]})] == ["busybox"]
    assert _filter(RESULTS, {}) == RESULTS
    with pytest.raises(HttpError):
        _filter(RESULTS, {"stars": ["many"]})
