"""Who is asking: the web session cookie, or a bearer token on API calls."""

from __future__ import annotations

import hmac
import secrets

from aiohttp import web

from dockyard.hub.access import Principal
from dockyard.hub.accounts import Account, principal, session_account
from dockyard.hub.errors import TokenError
from dockyard.hub.state import Hub

SESSION_COOKIE = "dy_session"
PRE_CSRF_COOKIE = "dy_csrf"


def _hub(request: web.Request) -> Hub:
    hub: Hub = request.app["hub"]
    return hub


def current_session(request: web.Request) -> tuple[Account, str] | None:
    """The logged-in account and its CSRF token (cached on the request)."""
    if "dy_session" in request:
        cached: tuple[Account, str] | None = request["dy_session"]
        return cached
    sid = request.cookies.get(SESSION_COOKIE)
    found = session_account(_hub(request).conn, sid) if sid else None
    request["dy_session"] = found
    return found


def current_account(request: web.Request) -> Account | None:
    s = current_session(request)
    return s[0] if s else None


async def request_principal(request: web.Request) -> Principal | None:
    hub = _hub(request)
    acct = current_account(request)
    if acct is not None:
        return principal(hub.conn, acct)
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value:
        try:
            grant = hub.authority.verify(value.strip())
        except TokenError:
            return None
        return hub.authority.principal_of(grant)
    return None


def csrf_token(request: web.Request) -> str:
    """The token forms must echo: the session's, or a pre-login cookie's (double submit)."""
    s = current_session(request)
    if s is not None:
        return s[1]
    token = request.cookies.get(PRE_CSRF_COOKIE)
    if not token:
        token = request.get("dy_new_csrf") or secrets.token_urlsafe(24)
        request["dy_new_csrf"] = token
    return str(token)


def set_pre_csrf(request: web.Request, response: web.StreamResponse) -> None:
    token = request.get("dy_new_csrf")
    if token:
        response.set_cookie(
            PRE_CSRF_COOKIE,
            token,
            httponly=True,
            samesite="Strict",
            secure=request.secure,
            path="/",
        )


def check_csrf(request: web.Request, submitted: str) -> bool:
    s = current_session(request)
    expected = s[1] if s else request.cookies.get(PRE_CSRF_COOKIE, "")
    return bool(expected) and hmac.compare_digest(expected.encode(), submitted.encode())
