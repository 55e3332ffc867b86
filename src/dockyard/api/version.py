"""API versions this daemon speaks, and the headers Docker puts on every response."""

from __future__ import annotations

import platform

import dockyard

API_VERSION = "1.44"
MIN_API_VERSION = "1.24"
# The semantics we implement; clients asking for older versions get these too.
DEFAULT_API_VERSION = "1.41"
ENGINE_VERSION = dockyard.__dict__.get("__version__", "0.1.0")


def parse_version(v: str) -> tuple[int, ...]:
    """'1.41' -> (1, 41); raises ValueError on anything else."""
    parts = tuple(int(p) for p in v.split("."))
    if len(parts) != 2:
        raise ValueError(v)
    return parts


def check_version(v: str) -> str | None:
    """Docker's message when a client version is out of range, else None."""
    try:
        got = parse_version(v)
    except ValueError:
        return f"invalid API version {v!r}"
    if got < parse_version(MIN_API_VERSION):
        return (
            f"client version {v} is too old. Minimum supported API version is "
            f"{MIN_API_VERSION}, please upgrade your client to a newer version"
        )
    if got > parse_version(API_VERSION):
        return f"client version {v} is too new. Maximum supported API version is {API_VERSION}"
    return None


def base_headers() -> dict[str, str]:
    return {
        "Api-Version": API_VERSION,
        "Docker-Experimental": "false",
        "Ostype": "linux",
        "Server": f"Docker/{ENGINE_VERSION} (linux)",
    }


def kernel_version() -> str:
    return platform.release()
