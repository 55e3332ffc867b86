"""`GET /v1/search`, in the shape `docker search` reads."""

from __future__ import annotations

from aiohttp import web

from dockyard.hub.search import search_repos
from dockyard.hub.state import Hub
from dockyard.hub.web.session import request_principal


async def search(request: web.Request) -> web.Response:
    hub: Hub = request.app["hub"]
    q = request.query.get("q", "")
    try:
        n = min(max(int(request.query.get("n", "25")), 1), 100)
        page = max(int(request.query.get("page", "1")), 1)
    except ValueError:
        return web.json_response({"message": "n and page must be integers"}, status=400)
    who = await request_principal(request)
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
