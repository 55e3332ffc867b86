"""Recognising distribution API paths (pure): which endpoint, which repository."""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = r"(?P<name>[^?#]+?)"
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("base", re.compile(r"^/v2/?$")),
    ("catalog", re.compile(r"^/v2/_catalog$")),
    ("tags", re.compile(rf"^/v2/{_NAME}/tags/list$")),
    ("manifest", re.compile(rf"^/v2/{_NAME}/manifests/(?P<ref>[^/]+)$")),
    ("upload_start", re.compile(rf"^/v2/{_NAME}/blobs/uploads/?$")),
    ("upload", re.compile(rf"^/v2/{_NAME}/blobs/uploads/(?P<ref>[^/]+)$")),
    ("blob", re.compile(rf"^/v2/{_NAME}/blobs/(?P<ref>[^/]+)$")),
    ("referrers", re.compile(rf"^/v2/{_NAME}/referrers/(?P<ref>[^/]+)$")),
]


@dataclass(frozen=True)
class Route:
    kind: str
    name: str = ""
    ref: str = ""


def match(path: str) -> Route | None:
    for kind, pattern in _PATTERNS:
        m = pattern.match(path)
        if m:
            groups = m.groupdict()
            return Route(kind, groups.get("name") or "", groups.get("ref") or "")
    return None


def action_for(kind: str, method: str) -> str:
    """The token action an endpoint needs (the spec's pull/push/delete split)."""
    if method in ("GET", "HEAD"):
        return "pull"
    if method == "DELETE" and kind in ("manifest", "blob"):
        return "delete"
    return "push"
