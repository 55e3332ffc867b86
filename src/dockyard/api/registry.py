"""Registry routes' handlers: pull (``POST /images/create?fromImage=``), push, search, /auth.

The work runs in a thread (dockyard.distribution is blocking); its progress messages cross
to the event loop through a queue and go out as Docker's JSON stream. As Docker does, an
error before the first message is an HTTP status with ``{"message": …}``; after it, the
error is the stream's last line (``{"errorDetail": …, "error": …}``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.api.http import HttpError, Reply, Request, StreamResponse, json_response
from dockyard.engine.errors import Unavailable

if TYPE_CHECKING:
    from dockyard.api.app import App
    from dockyard.distribution.auth import Credentials
    from dockyard.distribution.sources import BlobSources

log = logging.getLogger(__name__)

_SOURCES: dict[Path, BlobSources] = {}


def _store(app: App) -> Any:
    if app.image_store is None:
        raise Unavailable("the image store is not available in this build")
    return app.image_store


def _sources(app: App) -> BlobSources:
    from dockyard.distribution.sources import BlobSources

    path = app.data_root / "distribution" / "blob-sources.json"
    found = _SOURCES.get(path)
    if found is None:
        found = _SOURCES[path] = BlobSources(path)
    return found


def _credentials(req: Request) -> Credentials | None:
    from dockyard.distribution.auth import Credentials
    from dockyard.distribution.credentials import decode_registry_auth
    from dockyard.distribution.errors import InvalidAuthConfig

    try:
        ac = decode_registry_auth(req.headers.get("x-registry-auth"))
    except InvalidAuthConfig as e:
        raise HttpError(400, str(e)) from None
    if ac is None:
        return None
    return Credentials(ac.username, ac.password, ac.identitytoken)


def status_of(exc: BaseException) -> int:
    from dockyard.distribution.errors import DistributionError

    if isinstance(exc, DistributionError):
        return exc.status
    for cls in type(exc).__mro__:
        n = cls.__name__
        if n.endswith("NotFound"):
            return 404
        if n.startswith("Invalid"):
            return 400
        if n.endswith("Conflict") or n.endswith("InUse"):
            return 409
    return 500


def message_of(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


async def _progress_stream(
    app: App,
    work: Callable[[Callable[[dict[str, Any]], None]], Any],
    done: Callable[[], None] | None = None,
) -> StreamResponse:
    """Run ``work(emit)`` in a thread; fail with a status if it fails before emitting.

    ``done`` runs on the event loop after a successful run (events are published there).
    """
    from dockyard.distribution.progress import encode, error

    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    failed: list[BaseException] = []

    def emit(msg: dict[str, Any]) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, encode(msg))

    def runner() -> None:
        try:
            work(emit)
        except BaseException as e:
            failed.append(e)
        finally:
            # Queued after every message: the stream ends exactly when the work does.
            loop.call_soon_threadsafe(queue.put_nowait, None)

    thread = asyncio.ensure_future(app.run(runner))
    first = await queue.get()
    if first is None:
        await thread
        if failed:
            raise HttpError(status_of(failed[0]), message_of(failed[0]))

    async def body() -> AsyncIterator[bytes]:
        item = first
        while item is not None:
            yield item
            item = await queue.get()
        await thread
        if failed:
            exc = failed[0]
            if status_of(exc) == 500:
                log.warning("registry operation failed: %s", message_of(exc))
            yield encode(error(message_of(exc)))
        elif done is not None:
            done()

    return StreamResponse(body())


def _pull_denied(exc: BaseException, name: str) -> BaseException:
    from dockyard.distribution.errors import Denied, NotFoundError, Unauthorized

    if isinstance(exc, Unauthorized | Denied):
        return NotFoundError(
            f"pull access denied for {name}, repository does not exist or may require "
            f"'docker login': {exc}"
        )
    return exc


async def pull(app: App, req: Request) -> Reply:
    """``POST /images/create?fromImage=NAME&tag=TAG[&platform=os/arch]``."""
    from dockyard.distribution.pull import Puller, parse_pull_reference
    from dockyard.oci.platform import InvalidPlatform, parse_platform

    name = req.q("fromImage") or ""
    tag = req.q("tag") or None
    platform = None
    if req.q("platform"):
        try:
            platform = parse_platform(req.q("platform") or "")
        except InvalidPlatform as e:
            raise HttpError(400, str(e)) from None
    ref = parse_pull_reference(name, tag)
    creds = _credentials(req)
    store = _store(app)
    sources = _sources(app)

    def work(emit: Callable[[dict[str, Any]], None]) -> None:
        try:
            Puller(store, creds=creds, progress=emit, platform=platform, sources=sources).pull(ref)
        except BaseException as e:
            raise _pull_denied(e, ref.familiar_name()) from None

    def done() -> None:
        app.events.publish("image", "pull", ref.familiar(), {"name": ref.familiar()})

    return await _progress_stream(app, work, done)


def _push_tags(store: Any, name: str, tag: str | None) -> list[str]:
    """Docker pushes every tag of the repository when none is given."""
    from dockyard.distribution.push import parse_push_reference

    ref = parse_push_reference(name, tag)
    if ref.tag is not None:
        return [str(ref)]
    wanted = ref.name
    from dockyard.oci.reference import parse_normalized_named

    tags = [t for img in store.list() for t in img.repo_tags]

    out = sorted(
        {
            str(r)
            for r in (parse_normalized_named(t) for t in tags if t and t != "<none>:<none>")
            if r.name == wanted
        }
    )
    return out or [str(ref.tagged_or_latest())]


async def push(app: App, req: Request) -> Reply:
    """``POST /images/{name}/push?tag=TAG``."""
    from dockyard.distribution.push import Pusher, parse_push_reference

    name = req.params["name"]
    tag = req.q("tag") or None
    creds = _credentials(req)
    store = _store(app)
    sources = _sources(app)
    targets = await app.run(_push_tags, store, name, tag)
    for t in targets:
        await app.run(store.resolve, t)  # "An image does not exist locally": 404 up front
    pushed: list[str] = []

    def work(emit: Callable[[dict[str, Any]], None]) -> None:
        from dockyard.distribution.auth import TokenCache

        cache = TokenCache()
        for t in targets:
            Pusher(store, creds=creds, cache=cache, progress=emit, sources=sources).push(
                parse_push_reference(t)
            )
            pushed.append(t)

    def done() -> None:
        for t in pushed:
            app.events.publish("image", "push", t, {"name": t})

    return await _progress_stream(app, work, done)


async def search(app: App, req: Request) -> Reply:
    """``GET /images/search?term=&limit=&filters=``."""
    import json

    from dockyard.distribution.search import search as do_search

    term = req.q("term") or ""
    if not term:
        raise HttpError(400, "a search term is required")
    limit = req.qint("limit")
    filters: dict[str, Any] = {}
    raw = req.q("filters")
    if raw:
        try:
            filters = json.loads(raw)
        except ValueError:
            raise HttpError(400, "invalid filters: not JSON") from None
    creds = _credentials(req)
    try:
        results = await app.run(lambda: do_search(term, limit=limit, creds=creds))
    except Exception as e:
        raise HttpError(status_of(e), message_of(e)) from None
    return json_response(_filter(results, filters if isinstance(filters, dict) else {}))


def _values(filters: dict[str, Any], key: str) -> list[str]:
    v = filters.get(key)
    if isinstance(v, dict):
        return [k for k, on in v.items() if on]
    if isinstance(v, list):
        return [str(x) for x in v]
    return []


def _filter(results: list[dict[str, Any]], filters: dict[str, Any]) -> list[dict[str, Any]]:
    out = results
    for v in _values(filters, "is-official"):
        want = v.lower() == "true"
        out = [r for r in out if r["is_official"] == want]
    for v in _values(filters, "is-automated"):
        want = v.lower() == "true"
        out = [r for r in out if r["is_automated"] == want]
    for v in _values(filters, "stars"):
        try:
            n = int(v)
        except ValueError:
            raise HttpError(400, f"invalid filter 'stars={v}'") from None
        out = [r for r in out if r["star_count"] >= n]
    return out


async def auth(app: App, req: Request) -> Reply:
    """``POST /auth``: check credentials against the registry's token endpoint."""
    from dockyard.distribution.auth import Credentials
    from dockyard.distribution.client import RegistryClient
    from dockyard.distribution.registries import RegistryConfig, auth_key

    body = await req.json(default={})
    if not isinstance(body, dict):
        raise HttpError(400, "invalid JSON: expected an object")
    user = body.get("username") or ""
    password = body.get("password") or ""
    server = body.get("serveraddress") or ""
    if not all(isinstance(x, str) for x in (user, password, server)):
        raise HttpError(400, "username, password and serveraddress must be strings")
    config = RegistryConfig.from_env()
    key = auth_key(server)
    domain = "docker.io" if key.startswith("https://index.docker.io") else key

    def check() -> None:
        endpoint = config.endpoint(domain)
        RegistryClient(endpoint, Credentials(user, password), config=config).ping()

    try:
        await app.run(check)
    except Exception as e:
        raise HttpError(status_of(e), message_of(e)) from None
    # Logged per user and server, never the password (a digest, not reversible, for tracing).
    tag = hashlib.sha256(f"{user}@{key}".encode()).hexdigest()[:8]
    log.info("login to %s as %s succeeded (%s)", key, user, tag)
    return json_response({"Status": "Login Succeeded", "IdentityToken": ""})
