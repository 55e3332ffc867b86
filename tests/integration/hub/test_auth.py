"""Accounts, namespaces, tokens and rate limits of a real hub process."""

from __future__ import annotations

import base64
import json
import time
import urllib.parse

import hubtools as ht
import pytest
from hubtools import USERS, client

from dockyard.hub import jwt

pytestmark = pytest.mark.root


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def token_for(
    hub: ht.HubProcess, scope: str, user: str | None = None, password: str | None = None
) -> ht.Reply:
    q = urllib.parse.urlencode({"service": "dockyard-hub", "scope": scope})
    headers = basic(user, password if password is not None else USERS[user]) if user else {}
    return ht.request("GET", f"{hub.url}/token?{q}", headers=headers)


def access_of(token: str) -> list[dict[str, object]]:
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return list(claims["access"])


def test_token_response_shape_and_intersection(hub: ht.HubProcess) -> None:
    r = token_for(hub, "repository:alice/web:pull,push", "alice")
    assert r.status == 200
    body = r.json()
    assert set(body) >= {"token", "access_token", "expires_in", "issued_at"}
    assert body["token"] == body["access_token"] and body["expires_in"] > 0
    assert access_of(body["token"]) == [
        {"type": "repository", "name": "alice/web", "actions": ["pull", "push"]}
    ]
    r = token_for(hub, "repository:alice/web:pull,push", "bob")
    assert access_of(r.json()["token"]) == [
        {"type": "repository", "name": "alice/web", "actions": []}
    ]


def test_namespaces(hub: ht.HubProcess) -> None:
    alice, bob, root = (client(hub, u) for u in ("alice", "bob", "root"))
    alice.push_image("alice/app", "v1")
    # bob pushing into alice's namespace
    r = bob.call("POST", "/v2/alice/app/blobs/uploads/")
    assert r.status == 403 and r.error_codes() == ["DENIED"]
    assert 'error="insufficient_scope"' in (r.header("WWW-Authenticate") or "")
    # a non-admin pushing an official image, by short and long name
    for name in ("busybox", "library/busybox"):
        r = alice.call("POST", f"/v2/{name}/blobs/uploads/")
        assert r.status == 403 and r.error_codes() == ["DENIED"], name
    root.push_image("busybox", "latest")
    # anyone may pull public official images, also anonymously, by either name
    anon = client(hub)
    assert anon.call("GET", "/v2/busybox/manifests/latest").status == 200
    assert anon.call("GET", "/v2/library/busybox/manifests/latest").status == 200
    assert bob.call("GET", "/v2/alice/app/manifests/v1").status == 200


def test_wrong_credentials_and_rate_limit(make_hub: object) -> None:
    hub = make_hub("login_burst = 3\nlogin_per_minute = 1\n")  # type: ignore[operator]
    for user in ("alice", "nobody", "alice"):
        r = token_for(hub, "repository:alice/x:pull", user, "wrong-password")
        assert r.status == 401 and r.error_codes() == ["UNAUTHORIZED"]
    r = token_for(hub, "repository:alice/x:pull", "alice", "wrong-password")
    assert r.status == 429 and r.error_codes() == ["TOOMANYREQUESTS"]
    assert int(r.header("Retry-After") or 0) >= 1
    # the limit holds for right passwords too while it lasts: guessing gains nothing
    r = token_for(hub, "repository:alice/x:pull", "alice")
    assert r.status == 429


def test_unknown_user_costs_as_much_as_a_wrong_password(hub: ht.HubProcess) -> None:
    def timed(user: str) -> float:
        best = 1e9
        for _ in range(3):
            t = time.perf_counter()
            r = token_for(hub, "", user, "wrong-password-x")
            best = min(best, time.perf_counter() - t)
            assert r.status == 401
        return best

    known, unknown = timed("alice"), timed("no-such-user")
    # Both run scrypt (tens of ms); without it the unknown case would take ~1 ms.
    assert unknown > 0.5 * known and known > 0.5 * unknown, (known, unknown)


def test_forged_expired_and_misdirected_tokens(hub: ht.HubProcess) -> None:
    alice = client(hub, "alice")
    alice.push_image("alice/priv", "v1")
    path = "/v2/alice/priv/manifests/v1"
    t = int(time.time())
    claims = {
        "iss": "dockyard-hub",
        "aud": "dockyard-hub",
        "sub": "alice",
        "iat": t,
        "nbf": t,
        "exp": t + 300,
        "access": [{"type": "repository", "name": "alice/priv", "actions": ["pull", "push"]}],
    }
    forged = jwt.encode(claims, b"not-the-server-key-not-the-server")
    r = ht.request("PUT", hub.url + path, b"{}", {"Authorization": f"Bearer {forged}"})
    assert r.status == 401 and r.error_codes() == ["UNAUTHORIZED"]
    head = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    r = ht.request("DELETE", hub.url + path, None, {"Authorization": f"Bearer {head}.{body}."})
    assert r.status == 401
    key = (hub.data / "token.key").read_bytes()
    for bad in (
        {"exp": t - 3600, "iat": t - 7200, "nbf": t - 7200},
        {"aud": "other"},
        {"iss": "other"},
    ):
        tok = jwt.encode({**claims, **bad}, key)
        r = ht.request("GET", hub.url + path, None, {"Authorization": f"Bearer {tok}"})
        assert r.status == 401, bad
    good = jwt.encode(claims, key)
    r = ht.request("GET", hub.url + path, None, {"Authorization": f"Bearer {good}"})
    assert r.status == 200
    # a token for another repository does not open this one
    other = token_for(hub, "repository:alice/other:pull,push", "alice").json()["token"]
    r = ht.request("GET", hub.url + path, None, {"Authorization": f"Bearer {other}"})
    assert r.status == 401 and r.error_codes() == ["DENIED"]


