from __future__ import annotations

import pytest

from dockyard.hub.errors import InvalidName
from dockyard.hub.names import (
    canonical,
    display,
    namespace,
    validate_account,
    validate_repository,
    validate_tag,
)


@pytest.mark.parametrize(
    "name", ["busybox", "alice/web", "a/b/c", "my-app", "a.b_c__d", "a--b", "x0/y1"]
)
def test_valid_repository_names(name: str) -> None:
    assert validate_repository(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Busybox",
        "a//b",
        "/a",
        "a/",
        "-a",
        "a-",
        "a..b",
        "a___b",
        "a b",
        "a/../b",
        "x" * 256,
        "a:b",
        "ä",
    ],
)
def test_invalid_repository_names(name: str) -> None:
    with pytest.raises(InvalidName):
        validate_repository(name)


def test_single_component_maps_to_library() -> None:
    assert canonical("busybox") == "library/busybox"
    assert canonical("library/busybox") == "library/busybox"
    assert canonical("alice/web") == "alice/web"
    assert display("library/busybox") == "busybox"
    assert display("library/a/b") == "library/a/b"
    assert display("alice/web") == "alice/web"
    assert namespace("alice/web/x") == "alice"


@pytest.mark.parametrize("tag", ["latest", "v1.0", "_x", "A-b.c_d", "x" * 128])
def test_valid_tags(tag: str) -> None:
    assert validate_tag(tag) == tag


@pytest.mark.parametrize("tag", ["", ".x", "-x", "x" * 129, "a/b", "a:b", "sha256:abc"])
def test_invalid_tags(tag: str) -> None:
    with pytest.raises(InvalidName):
        validate_tag(tag)


@pytest.mark.parametrize(
    "name", ["library", "v2", "token", "A", "a", "a.b", "-ab", "ab-", "x" * 40]
)
def test_invalid_or_reserved_accounts(name: str) -> None:
    with pytest.raises(InvalidName):
        validate_account(name)


def test_valid_account() -> None:
    assert validate_account("alice-2") == "alice-2"
