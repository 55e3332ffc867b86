"""The registry's strict reading of token scopes and challenges, raising TokenError.

The model itself is ``dockyard.oci.scopes``, shared with the registry client; this module
only picks its strict, server-side reading and turns its errors into the hub's own.
"""

from __future__ import annotations

from collections.abc import Iterable

from dockyard.hub.errors import TokenError
from dockyard.oci import scopes
from dockyard.oci.scopes import Scope


def parse_scope(text: str) -> Scope:
    try:
        return scopes.parse_scope(text, strict=True)
    except scopes.ScopeError as e:
        raise TokenError(str(e)) from None


def parse_scopes(values: Iterable[str]) -> list[Scope]:
    """Parse `scope` query values (several may share one, space-separated), merging repeats
    of a resource in the order first asked for."""
    try:
        parsed = scopes.parse_scopes(*values, strict=True)
    except scopes.ScopeError as e:
        raise TokenError(str(e)) from None
    return list(scopes.merge_scopes(parsed, sort=False))


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Split `Bearer realm="...",service="..."`, which must be one challenge, into its
    scheme and parameters."""
    try:
        found = scopes.parse_challenges(header, strict=True)
    except scopes.ChallengeError as e:
        raise TokenError(str(e)) from None
    if len(found) != 1:
        raise TokenError(f"expected one challenge, found {len(found)}: {header!r}")
    return found[0].scheme, dict(found[0].params)
