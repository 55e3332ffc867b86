"""The pure token flow: challenges, scopes, token cache with expiry, and the 401 dance."""

from __future__ import annotations

import base64
import json
from collections.abc import Generator
from urllib.parse import parse_qs, urlsplit

import pytest

from dockyard.distribution import auth
from dockyard.distribution.errors import Denied, InvalidResponse, Unauthorized

REALM = "http://127.0.0.1:5000/token"
CHALLENGE = f'Bearer realm="{REALM}",service="dockyard-hub",scope="repository:alice/web:pull,push"'


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_parse_bearer_challenge() -> None:
    [c] = auth.parse_challenges(CHALLENGE)
    assert c.scheme == "bearer"
    assert c.realm == REALM
    assert c.service == "dockyard-hub"
    assert c.scope == "repository:alice/web:pull,push"


def test_parse_challenge_quotes_escapes_and_several() -> None:
    header = r'Basic realm="a \"quoted\" realm", Bearer realm="http://x/t",error="invalid_token"'
    cs = auth.parse_challenges(header)
    assert [c.scheme for c in cs] == ["basic", "bearer"]
    assert cs[0].realm == 'a "quoted" realm'
    assert cs[1].error == "invalid_token"
    assert auth.pick_challenge([header]) == cs[1]  # Bearer preferred


def test_parse_challenge_unquoted_and_case() -> None:
    [c] = auth.parse_challenges("BEARER Realm=http://h/t , Service=svc")
    assert c.scheme == "bearer" and c.realm == "http://h/t" and c.service == "svc"
    assert auth.pick_challenge(["Negotiate abc"]) is None
    assert auth.parse_challenges("") == []


def test_scopes_parse_and_merge() -> None:
    s = auth.parse_scope("repository:127.0.0.1:5000/a/b:push,pull")
    assert s.name == "127.0.0.1:5000/a/b" and s.actions == {"pull", "push"}
    assert str(s) == "repository:127.0.0.1:5000/a/b:pull,push"
    merged = auth.merge_scopes(
        [auth.repository_scope("a/b", "pull")],
        auth.parse_scopes("repository:a/b:push repository:c/d:pull"),
    )
    assert [str(m) for m in merged] == ["repository:a/b:pull,push", "repository:c/d:pull"]
    assert auth.scope_key(reversed(merged)) == auth.scope_key(merged)
    with pytest.raises(ValueError):
        auth.parse_scope("repository")


def test_token_response_parsing_and_default_expiry() -> None:
    t = auth.parse_token_response(b'{"token":"abc","expires_in":300}', 100.0)
    assert t.value == "abc" and t.expires_at == 400.0
    t = auth.parse_token_response(b'{"access_token":"x"}', 0.0)
    assert t.expires_at == auth.DEFAULT_TOKEN_LIFETIME
    for bad in (b"nope", b"[]", b'{"expires_in":3}'):
        with pytest.raises(InvalidResponse):
            auth.parse_token_response(bad, 0.0)


def test_cache_expiry_and_per_scope() -> None:
    clock = Clock()
    cache = auth.TokenCache(clock)
    pull = [auth.repository_scope("a/b", "pull")]
    push = [auth.repository_scope("a/b", "pull", "push")]
    cache.put("r", pull, auth.Token("t1", clock.now + 60))
    assert cache.get("r", pull) is not None
    assert cache.get("r", push) is None  # a pull token is not a push token
    assert cache.get("other", pull) is None
    clock.now += 60 - auth.EXPIRY_MARGIN
    assert cache.get("r", pull) is None and len(cache) == 0


def _drive(
    flow: Generator[auth.HttpRequest, auth.HttpResponse, auth.HttpResponse],
    answer: list[auth.HttpResponse],
) -> tuple[list[auth.HttpRequest], auth.HttpResponse]:
    sent = [next(flow)]
    sent_copy = [_copy(sent[0])]
    for reply in answer:
        try:
            nxt = flow.send(reply)
        except StopIteration as stop:
            return sent_copy, stop.value
        sent.append(nxt)
        sent_copy.append(_copy(nxt))
    raise AssertionError("the flow wanted more responses")


def _copy(r: auth.HttpRequest) -> auth.HttpRequest:
    return auth.HttpRequest(r.method, r.url, dict(r.headers), r.body, r.is_token_request)


def _unauth(header: str = CHALLENGE) -> auth.HttpResponse:
    return auth.HttpResponse(401, {"www-authenticate": header})


def _token(value: str, expires: int = 300) -> auth.HttpResponse:
    body = json.dumps({"token": value, "expires_in": expires}).encode()
    return auth.HttpResponse(200, {}, body)


def test_bearer_flow_asks_token_with_credentials_and_retries() -> None:
    cache = auth.TokenCache(Clock())
    creds = auth.Credentials("alice", "pw")
    scopes = [auth.repository_scope("alice/web", "pull")]
    flow = auth.auth_flow(
        auth.HttpRequest("GET", "http://127.0.0.1:5000/v2/alice/web/manifests/1"),
        "127.0.0.1:5000",
        scopes,
        creds,
        cache,
    )
    sent, final = _drive(flow, [_unauth(), _token("tok1"), auth.HttpResponse(200, {})])
    assert final.status == 200
    assert "Authorization" not in sent[0].headers
    tok_req = sent[1]
    assert tok_req.is_token_request
    q = parse_qs(urlsplit(tok_req.url).query)
    assert q["service"] == ["dockyard-hub"]
    # what we asked merged with what the challenge named
    assert q["scope"] == ["repository:alice/web:pull,push"]
    assert q["account"] == ["alice"]
    basic = base64.b64decode(tok_req.headers["Authorization"].split()[1])
    assert basic == b"alice:pw"
    assert sent[2].headers["Authorization"] == "Bearer tok1"
    # Cached: the next request goes out with the token at once.
    flow2 = auth.auth_flow(
        auth.HttpRequest("GET", "http://x/v2/alice/web/blobs/y"),
        "127.0.0.1:5000",
        scopes,
        creds,
        cache,
    )
    sent2, final2 = _drive(flow2, [auth.HttpResponse(200, {})])
    assert sent2[0].headers["Authorization"] == "Bearer tok1" and final2.status == 200


