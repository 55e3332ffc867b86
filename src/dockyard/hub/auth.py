"""The token authority: issues signed bearer tokens and checks them on every request."""

from __future__ import annotations

import secrets
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dockyard.hub import jwt
from dockyard.hub.access import Principal, allowed_actions
from dockyard.hub.accounts import Login, get_account, principal, revalidate
from dockyard.hub.errors import InvalidName, RegistryError, TokenError
from dockyard.hub.names import canonical
from dockyard.hub.registry import Registry
from dockyard.oci.scopes import Scope, bearer_challenge

REFRESH_TTL = 30 * 24 * 3600
_CACHE_MAX = 10_000


def load_or_create_key(path: Path) -> bytes:
    try:
        key = path.read_bytes()
        if len(key) >= 32:
            return key
    except FileNotFoundError:
        pass
    key = secrets.token_bytes(32)
    tmp = path.with_suffix(".tmp")
    fd = tmp.open("wb")
    try:
        tmp.chmod(0o600)
        fd.write(key)
    finally:
        fd.close()
    tmp.replace(path)
    return key


@dataclass(frozen=True)
class Grant:
    subject: str  # account name, or "" when anonymous
    access: dict[str, frozenset[str]]  # canonical repo -> actions
    catalog: bool

    def actions(self, repo: str) -> frozenset[str]:
        return self.access.get(repo, frozenset())


class Authority:
    def __init__(
        self, key: bytes, service: str, issuer: str, ttl: int, conn: sqlite3.Connection
    ) -> None:
        self.key = key
        self.service = service
        self.issuer = issuer
        self.ttl = ttl
        self.conn = conn
        self._cache: dict[str, tuple[float, Grant]] = {}

    # --- issuing -------------------------------------------------------------------

    def grant_scopes(
        self, who: Principal | None, scopes: list[Scope], registry: Registry
    ) -> list[Scope]:
        """The intersection of what was asked and what `who` may do."""
        out = []
        for s in scopes:
            if s.type == "repository":
                try:
                    name = canonical(s.name)
                except InvalidName:
                    continue
                allowed = allowed_actions(who, registry.facts(name))
                wanted = s.actions
                if "*" in wanted and "*" in allowed:
                    wanted = wanted | {"pull", "push", "delete"}
                got = wanted & allowed
                out.append(Scope(s.type, s.name, frozenset(got)))
            elif s.type == "registry" and s.name == "catalog":
                # Everyone may list; the listing only shows what the caller may see.
                out.append(Scope(s.type, s.name, s.actions & {"*"}))
        return out

    def issue(self, subject: str, scopes: list[Scope], now: float | None = None) -> dict[str, Any]:
        t = int(time.time() if now is None else now)
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": t + self.ttl,
            "nbf": t - 1,
            "iat": t,
            "jti": secrets.token_urlsafe(16),
            "access": [s.as_claim() for s in scopes],
        }
        token = jwt.encode(claims, self.key)
        issued = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"token": token, "access_token": token, "expires_in": self.ttl, "issued_at": issued}

    def refresh_token(self, subject: str, credential: str) -> str:
        t = int(time.time())
        return jwt.encode(
            {
                "iss": self.issuer,
                "sub": subject,
                "aud": self.service + ":refresh",
                "exp": t + REFRESH_TTL,
                "nbf": t - 1,
                "iat": t,
                "cred": credential,
                "jti": secrets.token_urlsafe(16),
            },
            self.key,
        )

    def check_refresh(self, token: str) -> Login:
        claims = jwt.decode(token, self.key, audience=self.service + ":refresh", issuer=self.issuer)
        sub, cred = claims.get("sub"), claims.get("cred")
        if not isinstance(sub, str) or not isinstance(cred, str):
            raise TokenError("refresh token malformed")
        login = revalidate(self.conn, sub, cred)
        if login is None:
            raise TokenError("refresh token no longer valid (password changed or token revoked)")
        return login

    # --- checking ------------------------------------------------------------------

    def verify(self, token: str) -> Grant:
        t = time.time()
        hit = self._cache.get(token)
        if hit is not None and hit[0] > t:
            return hit[1]
        claims = jwt.decode(token, self.key, audience=self.service, issuer=self.issuer, now=t)
        access: dict[str, set[str]] = {}
        catalog = False
        raw = claims.get("access", [])
        if not isinstance(raw, list):
            raise TokenError("token access claim malformed")
        for entry in raw:
            if not isinstance(entry, dict):
                raise TokenError("token access claim malformed")
            typ, name, acts = entry.get("type"), entry.get("name"), entry.get("actions")
            if not isinstance(name, str) or not isinstance(acts, list):
                raise TokenError("token access claim malformed")
            if typ == "repository":
                try:
                    access.setdefault(canonical(name), set()).update(
                        a for a in acts if isinstance(a, str)
                    )
                except InvalidName:
                    continue
            elif typ == "registry" and name == "catalog" and "*" in acts:
                catalog = True
        sub = claims.get("sub", "")
        grant = Grant(
            sub if isinstance(sub, str) else "",
            {k: frozenset(v) for k, v in access.items()},
            catalog,
        )
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[token] = (min(float(claims["exp"]), t + 60), grant)
        return grant

    def principal_of(self, grant: Grant) -> Principal | None:
        if not grant.subject:
            return None
        acct = get_account(self.conn, grant.subject)
        return principal(self.conn, acct) if acct else None


def challenge_error(
    realm: str,
    service: str,
    scope: Scope | None,
    *,
    insufficient: bool,
    message: str | None = None,
    status: int = 401,
) -> RegistryError:
    challenge = bearer_challenge(
        realm, service, scope, "insufficient_scope" if insufficient else None
    )
    return RegistryError(
        "DENIED" if insufficient else "UNAUTHORIZED",
        message,
        detail=[scope.as_claim()] if scope else None,
        status=status,
        headers={"WWW-Authenticate": challenge},
    )
