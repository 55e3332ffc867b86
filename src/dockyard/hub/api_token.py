"""The token endpoint (`/token`): Docker's token spec (GET) and the OAuth2 form (POST)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import time

from aiohttp import web

from dockyard.hub import passwords
from dockyard.hub.accounts import Login, finish_login, login_record, principal, revalidate
from dockyard.hub.errors import RegistryError, TokenError
from dockyard.hub.scopes import parse_scopes
from dockyard.hub.state import Hub

_RECENT_TTL = 60.0
_RECENT_MAX = 10_000


def client_key(request: web.Request) -> str:
    return request.remote or "unknown"


def _error(code: str, message: str, status: int, **headers: str) -> web.Response:
    err = RegistryError(code, message, status=status)
    return web.json_response(err.body(), status=status, headers=headers)


async def login(hub: Hub, request: web.Request, user: str, secret: str) -> Login:
    """Check credentials under the login rate limit; raises RegistryError when refused."""
    t = time.monotonic()
    keys = (f"ip:{client_key(request)}", f"user:{user}")
    wait = max(hub.limiter.retry_after(k, t) for k in keys)
    if wait:
        raise RegistryError(
            "TOOMANYREQUESTS",
            "too many failed logins; try later",
            headers={"Retry-After": str(wait)},
        )
    # Clients ask for a token per scope, each with the same Basic credentials: a login
    # seen lately skips scrypt, but is re-checked against the db (password changed,
    # token revoked) every time. Only right credentials are remembered, so wrong
    # guesses always pay the full price.
    key = hmac.new(hub.authority.key, f"{user}\0{secret}".encode(), hashlib.sha256).digest()
    hit = hub.recent_logins.get(key)
    if hit is not None and hit[0] > t:
        again = revalidate(hub.conn, user, hit[1].credential)
        if again is not None:
            return again
    acct, stored = login_record(hub.conn, user)
    ok = await asyncio.get_running_loop().run_in_executor(
        None, passwords.verify_password, secret, stored
    )
    result = finish_login(hub.conn, acct, stored, secret, ok)
    if result is None:
        for k in keys:
            hub.limiter.spend(k, t)
        raise RegistryError("UNAUTHORIZED", "incorrect username or password")
    if len(hub.recent_logins) >= _RECENT_MAX:
        hub.recent_logins.clear()
    hub.recent_logins[key] = (t + _RECENT_TTL, result)
    return result


def basic_credentials(request: web.Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, secret = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError) as e:
        raise RegistryError("UNAUTHORIZED", "malformed Basic credentials") from e
    if not sep:
        raise RegistryError("UNAUTHORIZED", "malformed Basic credentials")
    return user, secret


async def _issue(hub: Hub, who: Login | None, scope_values: list[str]) -> dict[str, object]:
    try:
        scopes = parse_scopes(scope_values)
    except TokenError as e:
        raise RegistryError("UNSUPPORTED", str(e), status=400) from e
    p = principal(hub.conn, who.account, who.read_only) if who else None
    granted = hub.authority.grant_scopes(p, scopes, hub.registry)
    return hub.authority.issue(who.account.name if who else "", granted)


def _refused(err: RegistryError) -> web.Response:
    headers = dict(err.headers)
    if err.code == "UNAUTHORIZED":
        headers["WWW-Authenticate"] = 'Basic realm="dockyard-hub"'
    return web.json_response(err.body(), status=err.status, headers=headers)


def _refresh_for(hub: Hub, who: Login) -> str:
    return hub.authority.refresh_token(who.account.name, who.credential)


async def get_token(request: web.Request) -> web.Response:
    hub: Hub = request.app["hub"]
    try:
        creds = basic_credentials(request)
        who = await login(hub, request, *creds) if creds is not None else None
        body = await _issue(hub, who, request.query.getall("scope", []))
        if who is not None and request.query.get("offline_token") == "true":
            body["refresh_token"] = _refresh_for(hub, who)
    except RegistryError as err:
        return _refused(err)
    return web.json_response(body)


async def post_token(request: web.Request) -> web.Response:
    """OAuth2 password and refresh-token grants, as `docker login` may use them."""
    hub: Hub = request.app["hub"]
    form = await request.post()
    grant_type = str(form.get("grant_type", ""))
    scopes = [str(v) for v in form.getall("scope", [])]
    try:
        if grant_type == "password":
            who = await login(
                hub, request, str(form.get("username", "")), str(form.get("password", ""))
            )
        elif grant_type == "refresh_token":
            try:
                who = hub.authority.check_refresh(str(form.get("refresh_token", "")))
            except TokenError as e:
                raise RegistryError("UNAUTHORIZED", str(e)) from e
        else:
            raise RegistryError(
                "UNSUPPORTED", f"unsupported grant_type: {grant_type!r}", status=400
            )
        body = await _issue(hub, who, scopes)
        body["scope"] = " ".join(scopes)
        if form.get("access_type") == "offline" or grant_type == "refresh_token":
            body["refresh_token"] = _refresh_for(hub, who)
    except RegistryError as err:
        return _refused(err)
    return web.json_response(body)
