"""Assembling the hub's aiohttp application and its background chores."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from dockyard.hub import api_search, api_token, api_v2
from dockyard.hub.config import Config
from dockyard.hub.state import Hub

log = logging.getLogger("dockyard.hub")
_FLUSH_EVERY = 5.0


async def _chores(app: web.Application) -> None:
    hub: Hub = app["hub"]
    loop = asyncio.get_running_loop()
    interval = hub.config.gc_interval
    # The first collection comes soon after start, to sweep what a crash left behind.
    next_gc = loop.time() + min(interval, 60) if interval else float("inf")
    while True:
        await asyncio.sleep(min(_FLUSH_EVERY, interval or _FLUSH_EVERY))
        try:
            hub.flush_pulls()
            if loop.time() >= next_gc:
                next_gc = loop.time() + interval
                from dockyard.hub import gc

                busy = {k for k, lock in hub.locks.items() if lock.locked()}
                report = await loop.run_in_executor(None, gc.collect, hub.config, busy)
                hub.prune_locks()
                log.info("gc: %s", report)
        except Exception:  # a failed chore must not stop the next one
            log.exception("background chore failed")


async def _background(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(_chores(app))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    app["hub"].close()


def make_app(config: Config) -> web.Application:
    hub = Hub.open(config)
    app = web.Application(client_max_size=1 << 20)
    app["hub"] = hub
    app.router.add_route("*", "/v2{tail:.*}", api_v2.dispatch)
    app.router.add_get("/token", api_token.get_token)
    app.router.add_post("/token", api_token.post_token)
    app.router.add_get("/v1/search", api_search.search)
    app.router.add_get("/v1/_ping", api_search.ping)
    from dockyard.hub.web import routes as web_routes

    web_routes.install(app)
    app.cleanup_ctx.append(_background)
    return app
