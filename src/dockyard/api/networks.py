"""Network routes: the two built-in networks this daemon has until bridge networking lands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dockyard.api.http import HttpError, Reply, Request, json_response
from dockyard.api.routes import Router
from dockyard.engine import filters

if TYPE_CHECKING:
    from dockyard.api.app import App

NO_BRIDGE = "creating networks needs bridge networking, not available yet (use none or host)"
BUILTIN = {"none": "null", "host": "host"}


def register(r: Router) -> None:
    r.add("GET", "/networks", list_networks)
    r.add("POST", "/networks/create", create)
    r.add("POST", "/networks/prune", prune)
    r.add("GET", "/networks/{id}", inspect)
    r.add("DELETE", "/networks/{id}", remove)
    r.add("POST", "/networks/{id}/connect", connect)
    r.add("POST", "/networks/{id}/disconnect", connect)


def _network(app: App, name: str) -> dict[str, Any]:
    containers = {
        c.id: {
            "Name": c.short_name,
            "EndpointID": "",
            "MacAddress": "",
            "IPv4Address": "",
            "IPv6Address": "",
        }
        for c in app.engine.all()
        if c.state.status in ("running", "paused") and c.host_config.get("NetworkMode") == name
    }
    return {
        "Name": name,
        "Id": name,  # stable and unique on this daemon
        "Created": "0001-01-01T00:00:00Z",
        "Scope": "local",
        "Driver": BUILTIN[name],
        "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": None, "Config": []},
        "Internal": False,
        "Attachable": False,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": containers,
        "Options": {},
        "Labels": {},
    }


def _find(name: str) -> str:
    if name in BUILTIN:
        return name
    raise HttpError(404, f"network {name} not found")


async def list_networks(app: App, req: Request) -> Reply:
    f = filters.parse(
        req.q("filters"), ("name", "id", "driver", "type", "scope", "label", "dangling")
    )
    out = []
    for name in BUILTIN:
        if f.get("name") and not any(n in name for n in f["name"]):
            continue
        if f.get("id") and not any(name.startswith(i) for i in f["id"]):
            continue
        if f.get("driver") and BUILTIN[name] not in f["driver"]:
            continue
        if f.get("type") and "builtin" not in f["type"]:
            continue
        out.append(_network(app, name))
    return json_response(out)


async def inspect(app: App, req: Request) -> Reply:
    return json_response(_network(app, _find(req.params["id"])))


async def create(app: App, req: Request) -> Reply:
    await req.json()
    raise HttpError(501, NO_BRIDGE)


async def remove(app: App, req: Request) -> Reply:
    name = _find(req.params["id"])
    raise HttpError(403, f"{name} is a pre-defined network and cannot be removed")


async def connect(app: App, req: Request) -> Reply:
    _find(req.params["id"])
    await req.json()
    raise HttpError(501, NO_BRIDGE)


async def prune(app: App, req: Request) -> Reply:
    return json_response({"NetworksDeleted": None})