def test_expired_token_is_not_sent() -> None:
    clock = Clock()
    cache = auth.TokenCache(clock)
    scopes = [auth.repository_scope("a/b", "pull")]
    cache.put("r", scopes, auth.Token("old", clock.now + 10))
    clock.now += 30
    flow = auth.auth_flow(
        auth.HttpRequest("GET", "http://r/v2/a/b/tags/list"), "r", scopes, None, cache
    )
    sent, _final = _drive(flow, [_unauth(), _token("new"), auth.HttpResponse(200, {})])
    assert "Authorization" not in sent[0].headers
    assert "Authorization" not in sent[1].headers  # anonymous token request
    assert sent[2].headers["Authorization"] == "Bearer new"


def test_revoked_cached_token_is_replaced_once() -> None:
    cache = auth.TokenCache(Clock())
    scopes = [auth.repository_scope("a/b", "pull")]
    cache.put("r", scopes, auth.Token("stale", 1e12))
    flow = auth.auth_flow(auth.HttpRequest("GET", "http://r/v2/"), "r", scopes, None, cache)
    sent, _final = _drive(flow, [_unauth(), _token("fresh"), auth.HttpResponse(200, {})])
    assert sent[0].headers["Authorization"] == "Bearer stale"
    assert sent[2].headers["Authorization"] == "Bearer fresh"
    assert cache.get("r", scopes) is not None and cache.get("r", scopes).value == "fresh"  # type: ignore[union-attr]


def test_wrong_password_is_unauthorized() -> None:
    cache = auth.TokenCache(Clock())
    flow = auth.auth_flow(
        auth.HttpRequest("GET", "http://r/v2/a/b/manifests/1"),
        "r",
        [auth.repository_scope("a/b", "pull")],
        auth.Credentials("alice", "wrong"),
        cache,
    )
    body = b'{"errors":[{"code":"UNAUTHORIZED","message":"incorrect username or password"}]}'
    with pytest.raises(Unauthorized, match="incorrect username or password"):
        _drive(flow, [_unauth(), auth.HttpResponse(401, {}, body)])
    assert len(cache) == 0


def test_token_without_the_access_is_denied() -> None:
    cache = auth.TokenCache(Clock())
    flow = auth.auth_flow(
        auth.HttpRequest("POST", "http://r/v2/bob/x/blobs/uploads/"),
        "r",
        [auth.repository_scope("bob/x", "pull", "push")],
        auth.Credentials("alice", "pw"),
        cache,
    )
    with pytest.raises(Denied, match="denied"):
        _drive(flow, [_unauth(), _token("weak"), _unauth()])
    assert len(cache) == 0


def test_basic_challenge_retries_with_basic_and_remembers() -> None:
    cache = auth.TokenCache(Clock())
    creds = auth.Credentials("u", "p")
    flow = auth.auth_flow(auth.HttpRequest("GET", "http://r/v2/"), "r", [], creds, cache)
    sent, _final = _drive(flow, [_unauth('Basic realm="registry"'), auth.HttpResponse(200, {})])
    assert sent[1].headers["Authorization"] == auth.basic_header(creds)
    flow = auth.auth_flow(auth.HttpRequest("GET", "http://r/v2/x"), "r", [], creds, cache)
    sent, _ = _drive(flow, [auth.HttpResponse(200, {})])
    assert sent[0].headers["Authorization"] == auth.basic_header(creds)
    anon = auth.auth_flow(auth.HttpRequest("GET", "http://s/v2/"), "s", [], None, cache)
    with pytest.raises(Unauthorized):
        _drive(anon, [_unauth('Basic realm="registry"')])


def test_bad_realm_and_no_challenge() -> None:
    cache = auth.TokenCache(Clock())
    flow = auth.auth_flow(auth.HttpRequest("GET", "http://r/v2/"), "r", [], None, cache)
    with pytest.raises(InvalidResponse):
        _drive(flow, [_unauth('Bearer realm="file:///etc/passwd"')])
    flow = auth.auth_flow(auth.HttpRequest("GET", "http://r/v2/"), "r", [], None, cache)
    with pytest.raises(Unauthorized):
        _drive(flow, [auth.HttpResponse(401, {})])


def test_non_401_passes_through_untouched() -> None:
    flow = auth.auth_flow(auth.HttpRequest("GET", "http://r/v2/"), "r", [], None, auth.TokenCache())
    sent, final = _drive(flow, [auth.HttpResponse(404, {})])
    assert len(sent) == 1 and final.status == 404


def test_login_flow_checks_credentials_without_scope() -> None:
    cache = auth.TokenCache(Clock())
    creds = auth.Credentials("alice", "pw")
    flow = auth.login_flow("http://r/v2/", "r", creds, cache)
    sent, final = _drive(
        flow, [_unauth('Bearer realm="http://r/token",service="hub"'), _token("t")]
    )
    assert final.status == 200
    assert "scope" not in parse_qs(urlsplit(sent[1].url).query)
    flow = auth.login_flow("http://r/v2/", "r", creds, cache)
    with pytest.raises(Unauthorized):
        _drive(flow, [_unauth('Bearer realm="http://r/token"'), auth.HttpResponse(401, {})])
