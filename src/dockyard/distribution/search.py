"""Search a registry's ``/v1/search`` the way ``docker search`` does."""

from __future__ import annotations

from typing import Any

from dockyard.distribution.auth import Credentials, TokenCache
from dockyard.distribution.client import RegistryClient
from dockyard.distribution.errors import DistributionError
from dockyard.distribution.registries import RegistryConfig

MAX_LIMIT = 100
DEFAULT_LIMIT = 25


def split_term(term: str) -> tuple[str, str]:
    """``127.0.0.1:5000/bb`` → (``127.0.0.1:5000``, ``bb``); a bare term → (``docker.io``, term).

    The first part names a registry when it looks like a host, as in image references.
    """
    first, sep, rest = term.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return "docker.io", term


def search(
    term: str,
    *,
    limit: int | None = None,
    config: RegistryConfig | None = None,
    creds: Credentials | None = None,
    cache: TokenCache | None = None,
) -> list[dict[str, Any]]:
    """Results in the Engine API's shape: name, description, star_count, is_official, …"""
    if not term.strip():
        raise DistributionError("a search term is required")
    config = config or RegistryConfig.from_env()
    domain, query = split_term(term.strip())
    n = DEFAULT_LIMIT if limit is None or limit <= 0 else min(limit, MAX_LIMIT)
    client = RegistryClient(config.endpoint(domain), creds, cache, config=config)
    data = client.search(query, n)
    results = data.get("results")
    if not isinstance(results, list):
        return []
    out: list[dict[str, Any]] = []
    for r in results[:n]:
        if not isinstance(r, dict) or not isinstance(r.get("name"), str):
            continue
        out.append(
            {
                "name": r["name"],
                "description": str(r.get("description") or ""),
                "star_count": int(r.get("star_count") or 0),
                "is_official": bool(r.get("is_official")),
                "is_automated": bool(r.get("is_automated")),
            }
        )
    return out
