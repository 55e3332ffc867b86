"""Image routes, served by the image store; pull/push/login/search answer a clear error."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, BinaryIO

from dockyard.api import registry
from dockyard.api.http import HttpError, Reply, Request, StreamResponse, json_response
from dockyard.api.routes import Router
from dockyard.engine import filters
from dockyard.engine.errors import Unavailable
from dockyard.engine.rootfs import OWN_MOUNT_POINTS
from dockyard.store.errors import ImageNotFound
from dockyard.store.images import SnapshotChanges

if TYPE_CHECKING:
    from dockyard.api.app import App

NO_REGISTRY = (
    "{what} is not available yet: registry support comes with the distribution feature; "
    "use `docker load`/`docker import` or `dockyard image bootstrap busybox`"
)
COMMIT_KEYS = (
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "Labels",
    "ExposedPorts",
    "Volumes",
    "StopSignal",
    "OnBuild",
)
# Tar uploads are spooled to disk (never memory), bounded by this size.
MAX_UPLOAD = 64 << 30


def register(r: Router) -> None:
    r.add("GET", "/images/json", list_images)
    r.add("POST", "/images/create", create)
    r.add("POST", "/images/load", load)
    r.add("GET", "/images/get", get_many)
    r.add("POST", "/images/prune", prune)
    r.add("GET", "/images/search", search)
    r.add("POST", "/commit", commit)
    r.add("POST", "/images/bootstrap", bootstrap)
    r.add("GET", "/images/{name:.+}/json", inspect)
    r.add("GET", "/images/{name:.+}/history", history)
    r.add("GET", "/images/{name:.+}/get", get_one)
    r.add("POST", "/images/{name:.+}/tag", tag)
    r.add("POST", "/images/{name:.+}/push", push)
    r.add("DELETE", "/images/{name:.+}", remove)


def _store(app: App) -> Any:
    if app.image_store is None:
        raise Unavailable("the image store is not available in this build")
    return app.image_store


def _image_event(app: App, action: str, image_id: str, name: str) -> None:
    app.events.publish("image", action, image_id, {"name": name})


async def list_images(app: App, req: Request) -> Reply:
    store = _store(app)
    f = filters.parse(req.q("filters"), ("dangling", "label", "reference", "before", "since"))
    dangling = filters.boolean(f, "dangling")
    out = []
    for s in await app.run(store.list):
        d: dict[str, Any] = s.to_dict()
        tags: list[str] = d.get("RepoTags") or []
        if dangling is not None and dangling != (not tags):
            continue
        if f.get("label") and not filters.match_labels(d.get("Labels") or {}, f["label"]):
            continue
        if f.get("reference") and not any(
            _ref_match(t, pat) for t in tags for pat in f["reference"]
        ):
            continue
        if not tags and not req.qbool("all") and not f.get("dangling"):
            # Docker lists untagged top-level images as <none>:<none>.
            d["RepoTags"] = (
                ["<none>:<none>"] if req.api_version and req.api_version < "1.43" else []
            )
        if not d.get("RepoTags"):
            d["RepoTags"] = []
        out.append(d)
    return json_response(out)


def _ref_match(tag: str, pattern: str) -> bool:
    """Docker's `reference` filter: ``name`` matches every tag of it, ``name:tag`` one;
    a ``:`` before the last ``/`` is a registry's port, not a tag."""
    import fnmatch

    if ":" not in pattern.rsplit("/", 1)[-1]:
        return fnmatch.fnmatch(tag.rsplit(":", 1)[0], pattern)
    return fnmatch.fnmatch(tag, pattern)


async def inspect(app: App, req: Request) -> Reply:
    return json_response(await app.run(_store(app).inspect, req.params["name"]))


async def history(app: App, req: Request) -> Reply:
    return json_response(await app.run(_store(app).history, req.params["name"]))


async def tag(app: App, req: Request) -> Reply:
    repo = req.q("repo") or ""
    if not repo:
        raise HttpError(400, "repository name must have at least one component")
    t = req.q("tag") or ""
    target = f"{repo}:{t}" if t else repo
    store = _store(app)
    ref = await app.run(store.tag, req.params["name"], target)
    image_id = await app.run(store.resolve, req.params["name"])
    _image_event(app, "tag", image_id, str(ref.familiar()) if hasattr(ref, "familiar") else target)
    return json_response(None, 201)


def _in_use(app: App) -> Any:
    from dockyard.store.images import ImageUser

    def users(image_id: str) -> list[Any]:
        return [
            ImageUser(c.id, c.state.status in ("running", "paused", "restarting"))
            for c in app.engine.all()
            if c.image_id == image_id
        ]

    return users


async def remove(app: App, req: Request) -> Reply:
    store = _store(app)
    name = req.params["name"]
    records = await app.run(
        store.remove, name, req.qbool("force"), not req.qbool("noprune"), _in_use(app)
    )
    for rec in records:
        for action, ident in rec.items():
            _image_event(app, "untag" if action == "Untagged" else "delete", ident, name)
    return json_response(records)


async def prune(app: App, req: Request) -> Reply:
    f = filters.parse(req.q("filters"), ("dangling", "label", "until"))
    all_images = any(not filters.truthy(v) for v in f.get("dangling", []))
    result = await app.run(_store(app).prune, all_images, _in_use(app))
    app.events.publish("image", "prune", "", {"reclaimed": str(result.get("SpaceReclaimed", 0))})
    return json_response(result)


