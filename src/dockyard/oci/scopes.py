"""Scopes and auth challenges of Docker's registry token specification (pure, stdlib only).

One model for both ends: the registry client (``dockyard.distribution.auth``) reads the
``WWW-Authenticate`` challenges a registry sends and asks a token server for scopes; the
hub (``dockyard.hub``) parses the scopes a client asks for and writes the challenges.

A scope is ``type:name:actions``, e.g. ``repository:alice/web:pull,push`` or
``registry:catalog:*``; the type may carry a resource class, ``repository(plugin)``. A
challenge is an RFC 7235 auth-scheme followed by ``name=value`` auth-params whose values
are tokens or quoted strings: ``Bearer realm="https://h/token",service="h"``.

Where the ends differ it is a keyword, not a second copy: ``strict=True`` is the server's
reading (the grammar is enforced, the resource class dropped, malformed challenges
refused); the default is the client's forgiving one, which keeps whatever a registry
wrote so that it can be asked for again exactly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# The order actions are written in. The client's token cache key is this text, so it must
# not change; actions outside the list follow, alphabetically.
ACTION_ORDER = ("pull", "push", "delete", "*")
_RANK = {a: i for i, a in enumerate(ACTION_ORDER)}

_RESOURCE_TYPE = re.compile(r"^[a-z0-9]+(?:\([a-z0-9]+\))?$")
# The spec says /[a-z]*/, but `*` is what registry:catalog and "everything" are asked with.
_ACTION = re.compile(r"^[a-z*]+$")


class ScopeError(ValueError):
    """A scope string that is not ``type:name:actions``."""


class ChallengeError(ValueError):
    """A ``WWW-Authenticate`` value a strict reading refuses."""


# --- scopes ------------------------------------------------------------------------------


def order_actions(actions: Iterable[str]) -> list[str]:
    return sorted(set(actions), key=lambda a: (_RANK.get(a, len(_RANK)), a))


@dataclass(frozen=True)
class Scope:
    """One ``type:name:actions`` resource scope, e.g. ``repository:alice/web:pull,push``."""

    type: str
    name: str
    actions: frozenset[str]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(order_actions(self.actions))}"

    def as_claim(self) -> dict[str, object]:
        """The entry of a token's ``access`` claim (actions alphabetical, as issued so far)."""
        return {"type": self.type, "name": self.name, "actions": sorted(self.actions)}


def repository_scope(name: str, *actions: str) -> Scope:
    return Scope("repository", name, frozenset(actions or ("pull",)))


def parse_scope(text: str, *, strict: bool = False) -> Scope:
    """``type:name:actions``. The name may hold colons (``host:5000/a/b``): the type is the
    first field and the actions the last.

    Strict (a registry reading a request): the type must be ``[a-z0-9]+`` with an optional
    ``(class)``, which is dropped, and each action ``[a-z*]+``. Otherwise (a client reading
    a challenge) any non-empty type and name are kept as written.
    """
    typ, sep, rest = text.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not typ or not name:
        raise ScopeError(f"invalid scope: {text!r}")
    acts = frozenset(a for a in actions.split(",") if a)
    if strict:
        if not _RESOURCE_TYPE.match(typ):
            raise ScopeError(f"invalid scope resource type: {text!r}")
        if any(not _ACTION.match(a) for a in acts):
            raise ScopeError(f"invalid scope actions: {text!r}")
        typ = typ.split("(", 1)[0]
    return Scope(typ, name, acts)


def parse_scopes(*values: str, strict: bool = False) -> list[Scope]:
    """Every scope in ``values``; one value may hold several separated by spaces (a
    challenge's ``scope`` parameter, or one ``scope`` query value). Not merged."""
    return [parse_scope(p, strict=strict) for v in values for p in v.split()]


def merge_scopes(*groups: Iterable[Scope], sort: bool = True) -> tuple[Scope, ...]:
    """The union of actions per (type, name): sorted by (type, name), or in the order first
    seen with ``sort=False``."""
    merged: dict[tuple[str, str], set[str]] = {}
    for group in groups:
        for s in group:
            merged.setdefault((s.type, s.name), set()).update(s.actions)
    keys = sorted(merged) if sort else list(merged)
    return tuple(Scope(t, n, frozenset(merged[t, n])) for t, n in keys)


