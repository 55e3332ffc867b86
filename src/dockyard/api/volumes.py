"""Volume routes (local driver)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dockyard.api.http import HttpError, Reply, Request, json_response, no_content
from dockyard.api.routes import Router
from dockyard.engine import filters

if TYPE_CHECKING:
    from dockyard.api.app import App


def register(r: Router) -> None:
    r.add("GET", "/volumes", list_volumes)
    r.add("POST", "/volumes/create", create)
    r.add("POST", "/volumes/prune", prune)
    r.add("GET", "/volumes/{name}", inspect)
    r.add("DELETE", "/volumes/{name}", remove)


async def list_volumes(app: App, req: Request) -> Reply:
    f = filters.parse(req.q("filters"), ("name", "label", "dangling", "driver"))
    dangling = filters.boolean(f, "dangling")
    out = []
    for v in app.engine.volumes.list():
        if f.get("name") and not any(n in v["Name"] for n in f["name"]):
            continue
        if f.get("label") and not filters.match_labels(v["Labels"] or {}, f["label"]):
            continue
        if f.get("driver") and "local" not in f["driver"]:
            continue
        if dangling is not None and dangling != (not app.engine._volume_users(v["Name"])):
            continue
        out.append(v)
    return json_response({"Volumes": out, "Warnings": None})


async def create(app: App, req: Request) -> Reply:
    body = await req.json(default={})
    if not isinstance(body, dict):
        raise HttpError(400, "invalid JSON: expected an object")
    vol, new = await app.run(
        app.engine.volumes.create,
        body.get("Name") or None,
        body.get("Driver") or "local",
        body.get("DriverOpts") or {},
        body.get("Labels") or {},
    )
    if new:
        app.events.publish("volume", "create", vol["Name"], {"driver": "local"})
    return json_response(vol, 201)


async def inspect(app: App, req: Request) -> Reply:
    return json_response(app.engine.volumes.inspect(req.params["name"]))


async def remove(app: App, req: Request) -> Reply:
    name = req.params["name"]
    existed = app.engine.volumes.exists(name)
    await app.run(app.engine.volumes.remove, name, req.qbool("force"))
    if existed:
        app.events.publish("volume", "destroy", name, {"driver": "local"})
    return no_content()


async def prune(app: App, req: Request) -> Reply:
    f = filters.parse(req.q("filters"), ("label", "all"))
    all_vols = any(filters.truthy(v) for v in f.get("all", []))
    removed, reclaimed = await app.run(app.engine.volumes.prune, all_vols, f.get("label", []))
    for name in removed:
        app.events.publish("volume", "destroy", name, {"driver": "local"})
    app.events.publish("volume", "prune", "", {"reclaimed": str(reclaimed)})
    return json_response({"VolumesDeleted": removed or None, "SpaceReclaimed": reclaimed})
