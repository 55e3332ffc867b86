"""Registry authentication as pure logic: challenges, scopes, tokens, and the 401 flow.

Nothing here does I/O. ``auth_flow`` is a generator in the style of httpx's auth flows: it
yields the HTTP requests to send and receives their responses, so the same logic drives the
real client and the unit tests (which answer with scripted responses).

Docker's token spec: a ``401`` carries ``WWW-Authenticate: Bearer realm="…",service="…",
scope="repository:NAME:pull,push"``; the client asks ``GET realm?service=…&scope=…`` (with
Basic credentials when it has some), receives ``{"token": …, "expires_in": …}`` and retries
with ``Authorization: Bearer <token>``. A ``Basic`` challenge means: retry with Basic.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from dockyard.distribution.errors import Denied, InvalidResponse, Unauthorized

# The scope and challenge model is shared with the hub; these names are part of this
# module's interface, so they are re-exported explicitly.
from dockyard.oci.scopes import Challenge as Challenge
from dockyard.oci.scopes import Scope as Scope
from dockyard.oci.scopes import merge_scopes as merge_scopes
from dockyard.oci.scopes import parse_challenges as parse_challenges
from dockyard.oci.scopes import parse_scope as parse_scope
from dockyard.oci.scopes import parse_scopes as parse_scopes
from dockyard.oci.scopes import repository_scope as repository_scope
from dockyard.oci.scopes import scope_key as scope_key

# Docker's default when the token response gives no expiry.
DEFAULT_TOKEN_LIFETIME = 60
# Refresh a little early: a token that expires in flight costs a failed request.
EXPIRY_MARGIN = 5.0
MAX_TOKEN_RESPONSE = 1 << 20


# --- challenges --------------------------------------------------------------------------


def pick_challenge(headers: Iterable[str]) -> Challenge | None:
    """Bearer is preferred over Basic, as Docker does."""
    found = [c for h in headers for c in parse_challenges(h)]
    for scheme in ("bearer", "basic"):
        for c in found:
            if c.scheme == scheme:
                return c
    return None


# --- credentials and tokens --------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = ""
    identity_token: str = ""  # an OAuth2 refresh token (Docker's IdentityToken)

    @property
    def empty(self) -> bool:
        return not (self.username or self.password or self.identity_token)


def basic_header(creds: Credentials) -> str:
    raw = f"{creds.username}:{creds.password}".encode()
    return "Basic " + base64.b64encode(raw).decode()


@dataclass(frozen=True)
class Token:
    value: str
    expires_at: float

    def valid(self, now: float) -> bool:
        return now < self.expires_at - EXPIRY_MARGIN


class TokenCache:
    """Bearer tokens per (registry, scope set), dropped when they expire.

    A token for ``pull`` is not reused for ``pull,push``: the key is the exact merged scope,
    as a registry grants the intersection of what was asked and what is allowed.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._tokens: dict[tuple[str, str], Token] = {}
        self.clock = clock
        # Registries that answered with a Basic challenge: later requests send Basic at once.
        self.basic: set[str] = set()

    def get(self, registry: str, scopes: Iterable[Scope]) -> Token | None:
        key = (registry, scope_key(scopes))
        tok = self._tokens.get(key)
        if tok is None:
            return None
        if not tok.valid(self.clock()):
            del self._tokens[key]
            return None
        return tok

    def put(self, registry: str, scopes: Iterable[Scope], token: Token) -> None:
        self._tokens[(registry, scope_key(scopes))] = token

    def forget(self, registry: str, scopes: Iterable[Scope]) -> None:
        self._tokens.pop((registry, scope_key(scopes)), None)

    def __len__(self) -> int:
        return len(self._tokens)


def parse_token_response(body: bytes, now: float) -> Token:
    """``{"token"|"access_token": …, "expires_in": s, "issued_at": RFC3339}`` → Token."""
    if len(body) > MAX_TOKEN_RESPONSE:
        raise InvalidResponse("token response too large")
    try:
        data = json.loads(body)
    except ValueError:
        raise InvalidResponse("token endpoint did not return JSON") from None
    if not isinstance(data, dict):
        raise InvalidResponse("token endpoint did not return a JSON object")
    value = data.get("token") or data.get("access_token")
    if not isinstance(value, str) or not value:
        raise InvalidResponse("token endpoint returned no token")
    expires_in = data.get("expires_in")
    if not isinstance(expires_in, int) or isinstance(expires_in, bool) or expires_in <= 0:
        expires_in = DEFAULT_TOKEN_LIFETIME
    # issued_at is the server's clock; ours measures from now, which never extends a token.
    return Token(value, now + expires_in)


# --- the flow ----------------------------------------------------------------------------


@dataclass
class HttpRequest:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    # Only for token requests the flow builds itself; data requests carry their own bodies.
    body: bytes | None = None
    is_token_request: bool = False


@dataclass
class HttpResponse:
    status: int
    headers: Mapping[str, str]  # lower-case names; WWW-Authenticate values joined by "\n"
    body: bytes = b""  # read only for token requests

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


