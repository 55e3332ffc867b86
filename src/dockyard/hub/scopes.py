"""Scopes and challenges of Docker's registry token specification (pure)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from dockyard.hub.errors import TokenError

KNOWN_ACTIONS = ("pull", "push", "delete", "*")
_RESOURCE_TYPE = re.compile(r"^[a-z0-9]+(?:\([a-z0-9]+\))?$")
_ACTION = re.compile(r"^[a-z*]+$")


@dataclass(frozen=True)
class Scope:
    """One `type:name:actions` request, e.g. `repository:alice/web:pull,push`."""

    type: str
    name: str
    actions: frozenset[str]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(sorted(self.actions))}"

    def as_claim(self) -> dict[str, object]:
        return {"type": self.type, "name": self.name, "actions": sorted(self.actions)}


def parse_scope(text: str) -> Scope:
    # The name may itself hold a colon (a registry host with a port), so the resource
    # type is the first field and the actions the last.
    first, sep, rest = text.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not first or not name:
        raise TokenError(f"invalid scope: {text!r}")
    if not _RESOURCE_TYPE.match(first):
        raise TokenError(f"invalid scope resource type: {text!r}")
    acts = frozenset(a for a in actions.split(",") if a)
    if any(not _ACTION.match(a) for a in acts):
        raise TokenError(f"invalid scope actions: {text!r}")
    # `repository(plugin)` style class suffixes are accepted and ignored.
    return Scope(first.split("(", 1)[0], name, acts)


def parse_scopes(values: Iterable[str]) -> list[Scope]:
    """Parse `scope` query values; several may come space-separated in one value."""
    merged: dict[tuple[str, str], set[str]] = {}
    for value in values:
        for part in value.split():
            scope = parse_scope(part)
            merged.setdefault((scope.type, scope.name), set()).update(scope.actions)
    return [Scope(t, n, frozenset(a)) for (t, n), a in merged.items()]


def bearer_challenge(
    realm: str,
    service: str,
    scope: Scope | None = None,
    error: str | None = None,
) -> str:
    parts = [f'realm="{realm}"', f'service="{service}"']
    if scope is not None:
        parts.append(f'scope="{scope}"')
    if error:
        parts.append(f'error="{error}"')
    return "Bearer " + ",".join(parts)


_PARAM = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))\s*,?')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Split `Bearer realm="...",service="..."` into its scheme and parameters."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        m = _PARAM.match(rest, pos)
        if not m:
            raise TokenError(f"invalid challenge: {header!r}")
        value = m.group(2) if m.group(2) is not None else m.group(3)
        params[m.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
        pos = m.end()
    return scheme.lower(), params