async def spool(app: App, req: Request) -> BinaryIO:
    """The request body in an unlinked temporary file under the data root, rewound."""
    tmpdir = app.data_root / "tmp"
    tmpdir.mkdir(exist_ok=True)
    f = tempfile.TemporaryFile(dir=tmpdir)  # noqa: SIM115 - handed to the caller
    total = 0
    try:
        async for chunk in req.iter_body():
            total += len(chunk)
            if total > MAX_UPLOAD:
                raise HttpError(413, f"upload larger than {MAX_UPLOAD} bytes")
            f.write(chunk)
        f.seek(0)
    except BaseException:
        f.close()
        raise
    return f


async def load(app: App, req: Request) -> Reply:
    store = _store(app)
    f = await spool(app, req)
    try:
        loaded = await app.run(store.load, f)
    finally:
        f.close()
    lines = []
    for img in loaded:
        for tag_name in img.tags or [img.image_id]:
            _image_event(app, "load", img.image_id, tag_name)
        lines += img.messages()
    quiet = req.qbool("quiet")

    async def body() -> AsyncIterator[bytes]:
        for line in lines:
            if not quiet:
                yield json.dumps({"stream": line + "\n"}).encode() + b"\n"
            else:
                yield json.dumps({"stream": line + "\n"}).encode() + b"\n"

    return StreamResponse(body())


async def create(app: App, req: Request) -> Reply:
    src = req.q("fromSrc")
    if src is None:
        if req.q("fromImage"):
            return await registry.pull(app, req)
        raise HttpError(501, NO_REGISTRY.format(what="pulling images"))
    if src != "-":
        raise HttpError(
            501,
            "importing from a URL is not available: the daemon does not "
            "contact remote hosts; pipe the tarball instead (fromSrc=-)",
        )
    repo = req.q("repo") or ""
    t = req.q("tag") or ""
    ref = (f"{repo}:{t}" if t else repo) or None
    changes = req.query.get("changes", [])
    message = req.q("message") or ""
    store = _store(app)
    f = await spool(app, req)
    try:
        image_id = await app.run(store.import_rootfs, f, ref, changes, message)
    finally:
        f.close()
    _image_event(app, "import", image_id, ref or image_id)

    async def body() -> AsyncIterator[bytes]:
        yield json.dumps({"status": image_id}).encode() + b"\n"

    return StreamResponse(body())


async def _save(app: App, names: list[str]) -> Reply:
    store = _store(app)
    for n in names:
        try:
            await app.run(store.resolve, n)  # 404 before the 200 goes out
        except ImageNotFound:
            raise HttpError(404, f"No such image: {n}") from None  # (as given, as dockerd)
    tmpdir = app.data_root / "tmp"
    tmpdir.mkdir(exist_ok=True)
    fd, path = tempfile.mkstemp(dir=tmpdir, suffix=".tar")
    try:
        with os.fdopen(fd, "wb") as out:
            await app.run(store.save, names, out)
        f = open(path, "rb")  # noqa: SIM115 - closed by the generator below
    finally:
        os.unlink(path)
    for n in names:
        _image_event(app, "save", n, n)

    async def body() -> AsyncIterator[bytes]:
        try:
            while chunk := f.read(1 << 20):
                yield chunk
        finally:
            f.close()

    return StreamResponse(body(), content_type="application/x-tar")


async def get_one(app: App, req: Request) -> Reply:
    return await _save(app, [req.params["name"]])


async def get_many(app: App, req: Request) -> Reply:
    names = req.query.get("names", [])
    if not names:
        raise HttpError(400, "no image names given")
    return await _save(app, names)


async def commit(app: App, req: Request) -> Reply:
    ref_container = req.q("container") or ""
    body = await req.json(default={}) or {}
    if not isinstance(body, dict):
        raise HttpError(400, "invalid JSON: expected an object")
    c = app.engine.get(ref_container)
    repo = req.q("repo") or ""
    t = req.q("tag") or ""
    ref = (f"{repo}:{t}" if t else repo) or None
    pause = req.qbool("pause", True)
    store = _store(app)
    paused_here = False
    if pause and c.state.status == "running":
        await app.run(app.engine.pause, c.id)
        paused_here = True
    try:
        # Docker's commit keeps the container's own config, changed by the request's.
        overrides = {k: c.config.get(k) for k in COMMIT_KEYS if c.config.get(k) is not None}
        overrides.update({k: v for k, v in body.items() if v not in (None, "", [], {})})
        overrides.pop("Image", None)
        overrides.pop("Hostname", None)
        image_id = await app.run(
            lambda: store.commit(
                SnapshotChanges(c.snapshot_key, OWN_MOUNT_POINTS),
                c.image_id,
                overrides or None,
                ref,
                req.q("author") or "",
                req.q("comment") or "",
                changes=req.query.get("changes", []),
                container_id=c.id,
                created_by=" ".join([c.path, *c.args]),
            )
        )
    finally:
        if paused_here:
            await app.run(app.engine.unpause, c.id)
    app.engine._event(c, "commit", comment=req.q("comment") or "")
    return json_response({"Id": image_id}, 201)


async def push(app: App, req: Request) -> Reply:
    return await registry.push(app, req)


async def search(app: App, req: Request) -> Reply:
    return await registry.search(app, req)


async def bootstrap(app: App, req: Request) -> Reply:
    """dockyard's own route: build the embedded base image (`dockyard image bootstrap busybox`)."""
    from dockyard.store.bootstrap import bootstrap_busybox

    name = req.q("name") or "busybox"
    if name != "busybox":
        raise HttpError(400, f"no embedded image named {name!r} (only busybox)")
    ref = req.q("tag") or "busybox:latest"
    image_id = await app.run(bootstrap_busybox, _store(app), ref)
    _image_event(app, "import", image_id, ref)
    return json_response({"Id": image_id, "RepoTags": [ref]}, 201)
