"""Routing: version prefixes, Docker's version errors, path parameters, error mapping."""

from __future__ import annotations

import pytest

from dockyard.api.routes import Router, split_version, status_for
from dockyard.api.version import check_version
from dockyard.engine import errors


def test_split_version() -> None:
    assert split_version("/v1.41/containers/json") == ("1.41", "/containers/json")
    assert split_version("/containers/json") == (None, "/containers/json")
    assert split_version("/volumes/v1.2") == (None, "/volumes/v1.2")


def test_version_range_messages() -> None:
    assert check_version("1.24") is None
    assert check_version("1.44") is None
    old = check_version("1.23")
    assert old is not None and "is too old. Minimum supported API version is 1.24" in old
    new = check_version("1.45")
    assert new == "client version 1.45 is too new. Maximum supported API version is 1.44"
    assert check_version("abc") is not None


async def _h(app: object, req: object) -> object:
    return None


def test_router_params_and_greedy_names() -> None:
    r = Router()
    r.add("GET", "/images/json", _h)
    r.add("GET", "/images/{name:.+}/json", _h)
    r.add("GET", "/containers/{id}/json", _h)
    m = r.match("GET", "/images/localhost:5000/a/b:tag/json")
    assert m is not None and m[1] == {"name": "localhost:5000/a/b:tag"}
    m = r.match("GET", "/containers/abc/json")
    assert m is not None and m[1] == {"id": "abc"}
    assert r.match("POST", "/containers/abc/json") is None
    assert r.match("HEAD", "/containers/abc/json") is not None  # HEAD follows GET
    assert r.match("GET", "/containers/a/b/json") is None


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (errors.NotFound("x"), 404),
        (errors.Conflict("x"), 409),
        (errors.InvalidParameter("x"), 400),
        (errors.Unavailable("x"), 501),
        (errors.EngineError("x"), 500),
        (ValueError("x"), 500),
    ],
)
def test_status_mapping(exc: Exception, status: int) -> None:
    assert status_for(exc) == status
