"""HTTP handlers of the OCI distribution API (`/v2/...`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import secrets
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from dockyard.hub.access import can_see
from dockyard.hub.auth import Grant, challenge_error
from dockyard.hub.errors import InvalidName, RegistryError, TokenError
from dockyard.hub.manifests import (
    DOCKER_MANIFEST,
    INDEX_TYPES,
    MAX_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    accepts,
)
from dockyard.hub.names import canonical
from dockyard.hub.registry import parse_digest
from dockyard.hub.routes import Route, action_for, match
from dockyard.hub.state import Hub
from dockyard.hub.uploads import UploadState, parse_chunk, range_header
from dockyard.linux.writeback import start_writeback
from dockyard.oci.digest import Digest, Digester
from dockyard.oci.scopes import Scope

API_HEADER = {"Docker-Distribution-API-Version": "registry/2.0"}
_FLUSH = 1 << 20
_GOARCH = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "armv7l": "arm",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


def hub_of(request: web.Request) -> Hub:
    hub: Hub = request.app["hub"]
    return hub


def realm_of(request: web.Request) -> str:
    cfg = hub_of(request).config
    if cfg.realm:
        return cfg.realm
    return f"{request.scheme}://{request.host}/token"


def error_response(request: web.Request, err: RegistryError) -> web.Response:
    headers = {**API_HEADER, **err.headers}
    if request.method == "HEAD":
        return web.Response(status=err.status, headers=headers)
    return web.json_response(err.body(), status=err.status, headers=headers)


# --- authorisation -------------------------------------------------------------------


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def current_grant(request: web.Request, scope: Scope | None) -> Grant:
    hub = hub_of(request)
    token = bearer(request)
    if token is None:
        raise challenge_error(realm_of(request), hub.config.service, scope, insufficient=False)
    try:
        return hub.authority.verify(token)
    except TokenError as e:
        raise challenge_error(
            realm_of(request), hub.config.service, scope, insufficient=False, message=str(e)
        ) from e


def require(request: web.Request, name: str, repo: str, actions: set[str]) -> Grant:
    scope = Scope(
        "repository", name, frozenset(actions | ({"pull"} if "push" in actions else set()))
    )
    grant = current_grant(request, scope)
    have = grant.actions(repo)
    if "*" in have:
        have = have | {"pull", "push", "delete"}
    if not actions <= have:
        # An account whose token already names this repository asked for it and was
        # refused: 403, as asking again cannot help. Otherwise (anonymous, or a token
        # for other scopes) 401 with the scope to ask for.
        refused = bool(grant.subject) and repo in grant.access
        raise challenge_error(
            realm_of(request),
            hub_of(request).config.service,
            scope,
            insufficient=True,
            status=403 if refused else 401,
        )
    return grant


# --- entry point ---------------------------------------------------------------------


async def dispatch(request: web.Request) -> web.StreamResponse:
    try:
        route = match(request.path)
        if route is None:
            raise RegistryError("NAME_UNKNOWN", "no such endpoint", status=404)
        if route.kind == "base":
            current_grant(request, None)
            return web.json_response({}, headers=API_HEADER)
        if route.kind == "catalog":
            return await catalog(request)
        try:
            repo = canonical(route.name)
        except InvalidName as e:
            raise RegistryError("NAME_INVALID", str(e), detail={"name": route.name}) from e
        need = action_for(route.kind, request.method)
        grant = require(request, route.name, repo, {need})
        handler = _HANDLERS.get((route.kind, request.method))
        if handler is None:
            raise RegistryError("UNSUPPORTED", f"{request.method} not allowed here", status=405)
        response: web.StreamResponse = await handler(request, route, repo, grant)
        return response
    except RegistryError as err:
        return error_response(request, err)


# --- blobs ---------------------------------------------------------------------------


async def get_blob(request: web.Request, route: Route, repo: str, grant: Grant) -> Any:
    hub = hub_of(request)
    digest = parse_digest(route.ref)
    size = hub.registry.blob_size(repo, digest)
    if size is None:
        raise RegistryError("BLOB_UNKNOWN", detail={"digest": route.ref})
    if request.method == "HEAD" and {"push", "*"} & grant.actions(repo):
        hub.registry.refresh_link(repo, digest, hub.config.gc_grace / 2)
    headers = {
        **API_HEADER,
        "Docker-Content-Digest": str(digest),
        "Content-Type": "application/octet-stream",
        "Cache-Control": "max-age=31536000",
        "Accept-Ranges": "bytes",
    }
    return web.FileResponse(hub.store.path(digest), headers=headers)


async def delete_blob(request: web.Request, route: Route, repo: str, grant: Grant) -> Any:
    digest = parse_digest(route.ref)
    hub_of(request).registry.delete_blob(repo, digest)
    return web.Response(status=202, headers=API_HEADER)


# --- uploads -------------------------------------------------------------------------


def upload_headers(name: str, upload_id: str, offset: int) -> dict[str, str]:
    return {
        **API_HEADER,
        "Location": f"/v2/{name}/blobs/uploads/{upload_id}",
        "Range": range_header(offset),
        "Docker-Upload-UUID": upload_id,
    }


def blob_created(name: str, digest: Digest) -> web.Response:
    return web.Response(
        status=201,
        headers={
            **API_HEADER,
            "Location": f"/v2/{name}/blobs/{digest}",
            "Docker-Content-Digest": str(digest),
        },
    )


async def start_upload(request: web.Request, route: Route, repo: str, grant: Grant) -> Any:
    hub = hub_of(request)
    q = request.query
    if "mount" in q:
        digest = parse_digest(q["mount"])
        if await try_mount(request, repo, digest, q.get("from"), grant):
            return blob_created(route.name, digest)
    upload_id = secrets.token_urlsafe(24)
    hub.registry.new_upload(repo, upload_id)
    if "digest" in q:
        try:
            want = parse_digest(q["digest"])
            await receive(request, repo, upload_id, streamed=True)
            return await finish(request, route, repo, upload_id, want)
        except BaseException:
            # A monolithic upload has no session the client knows of: drop its data now.
            hub.registry.cancel_upload(repo, upload_id)
            hub.forget_upload(upload_id)
            raise
    if request.content_length or request.headers.get("Transfer-Encoding") == "chunked":
        await receive(request, repo, upload_id, streamed=True)
    return web.Response(
        status=202, headers=upload_headers(route.name, upload_id, hub.store.upload_size(upload_id))
    )


async def try_mount(
    request: web.Request, repo: str, digest: Digest, source: str | None, grant: Grant
) -> bool:
    hub = hub_of(request)
    if source:
        try:
            src = canonical(source)
        except InvalidName:
            return False
        have = grant.actions(src)
        if not ({"pull", "*"} & have) or hub.registry.blob_size(src, digest) is None:
            return False
        return hub.registry.link_blob(repo, digest)
    # Anonymous mount: allowed when the caller could already read the blob somewhere.
    who = hub.authority.principal_of(grant)
    for other in hub.registry.repos_with_blob(digest):
        if can_see(who, hub.registry.facts(other)) and hub.registry.blob_size(other, digest):
            return hub.registry.link_blob(repo, digest)
    return False


async def upload_status(request: web.Request, route: Route, repo: str, grant: Grant) -> Any:
    hub = hub_of(request)
    offset = hub.registry.check_upload(repo, route.ref)
    return web.Response(status=204, headers=upload_headers(route.name, route.ref, offset))


async def patch_upload(request: web.Request, route: Route, repo: str, grant: Grant) -> Any:
    hub_of(request)
    offset = await receive(request, repo, route.ref, streamed=False)
    return web.Response(status=202, headers=upload_headers(route.name, route.ref, offset))


async def put_upload(request: web.Request, route: Route, repo: str, grant: Grant) -> Any:
    if "digest" not in request.query:
        raise RegistryError("DIGEST_INVALID", "digest parameter missing")
    want = parse_digest(request.query["digest"])
    await receive(request, repo, route.ref, streamed=False)
    return await finish(request, route, repo, route.ref, want)


async def cancel_upload(request: web.Request, route: Route, repo: str, grant: Grant) -> Any:
    hub = hub_of(request)
    async with hub.upload_lock(route.ref):
        hub.registry.cancel_upload(repo, route.ref)
    hub.forget_upload(route.ref)
    return web.Response(status=204, headers=API_HEADER)


def _content_length(request: web.Request) -> int | None:
    value = request.headers.get("Content-Length")
    if value is None:
        return None
    try:
        n = int(value)
    except ValueError as e:
        raise RegistryError("SIZE_INVALID", "invalid Content-Length") from e
    if n < 0:
        raise RegistryError("SIZE_INVALID", "invalid Content-Length")
    return n


async def receive(request: web.Request, repo: str, upload_id: str, *, streamed: bool) -> int:
    """Append the request body to an upload; returns the new offset."""
    hub = hub_of(request)
    loop = asyncio.get_running_loop()
    async with hub.upload_lock(upload_id):
        offset = hub.registry.check_upload(repo, upload_id)
        length = _content_length(request)
        has_body = bool(length) or request.headers.get("Transfer-Encoding") == "chunked"
        if not has_body:
            return offset
        content_range = None if streamed else request.headers.get("Content-Range")
        chunk = parse_chunk(content_range, length, offset)
        UploadState(upload_id, repo, offset).accept(chunk)
        hasher = hub.hashers.pop(upload_id, None)
        if hasher is None or hasher.size != offset:
            hasher = await loop.run_in_executor(None, hub.store.hash_upload, upload_id)
        path = hub.store.upload_path(upload_id)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        written = 0

        def write(blocks: list[bytes]) -> None:
            start = hasher.size
            for block in blocks:
                view = memoryview(block)
                while view:
                    view = view[os.write(fd, view) :]
                # Only after the bytes are on file: a failed write leaves the hash
                # stale, and a stale hash is rebuilt from the file.
                hasher.update(block)
            start_writeback(fd, start, hasher.size - start)  # the final fsync waits less

        # Double buffering: one batch is written (in a thread) while the next arrives.
        pending: asyncio.Future[None] | None = None
        try:
            blocks: list[bytes] = []
            size = 0
            async for block in request.content.iter_any():
                blocks.append(block)
                size += len(block)
                if size >= _FLUSH:
                    if pending is not None:
                        await pending
                    pending = loop.run_in_executor(None, write, blocks)
                    written += size
                    blocks, size = [], 0
            if pending is not None:
                await pending
                pending = None
            if blocks:
                await loop.run_in_executor(None, write, blocks)
                written += size
        finally:
            if pending is not None:
                with contextlib.suppress(Exception):
                    await pending
            os.close(fd)
            if hasher.size == offset + written:
                hub.hashers[upload_id] = hasher
            hub.registry.touch_upload(upload_id)
        written = hasher.size - offset
        if chunk.length is not None and written != chunk.length:
            raise RegistryError(
                "SIZE_INVALID", f"received {written} bytes, expected {chunk.length}"
            )
        return offset + written


async def finish(
    request: web.Request, route: Route, repo: str, upload_id: str, want: Digest
) -> web.Response:
    hub = hub_of(request)
    loop = asyncio.get_running_loop()
    async with hub.upload_lock(upload_id):
        size = hub.registry.check_upload(repo, upload_id)
        hasher: Digester | None = hub.hashers.get(upload_id)
        if hasher is None or hasher.size != size or hasher.algorithm != want.algorithm:
            hasher = await loop.run_in_executor(
                None, hub.store.hash_upload, upload_id, want.algorithm
            )
        got = hasher.digest()
        if got != want or hasher.size != size:
            # The upload stays open: the data is kept and the client may retry.
            raise RegistryError(
                "DIGEST_INVALID",
                f"uploaded content has digest {got}, not {want}",
                detail={"digest": str(want)},
            )
        await loop.run_in_executor(None, _fsync, hub.store.upload_path(upload_id))
        hub.registry.commit_upload(repo, upload_id, want, size)
    hub.forget_upload(upload_id)
    return blob_created(route.name, want)


def _fsync(path: os.PathLike[str]) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- manifests -----------------------------------------------------------------------


def _host_platform() -> tuple[str, str]:
    return "linux", _GOARCH.get(platform.machine(), platform.machine())


async def get_manifest(request: web.Request, route: Route, repo: str, grant: Grant) -> Any:
    hub = hub_of(request)
    stored = hub.registry.get_manifest(repo, route.ref)
    accept = ",".join(request.headers.getall("Accept", []))
    if stored.media_type in INDEX_TYPES and not accepts(accept, stored.media_type):
        # A client that cannot read indexes gets the host platform's image, as
        # registry:2 does, when it accepts that image's type.
        stored = _pick_platform(hub, repo, stored.content, accept) or stored
    if request.method == "GET":
        hub.pulls[repo] += 1
    elif {"push", "*"} & grant.actions(repo):
        hub.registry.refresh_manifest(repo, stored.digest, hub.config.gc_grace / 2)
    headers = {
        **API_HEADER,
        "Docker-Content-Digest": stored.digest,
        "ETag": f'"{stored.digest}"',
        "Content-Type": stored.media_type,
    }
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(stored.content))
        return web.Response(status=200, headers=headers)
    return web.Response(body=stored.content, headers=headers)


def _pick_platform(hub: Hub, repo: str, content: bytes, accept: str) -> Any:
    want_os, want_arch = _host_platform()
    for m in json.loads(content).get("manifests", []):
        p = m.get("platform") or {}
        if (
            p.get("os") == want_os
            and p.get("architecture") == want_arch
            and m.get("mediaType") in (OCI_MANIFEST, DOCKER_MANIFEST)
            and accepts(accept, m["mediaType"])
        ):
            try:
                return hub.registry.get_manifest(repo, m["digest"])
            except RegistryError:
                return None
    return None


async def put_manifest(request: web.Request, route: Route, repo: str, grant: Grant) -> Any:
    hub = hub_of(request)
    length = _content_length(request)
    if length is not None and length > MAX_MANIFEST:
        raise RegistryError("SIZE_INVALID", "manifest too large", status=413)
    body = bytearray()
    async for block in request.content.iter_chunked(1 << 16):
        body += block
        if len(body) > MAX_MANIFEST:
            raise RegistryError("SIZE_INVALID", "manifest too large", status=413)
    parsed = hub.registry.put_manifest(
        repo, route.ref, bytes(body), request.headers.get("Content-Type")
    )
    headers = {
        **API_HEADER,
        "Location": f"/v2/{route.name}/manifests/{parsed.digest}",
        "Docker-Content-Digest": parsed.digest,
    }
    if parsed.subject is not None:
        headers["OCI-Subject"] = parsed.subject.digest
    return web.Response(status=201, headers=headers)


async def delete_manifest(request: web.Request, route: Route, repo: str, grant: Grant) -> Any:
    hub_of(request).registry.delete_manifest(repo, route.ref)
    return web.Response(status=202, headers=API_HEADER)


# --- listings ------------------------------------------------------------------------


def page_size(request: web.Request) -> int:
    limit = hub_of(request).config.max_page
    raw = request.query.get("n")
    if raw is None or raw == "":
        return limit
    try:
        n = int(raw)
    except ValueError as e:
        raise RegistryError("UNSUPPORTED", f"invalid n: {raw!r}", status=400) from e
    if n < 0:
        raise RegistryError("UNSUPPORTED", f"invalid n: {raw!r}", status=400)
    return min(n, limit)


def next_link(path: str, n: int, last: str) -> str:
    return f'<{path}?{urlencode({"n": n, "last": last})}>; rel="next"'


async def list_tags(request: web.Request, route: Route, repo: str, grant: Grant) -> Any:
    hub = hub_of(request)
    if not hub.registry.facts(repo).exists:
        raise RegistryError("NAME_UNKNOWN", detail={"name": route.name})
    n = page_size(request)
    last = request.query.get("last", "")
    tags = hub.registry.tags(repo, n + 1, last) if n else []
    headers = dict(API_HEADER)
    if len(tags) > n:
        tags = tags[:n]
        headers["Link"] = next_link(f"/v2/{quote(route.name)}/tags/list", n, tags[-1])
    return web.json_response({"name": route.name, "tags": tags}, headers=headers)


async def catalog(request: web.Request) -> web.Response:
    hub = hub_of(request)
    scope = Scope("registry", "catalog", frozenset({"*"}))
    grant = current_grant(request, scope)
    if not grant.catalog:
        raise challenge_error(realm_of(request), hub.config.service, scope, insufficient=True)
    who = hub.authority.principal_of(grant)
    n = page_size(request)
    last = request.query.get("last", "")
    names: list[str] = []
    # Private repositories are skipped, so read in batches until the page is full.
    while n and len(names) <= n:
        rows = hub.registry.catalog_page(last, 500)
        if not rows:
            break
        for row in rows:
            last = row["name"]
            if can_see(who, hub.registry.facts(last)) and hub.registry.has_repo_content(last):
                names.append(last)
                if len(names) > n:
                    break
    headers = dict(API_HEADER)
    if len(names) > n:
        names = names[:n]
        headers["Link"] = next_link("/v2/_catalog", n, names[-1])
    return web.json_response({"repositories": names}, headers=headers)


async def referrers(request: web.Request, route: Route, repo: str, grant: Grant) -> Any:
    hub = hub_of(request)
    subject = parse_digest(route.ref)
    artifact_type = request.query.get("artifactType")
    body = hub.registry.referrers(repo, str(subject), artifact_type)
    headers = {**API_HEADER, "Content-Type": OCI_INDEX}
    if artifact_type is not None:
        headers["OCI-Filters-Applied"] = "artifactType"
    return web.Response(body=json.dumps(body).encode(), headers=headers)


_HANDLERS: dict[tuple[str, str], Any] = {
    ("blob", "GET"): get_blob,
    ("blob", "HEAD"): get_blob,
    ("blob", "DELETE"): delete_blob,
    ("upload_start", "POST"): start_upload,
    ("upload", "GET"): upload_status,
    ("upload", "PATCH"): patch_upload,
    ("upload", "PUT"): put_upload,
    ("upload", "DELETE"): cancel_upload,
    ("manifest", "GET"): get_manifest,
    ("manifest", "HEAD"): get_manifest,
    ("manifest", "PUT"): put_manifest,
    ("manifest", "DELETE"): delete_manifest,
    ("tags", "GET"): list_tags,
    ("referrers", "GET"): referrers,
}