def scope_key(scopes: Iterable[Scope]) -> str:
    """One text for a set of scopes however they were listed: merged, sorted, spaced."""
    return " ".join(str(s) for s in merge_scopes(scopes))


# --- challenges --------------------------------------------------------------------------


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lower case: "bearer", "basic", ...
    params: Mapping[str, str] = field(default_factory=dict)  # names lower case

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")

    @property
    def service(self) -> str:
        return self.params.get("service", "")

    @property
    def scope(self) -> str:
        return self.params.get("scope", "")

    @property
    def error(self) -> str:
        return self.params.get("error", "")


def _skip_space(s: str, i: int) -> int:
    while i < len(s) and s[i] in " \t":
        i += 1
    return i


def _token(s: str, i: int, stops: str = ' \t,="') -> tuple[str, int]:
    j = i
    while j < len(s) and s[j] not in stops:
        j += 1
    return s[i:j], j


def _quoted(s: str, i: int) -> tuple[str, int, bool]:
    """A quoted-string from just after its opening quote; a backslash escapes one char.
    Returns the text, the index after it, and whether the closing quote was found."""
    out = []
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            out.append(s[i + 1])
            i += 2
            continue
        if c == '"':
            return "".join(out), i + 1, True
        out.append(c)
        i += 1
    return "".join(out), i, False


def parse_challenges(header: str, *, strict: bool = False) -> list[Challenge]:
    """Every challenge in one ``WWW-Authenticate`` value, in order.

    Forgiving by default, as a client must be with what registries send: an unterminated
    quoted string is taken as it stands and unparseable text ends the list. ``strict``
    raises ChallengeError for those instead, and for a parameter with an empty value.
    """
    out: list[Challenge] = []
    s = header
    i = 0
    while i < len(s):
        i = _skip_space(s, i)
        while i < len(s) and s[i] == ",":  # RFC 7235 lists may hold empty elements
            i = _skip_space(s, i + 1)
        scheme, i = _token(s, i)
        if not scheme:
            if strict and i < len(s):
                raise ChallengeError(f"invalid challenge at {s[i:]!r}: {header!r}")
            break
        params: dict[str, str] = {}
        while True:
            i = _skip_space(s, i)
            start = i
            key, j = _token(s, i)
            j = _skip_space(s, j)
            if not key or j >= len(s) or s[j] != "=":
                i = start  # not a parameter: the next challenge begins here
                break
            j = _skip_space(s, j + 1)
            if j < len(s) and s[j] == '"':
                value, j, closed = _quoted(s, j + 1)
                if strict and not closed:
                    raise ChallengeError(f"unterminated quoted string: {header!r}")
            else:
                # Registries write unquoted URLs (`realm=http://h/t?a=b`): up to a comma.
                value, j = _token(s, j, " \t,")
                if strict and not value:
                    raise ChallengeError(f"challenge parameter {key!r} has no value: {header!r}")
            params[key.lower()] = value
            j = _skip_space(s, j)
            if j < len(s) and s[j] == ",":
                j += 1
            i = j
        out.append(Challenge(scheme.lower(), params))
    return out


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_challenge(scheme: str, params: Mapping[str, str]) -> str:
    """``Scheme name="value",...``: every value quoted, which is always allowed."""
    text = ",".join(f"{k}={_quote(v)}" for k, v in params.items())
    return f"{scheme} {text}" if text else scheme


def bearer_challenge(
    realm: str,
    service: str,
    scope: Scope | None = None,
    error: str | None = None,
) -> str:
    """The ``WWW-Authenticate`` value a registry sends: where to get a token, for what."""
    params = {"realm": realm, "service": service}
    if scope is not None:
        params["scope"] = str(scope)
    if error:
        params["error"] = error
    return format_challenge("Bearer", params)