def test_user_added_while_running_can_log_in_at_once(hub: ht.HubProcess) -> None:
    ht.add_user(hub.data, "carol", "carol-pass-1")
    r = token_for(hub, "repository:carol/x:push", "carol", "carol-pass-1")
    assert r.status == 200
    assert access_of(r.json()["token"])[0]["actions"] == ["push"]


def test_oauth2_password_and_refresh_grants(hub: ht.HubProcess) -> None:
    form = urllib.parse.urlencode(
        {
            "grant_type": "password",
            "username": "alice",
            "password": USERS["alice"],
            "service": "dockyard-hub",
            "scope": "repository:alice/o:pull,push",
            "client_id": "test",
            "access_type": "offline",
        }
    ).encode()
    r = ht.request(
        "POST", hub.url + "/token", form, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert r.status == 200
    body = r.json()
    assert body["access_token"] and body["refresh_token"] and body["expires_in"] > 0
    form2 = urllib.parse.urlencode(
        {
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            "service": "dockyard-hub",
            "scope": "repository:alice/o:pull",
        }
    ).encode()
    r = ht.request(
        "POST", hub.url + "/token", form2, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert r.status == 200 and access_of(r.json()["access_token"])[0]["actions"] == ["pull"]
    # changing the password ends every refresh token made from the old one
    r = ht.hub_cli(hub.data, "user", "passwd", "alice", "--password-stdin", stdin="alice-pass-2\n")
    assert r.returncode == 0, r.stderr
    r = ht.request(
        "POST", hub.url + "/token", form2, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert r.status == 401
    # the old password was just used (and is remembered briefly): it must fail now
    assert token_for(hub, "repository:alice/o:pull", "alice").status == 401
    assert token_for(hub, "repository:alice/o:pull", "alice", "alice-pass-2").status == 200
    bad = urllib.parse.urlencode(
        {"grant_type": "password", "username": "alice", "password": "nope-nope"}
    ).encode()
    r = ht.request(
        "POST", hub.url + "/token", bad, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert r.status == 401


def test_private_repositories_are_invisible(hub: ht.HubProcess) -> None:
    from test_web import Browser

    alice = client(hub, "alice")
    alice.push_image("alice/secret", "v1")
    alice.push_image("alice/open", "v1")
    web = Browser(hub.url)
    web.login("alice", USERS["alice"])
    page = web.get("/r/alice/secret")
    csrf = web.csrf(page.body.decode())
    r = web.post(
        "/r/alice/secret/settings",
        {"csrf": csrf, "description": "hidden", "readme": "", "private": "1"},
    )
    assert r.status == 303
    bob, anon = client(hub, "bob"), client(hub)
    for who, status in ((bob, 403), (anon, 401)):
        r = who.call("GET", "/v2/alice/secret/manifests/v1")
        assert r.status == status and r.error_codes() == ["DENIED"]
        repos = who.call("GET", "/v2/_catalog").json()["repositories"]
        assert repos == ["alice/open"]
        assert ht.request("GET", hub.url + "/r/alice/secret").status == 404
    names = [x["name"] for x in ht.request("GET", hub.url + "/v1/search?q=alice").json()["results"]]
    assert names == ["alice/open"]
    assert alice.call("GET", "/v2/alice/secret/manifests/v1").status == 200
    assert "alice/secret" in alice.call("GET", "/v2/_catalog").json()["repositories"]
    assert web.get("/r/alice/secret").status == 200
    r = web.get("/search?q=secret")
    assert b"alice/secret" in r.body


def test_read_only_access_token(hub: ht.HubProcess) -> None:
    from test_web import Browser

    client(hub, "alice").push_image("alice/ro", "v1")
    web = Browser(hub.url)
    web.login("alice", USERS["alice"])
    page = web.get("/settings/tokens").body.decode()
    r = web.post("/settings/tokens", {"csrf": web.csrf(page), "name": "ci", "access": "read"})
    assert r.status == 200
    text = r.body.decode()
    token = text[text.index("dyh_") : text.index("</p>", text.index("dyh_"))]
    got = token_for(hub, "repository:alice/ro:pull,push", "alice", token)
    assert got.status == 200
    assert access_of(got.json()["token"])[0]["actions"] == ["pull"]
