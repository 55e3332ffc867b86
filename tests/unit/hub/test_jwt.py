from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest

from dockyard.hub import jwt
from dockyard.hub.errors import TokenError

KEY = b"k" * 32
NOW = 1_800_000_000.0


def claims(**over: object) -> dict[str, object]:
    c: dict[str, object] = {
        "iss": "dockyard-hub",
        "aud": "dockyard-hub",
        "sub": "alice",
        "exp": int(NOW) + 300,
        "nbf": int(NOW) - 1,
        "iat": int(NOW),
        "access": [{"type": "repository", "name": "alice/web", "actions": ["pull"]}],
    }
    c.update(over)
    return c


def decode(token: str, **kw: object) -> dict[str, object]:
    args: dict[str, object] = {"audience": "dockyard-hub", "issuer": "dockyard-hub", "now": NOW}
    args.update(kw)
    return jwt.decode(token, KEY, **args)  # type: ignore[arg-type]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_round_trip() -> None:
    token = jwt.encode(claims(), KEY)
    assert decode(token)["sub"] == "alice"


def test_forged_signature_is_rejected() -> None:
    token = jwt.encode(claims(), KEY)
    head, body, _ = token.split(".")
    forged = jwt.encode(claims(sub="mallory"), b"x" * 32).split(".")[2]
    with pytest.raises(TokenError, match="signature"):
        decode(f"{head}.{body}.{forged}")


def test_tampered_claims_are_rejected() -> None:
    head, _, sig = jwt.encode(claims(), KEY).split(".")
    body = b64(json.dumps(claims(sub="root")).encode())
    with pytest.raises(TokenError, match="signature"):
        decode(f"{head}.{body}.{sig}")


def test_alg_none_is_rejected() -> None:
    head = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims()).encode())
    with pytest.raises(TokenError, match="algorithm"):
        decode(f"{head}.{body}.")


@pytest.mark.parametrize("alg", ["HS512", "RS256", "ES256", "hs256", None])
def test_other_algorithms_are_rejected_even_when_correctly_signed(alg: str | None) -> None:
    head = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = b64(json.dumps(claims()).encode())
    sig = b64(hmac.new(KEY, f"{head}.{body}".encode(), hashlib.sha256).digest())
    with pytest.raises(TokenError, match="algorithm"):
        decode(f"{head}.{body}.{sig}")


def test_key_in_header_is_ignored() -> None:
    # An attacker signs with its own key and names it in the header (jwk/kid tricks).
    evil = b"e" * 32
    head = b64(json.dumps({"alg": "HS256", "jwk": {"k": b64(evil)}, "kid": "evil"}).encode())
    body = b64(json.dumps(claims()).encode())
    sig = b64(hmac.new(evil, f"{head}.{body}".encode(), hashlib.sha256).digest())
    with pytest.raises(TokenError, match="signature"):
        decode(f"{head}.{body}.{sig}")


def test_wrong_audience() -> None:
    with pytest.raises(TokenError, match="audience"):
        decode(jwt.encode(claims(aud="other-registry"), KEY))


def test_audience_list_is_accepted_when_it_contains_us() -> None:
    assert decode(jwt.encode(claims(aud=["x", "dockyard-hub"]), KEY))["sub"] == "alice"


def test_wrong_issuer() -> None:
    with pytest.raises(TokenError, match="issuer"):
        decode(jwt.encode(claims(iss="someone-else"), KEY))


def test_expired() -> None:
    with pytest.raises(TokenError, match="expired"):
        decode(jwt.encode(claims(exp=int(NOW) - 3600), KEY))


def test_not_yet_valid() -> None:
    with pytest.raises(TokenError, match="not yet valid"):
        decode(jwt.encode(claims(nbf=int(NOW) + 3600), KEY))


def test_issued_in_future() -> None:
    with pytest.raises(TokenError, match="future"):
        decode(jwt.encode(claims(iat=int(NOW) + 3600), KEY))


@pytest.mark.parametrize("missing", ["exp", "nbf", "iat"])
def test_time_claims_are_required(missing: str) -> None:
    c = claims()
    del c[missing]
    with pytest.raises(TokenError, match=missing):
        decode(jwt.encode(c, KEY))


@pytest.mark.parametrize("bad", ["", "a.b", "a.b.c.d", "!!!.###.$$$", "x" * 20000])
def test_malformed(bad: str) -> None:
    with pytest.raises(TokenError):
        decode(bad)


def test_real_clock_default() -> None:
    t = int(time.time())
    token = jwt.encode(claims(exp=t + 60, nbf=t, iat=t), KEY)
    assert jwt.decode(token, KEY, audience="dockyard-hub", issuer="dockyard-hub")["sub"] == "alice"
