"""The route table: (method, path pattern) -> handler, plus version prefixes and error mapping."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dockyard.api.http import HttpError, Reply, Request, json_response
from dockyard.api.version import check_version
from dockyard.engine import errors as eerr

if TYPE_CHECKING:
    from dockyard.api.app import App

log = logging.getLogger(__name__)

RouteHandler = Callable[["App", Request], Awaitable[Reply]]

_VERSION_PREFIX = re.compile(r"^/v([0-9][0-9.]*)(/.*)$")


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: RouteHandler


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, path: str, handler: RouteHandler) -> None:
        """``path`` uses ``{name}`` for one segment and ``{name:.*}`` for the rest."""
        rx = "^"
        for part in re.split(r"(\{[a-z_]+(?::[^}]+)?\})", path):
            if part.startswith("{"):
                name, _, sub = part[1:-1].partition(":")
                rx += f"(?P<{name}>{sub or '[^/]+'})"
            else:
                rx += re.escape(part)
        self.routes.append(Route(method, re.compile(rx + "$"), handler))

    def match(self, method: str, path: str) -> tuple[RouteHandler, dict[str, str]] | None:
        m_head = "GET" if method == "HEAD" else None
        for r in self.routes:
            if r.method != method and r.method != m_head:
                continue
            m = r.pattern.match(path)
            if m:
                return r.handler, m.groupdict()
        return None


def split_version(path: str) -> tuple[str | None, str]:
    """'/v1.41/containers/json' -> ('1.41', '/containers/json')."""
    m = _VERSION_PREFIX.match(path)
    if m is None:
        return None, path
    return m.group(1), m.group(2)


STATUS_OF: list[tuple[type[Exception], int]] = [
    (eerr.NotFound, 404),
    (eerr.Conflict, 409),
    (eerr.InvalidParameter, 400),
    (eerr.Forbidden, 403),
    (eerr.Unavailable, 501),
    (eerr.EngineError, 500),
]


def status_for(exc: Exception) -> int:
    for cls, status in STATUS_OF:
        if isinstance(exc, cls):
            return status
    return 500


async def dispatch(app: App, router: Router, req: Request) -> Reply:
    version, path = split_version(req.path)
    if version is not None:
        problem = check_version(version)
        if problem:
            raise HttpError(400, problem)
    req.api_version = version
    found = router.match(req.method, path.rstrip("/") or "/")
    if found is None:
        raise HttpError(404, "page not found")
    handler, params = found
    req.params = params
    try:
        return await handler(app, req)
    except eerr.NotModified:
        return json_response(None, 304)
    except HttpError:
        raise
    except eerr.EngineError as e:
        raise HttpError(status_for(e), str(e)) from None
    except Exception as e:
        mapped = _map_foreign(e)
        if mapped is not None:
            raise mapped from None
        log.exception("%s %s failed", req.method, req.path)
        raise HttpError(500, str(e) or type(e).__name__) from None


def _map_foreign(e: Exception) -> HttpError | None:
    """Typed errors of other packages (store, specgen), mapped by their class names."""
    name = type(e).__name__
    for cls in type(e).__mro__:
        n = cls.__name__
        if n.endswith("NotFound") or n == "ImageUnknown":
            return HttpError(404, str(e))
        if n.endswith("InUse") or n.endswith("Conflict"):
            return HttpError(409, str(e))
        if n.startswith("Invalid") or n in ("SpecError", "LogError", "InvalidReference"):
            return HttpError(400, str(e))
    if name.endswith("Error") and type(e).__module__.startswith("dockyard."):
        return HttpError(500, str(e))
    return None
