"""A small JWT signer and verifier with one fixed algorithm, HS256.

The algorithm and the key are the server's: a token's header is checked against them and
never used to choose them, so `alg: none` or an attacker's key cannot get through.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from dockyard.hub.errors import TokenError

ALGORITHM = "HS256"
LEEWAY = 60  # seconds of clock skew tolerated on exp/nbf/iat
MAX_TOKEN = 16 * 1024


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not text or any(c not in _B64_ALPHABET for c in text):
        raise TokenError("malformed token")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError as e:
        raise TokenError("malformed token") from e


_B64_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


def encode(claims: dict[str, Any], key: bytes) -> str:
    header = {"typ": "JWT", "alg": ALGORITHM, "kid": key_id(key)}
    signing_input = (
        _b64encode(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64encode(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    )
    sig = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + _b64encode(sig)


def decode(
    token: str,
    key: bytes,
    *,
    audience: str,
    issuer: str,
    now: float | None = None,
) -> dict[str, Any]:
    """Verify signature, algorithm and registered claims; return the claims."""
    if len(token) > MAX_TOKEN:
        raise TokenError("token too large")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("malformed token")
    header_b64, claims_b64, sig_b64 = parts
    try:
        header = json.loads(_b64decode(header_b64))
    except ValueError as e:
        raise TokenError("malformed token header") from e
    if not isinstance(header, dict) or header.get("alg") != ALGORITHM:
        raise TokenError("token algorithm not accepted")
    expected = hmac.new(key, f"{header_b64}.{claims_b64}".encode("ascii"), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, _b64decode(sig_b64)):
        raise TokenError("token signature invalid")
    try:
        claims = json.loads(_b64decode(claims_b64))
    except ValueError as e:
        raise TokenError("malformed token claims") from e
    if not isinstance(claims, dict):
        raise TokenError("malformed token claims")
    check_claims(claims, audience=audience, issuer=issuer, now=now)
    return claims


def check_claims(
    claims: dict[str, Any], *, audience: str, issuer: str, now: float | None = None
) -> None:
    t = time.time() if now is None else now
    if claims.get("iss") != issuer:
        raise TokenError("token issuer not accepted")
    aud = claims.get("aud")
    auds = aud if isinstance(aud, list) else [aud]
    if audience not in auds:
        raise TokenError("token audience not accepted")
    exp, nbf, iat = claims.get("exp"), claims.get("nbf"), claims.get("iat")
    for name, value in (("exp", exp), ("nbf", nbf), ("iat", iat)):
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise TokenError(f"token has no valid {name} claim")
    assert isinstance(exp, int | float) and isinstance(nbf, int | float)
    assert isinstance(iat, int | float)
    if exp <= t - LEEWAY:
        raise TokenError("token expired")
    if nbf > t + LEEWAY:
        raise TokenError("token not yet valid")
    if iat > t + LEEWAY:
        raise TokenError("token issued in the future")
