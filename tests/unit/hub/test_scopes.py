from __future__ import annotations

import pytest

from dockyard.hub.errors import TokenError
from dockyard.hub.scopes import parse_challenge, parse_scope, parse_scopes
from dockyard.oci.scopes import Scope, bearer_challenge


def test_parse_repository_scope() -> None:
    s = parse_scope("repository:alice/web:pull,push")
    assert s == Scope("repository", "alice/web", frozenset({"pull", "push"}))
    assert str(s) == "repository:alice/web:pull,push"


def test_name_with_registry_port_keeps_its_colon() -> None:
    s = parse_scope("repository:localhost:5000/alice/web:pull")
    assert s.name == "localhost:5000/alice/web"
    assert s.actions == frozenset({"pull"})


def test_resource_class_is_dropped() -> None:
    assert parse_scope("repository(plugin):alice/p:pull").type == "repository"


def test_catalog_scope() -> None:
    assert parse_scope("registry:catalog:*").actions == frozenset({"*"})


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "repository",
        "repository:name",
        ":x:pull",
        "repository::pull",
        "Repo$:x:pull",
        "repository:x:pu ll",
    ],
)
def test_malformed_scopes_are_refused(bad: str) -> None:
    with pytest.raises(TokenError):
        parse_scope(bad)


def test_parse_scopes_merges_repeats_and_spaces() -> None:
    got = parse_scopes(["repository:a/b:pull repository:a/b:push", "repository:c/d:pull"])
    as_dict = {(s.type, s.name): s.actions for s in got}
    assert as_dict == {
        ("repository", "a/b"): frozenset({"pull", "push"}),
        ("repository", "c/d"): frozenset({"pull"}),
    }


def test_challenge_round_trip() -> None:
    header = bearer_challenge(
        "http://127.0.0.1:5000/token",
        "dockyard-hub",
        Scope("repository", "alice/web", frozenset({"pull", "push"})),
        "insufficient_scope",
    )
    assert header.startswith("Bearer ")
    scheme, params = parse_challenge(header)
    assert scheme == "bearer"
    assert params == {
        "realm": "http://127.0.0.1:5000/token",
        "service": "dockyard-hub",
        "scope": "repository:alice/web:pull,push",
        "error": "insufficient_scope",
    }


def test_challenge_without_scope() -> None:
    _, params = parse_challenge(bearer_challenge("https://h/token", "svc"))
    assert params == {"realm": "https://h/token", "service": "svc"}


def test_challenge_garbage_is_refused() -> None:
    with pytest.raises(TokenError):
        parse_challenge('Bearer realm="x",,,=oops')


def test_challenge_must_be_exactly_one() -> None:
    with pytest.raises(TokenError, match="expected one challenge"):
        parse_challenge('Basic realm="h", Bearer realm="x"')
    with pytest.raises(TokenError, match="expected one challenge"):
        parse_challenge("")


def test_parse_scopes_keeps_the_order_first_asked_for() -> None:
    got = parse_scopes(["repository:z/z:pull registry:catalog:*", "repository:z/z:push"])
    assert [str(s) for s in got] == ["repository:z/z:pull,push", "registry:catalog:*"]