def token_request(
    challenge: Challenge, scopes: Iterable[Scope], creds: Credentials | None
) -> HttpRequest:
    """The GET a Bearer challenge asks for (Docker's token spec)."""
    realm = challenge.realm
    if not realm or urlsplit(realm).scheme not in ("http", "https"):
        raise InvalidResponse(f"registry sent a Bearer challenge with a bad realm {realm!r}")
    query: list[tuple[str, str]] = []
    if challenge.service:
        query.append(("service", challenge.service))
    for s in merge_scopes(scopes):
        query.append(("scope", str(s)))
    headers = {}
    if creds is not None and not creds.empty:
        if creds.username:
            query.append(("account", creds.username))
        headers["Authorization"] = basic_header(creds)
    sep = "&" if "?" in realm else "?"
    url = realm + (sep + urlencode(query) if query else "")
    return HttpRequest("GET", url, headers, is_token_request=True)


def _error_detail(body: bytes) -> str:
    """The first message of a registry's ``{"errors": [...]}`` body, if any."""
    try:
        data = json.loads(body[:65536])
        errors = data.get("errors") if isinstance(data, dict) else None
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            code = str(errors[0].get("code", "")).lower()
            msg = str(errors[0].get("message", ""))
            return f"{code}: {msg}" if code and msg else code or msg
        if isinstance(data, dict) and isinstance(data.get("details"), str):
            return str(data["details"])
    except (ValueError, AttributeError):
        pass
    return ""


def auth_flow(
    request: HttpRequest,
    registry: str,
    scopes: Iterable[Scope],
    creds: Credentials | None,
    cache: TokenCache,
) -> Generator[HttpRequest, HttpResponse, HttpResponse]:
    """Send ``request``, answering at most one challenge; returns the final response.

    The caller sends each yielded request and ``send``s back its response. A 401 after a
    fresh token or credentials means they were refused: Unauthorized (no credentials or
    wrong ones). A token endpoint that refuses the credentials raises Unauthorized too.
    """
    wanted = merge_scopes(scopes)
    cached = cache.get(registry, wanted)
    if cached is not None:
        request.headers["Authorization"] = f"Bearer {cached.value}"
    elif creds is not None and not creds.empty and registry in cache.basic:
        request.headers["Authorization"] = basic_header(creds)
    response = yield request
    if response.status != 401:
        return response
    if cached is not None:
        cache.forget(registry, wanted)  # revoked or expired early: ask again once
    challenge = pick_challenge(response.header("www-authenticate").split("\n"))
    if challenge is None:
        raise Unauthorized(f"{registry}: authentication required, and no usable challenge")
    if challenge.scheme == "basic":
        if creds is None or creds.empty:
            raise Unauthorized(f"{registry}: authentication required")
        cache.basic.add(registry)
        request.headers["Authorization"] = basic_header(creds)
        response = yield request
        if response.status == 401:
            raise Unauthorized(f"{registry}: unauthorized: incorrect username or password")
        return response
    asked = merge_scopes(wanted, parse_scopes(challenge.scope) if challenge.scope else ())
    token_response = yield token_request(challenge, asked, creds)
    if token_response.status in (401, 403):
        detail = _error_detail(token_response.body) or "incorrect username or password"
        raise Unauthorized(f"{registry}: unauthorized: {detail}")
    if token_response.status != 200:
        raise InvalidResponse(f"{registry}: token endpoint answered {token_response.status}")
    token = parse_token_response(token_response.body, cache.clock())
    cache.put(registry, wanted, token)
    request.headers["Authorization"] = f"Bearer {token.value}"
    response = yield request
    if response.status == 401:
        # The token was granted but not for this: the registry gave fewer actions than asked.
        cache.forget(registry, wanted)
        what = ", ".join(str(s) for s in wanted) or "this registry"
        if creds is None or creds.empty:
            raise Unauthorized(f"{registry}: authentication required for {what}")
        raise Denied(f"{registry}: denied: requested access to the resource is denied ({what})")
    return response


def login_flow(
    ping_url: str, registry: str, creds: Credentials, cache: TokenCache
) -> Generator[HttpRequest, HttpResponse, HttpResponse]:
    """Check credentials the way ``docker login`` does: ping ``/v2/`` and answer its challenge
    with no scope; a registry that does not ask for auth accepts anyone."""
    request = HttpRequest("GET", ping_url)
    response = yield request
    if response.status != 401:
        return response
    challenge = pick_challenge(response.header("www-authenticate").split("\n"))
    if challenge is None:
        raise Unauthorized(f"{registry}: authentication required, and no usable challenge")
    if challenge.scheme == "basic":
        request.headers["Authorization"] = basic_header(creds)
        response = yield request
        if response.status == 401:
            raise Unauthorized(f"{registry}: unauthorized: incorrect username or password")
        cache.basic.add(registry)
        return response
    token_response = yield token_request(challenge, (), creds)
    if token_response.status in (401, 403):
        detail = _error_detail(token_response.body) or "incorrect username or password"
        raise Unauthorized(f"{registry}: unauthorized: {detail}")
    if token_response.status != 200:
        raise InvalidResponse(f"{registry}: token endpoint answered {token_response.status}")
    parse_token_response(token_response.body, cache.clock())
    return token_response
