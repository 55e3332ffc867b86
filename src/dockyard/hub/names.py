"""Repository, tag and account names: grammar, canonical form and display form."""

from __future__ import annotations

import re

from dockyard.hub.errors import InvalidName

# The distribution spec's grammar for repository names, one path component at a time.
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
# Account names are one repository component, short and without dots so that the
# namespace `alice/...` can never be mistaken for a registry host.
_ACCOUNT = re.compile(r"^[a-z0-9]+(?:[_-][a-z0-9]+)*$")
MAX_NAME = 255
OFFICIAL = "library"
RESERVED_ACCOUNTS = frozenset(
    {
        OFFICIAL,
        "v1",
        "v2",
        "token",
        "static",
        "login",
        "logout",
        "signup",
        "search",
        "settings",
        "orgs",
        "users",
        "u",
        "r",
        "admin",
        "api",
        "_",
        "help",
    }
)


def validate_repository(name: str) -> str:
    if len(name) > MAX_NAME or not _NAME.match(name):
        raise InvalidName(f"invalid repository name: {name!r}")
    return name


def canonical(name: str) -> str:
    """`busybox` and `library/busybox` are one repository; store the long form."""
    validate_repository(name)
    if "/" not in name:
        name = f"{OFFICIAL}/{name}"
        if len(name) > MAX_NAME:
            raise InvalidName(f"invalid repository name: {name!r}")
    return name


def display(name: str) -> str:
    """Official images are shown as plain `busybox`, as Docker Hub does."""
    prefix = OFFICIAL + "/"
    rest = name[len(prefix) :]
    if name.startswith(prefix) and "/" not in rest:
        return rest
    return name


def namespace(canonical_name: str) -> str:
    return canonical_name.split("/", 1)[0]


def validate_tag(tag: str) -> str:
    if not _TAG.match(tag):
        raise InvalidName(f"invalid tag: {tag!r}")
    return tag


def validate_account(name: str) -> str:
    if not (2 <= len(name) <= 39) or not _ACCOUNT.match(name):
        raise InvalidName(
            f"invalid account name {name!r}: 2-39 lowercase letters, digits, '-' or '_'"
        )
    if name in RESERVED_ACCOUNTS:
        raise InvalidName(f"account name {name!r} is reserved")
    return name
