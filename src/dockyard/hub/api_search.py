"""`GET /v1/search`, in the shape `docker search` reads."""

from __future__ import annotations

from aiohttp import web

from dockyard.hub.access import Principal
from dockyard.hub.accounts import principal
from dockyard.hub.api_token import basic_credentials, login
from dockyard.hub.errors import RegistryError
from dockyard.hub.search import search_repos
from dockyard.hub.state import Hub
from dockyard.hub.web.session import request_principal


async def searcher(request: web.Request) -> Principal | None:
    """Who searches: a session, a bearer token, or Basic credentials (as the token
    endpoint takes them, under its rate limit). Wrong credentials are refused rather than
    searched anonymously, so that a typo does not look like missing repositories."""
    hub: Hub = request.app["hub"]
    creds = basic_credentials(request)
    if creds is None:
        return await request_principal(request)
    who = await login(hub, request, *creds)
    return principal(hub.conn, who.account, who.read_only)


async def search(request: web.Request) -> web.Response:
    hub: Hub = request.app["hub"]
    q = request.query.get("q", "")
    try:
        n = min(max(int(request.query.get("n", "25")), 1), 100)
        page = max(int(request.query.get("page", "1")), 1)
    except ValueError:
        return web.json_response({"message": "n and page must be integers"}, status=400)
    try:
        who = await searcher(request)
    except RegistryError as e:
        headers = dict(e.headers)
        if e.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="dockyard-hub"'
        return web.json_response(e.body(), status=e.status, headers=headers)
    total, rows = search_repos(hub.conn, who, q, n, (page - 1) * n)
    results = [
        {
            "name": r.display_name,
            "description": r.description,
            "star_count": r.stars,
            "pull_count": r.pulls,
            "is_official": r.official,
            "is_automated": False,
        }
        for r in rows
    ]
    return web.json_response(
        {
            "num_results": total,
            "query": q,
            "results": results,
            "page": page,
            "num_pages": max(1, -(-total // n)),
            "page_size": n,
        }
    )


async def ping(request: web.Request) -> web.Response:
    """`/v1/_ping`: what Docker asks of a registry before a v1 search."""
    return web.json_response(
        {"standalone": True},
        headers={"X-Docker-Registry-Version": "0.6.0", "X-Docker-Registry-Standalone": "true"},
    )
