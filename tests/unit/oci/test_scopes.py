"""The shared token-spec model: scopes and WWW-Authenticate challenges, both readings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.oci import scopes
from dockyard.oci.scopes import Challenge, Scope

# The examples of Docker's token authentication specification.
SPEC_CHALLENGE = (
    'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
    'scope="repository:samalba/my-app:pull,push"'
)


def test_spec_challenge_is_read() -> None:
    [c] = scopes.parse_challenges(SPEC_CHALLENGE, strict=True)
    assert c == Challenge(
        "bearer",
        {
            "realm": "https://auth.docker.io/token",
            "service": "registry.docker.io",
            "scope": "repository:samalba/my-app:pull,push",
        },
    )
    assert scopes.parse_scopes(c.scope) == [
        Scope("repository", "samalba/my-app", frozenset({"pull", "push"}))
    ]


def test_spec_challenge_is_written_back_identically() -> None:
    header = scopes.bearer_challenge(
        "https://auth.docker.io/token",
        "registry.docker.io",
        scopes.repository_scope("samalba/my-app", "push", "pull"),
    )
    assert header == SPEC_CHALLENGE


def test_actions_are_written_in_the_spec_order_then_alphabetically() -> None:
    s = Scope("repository", "a/b", frozenset({"*", "delete", "push", "pull", "zap", "mirror"}))
    assert str(s) == "repository:a/b:pull,push,delete,*,mirror,zap"
    # The claim is alphabetical (what the hub has always issued).
    assert s.as_claim()["actions"] == ["*", "delete", "mirror", "pull", "push", "zap"]


def test_catalog_and_port_in_name() -> None:
    assert scopes.parse_scope("registry:catalog:*", strict=True) == Scope(
        "registry", "catalog", frozenset({"*"})
    )
    s = scopes.parse_scope("repository:localhost:5000/a/b:pull", strict=True)
    assert (s.type, s.name, s.actions) == ("repository", "localhost:5000/a/b", frozenset({"pull"}))


def test_resource_class_kept_by_the_client_dropped_by_the_server() -> None:
    text = "repository(plugin):samalba/my-plugin:pull"
    lenient = scopes.parse_scope(text)
    assert lenient.type == "repository(plugin)"
    assert str(lenient) == text  # asked for again exactly as the registry named it
    assert scopes.parse_scope(text, strict=True).type == "repository"


@pytest.mark.parametrize(
    "text", ["Repo$:x:pull", "repository(:x:pull", "repository:x:pu ll", "repository:x:PULL"]
)
def test_only_strict_reading_checks_the_grammar(text: str) -> None:
    assert scopes.parse_scope(text).name == "x"
    with pytest.raises(scopes.ScopeError):
        scopes.parse_scope(text, strict=True)


@pytest.mark.parametrize("text", ["", "repository", "repository:x", ":x:pull", "repo::pull"])
@pytest.mark.parametrize("strict", [False, True])
def test_shapeless_scopes_are_refused_by_both(text: str, strict: bool) -> None:
    with pytest.raises(scopes.ScopeError, match="invalid scope"):
        scopes.parse_scope(text, strict=strict)


def test_scope_error_is_a_value_error() -> None:
    assert issubclass(scopes.ScopeError, ValueError)
    assert issubclass(scopes.ChallengeError, ValueError)


def test_parse_scopes_splits_values_without_merging() -> None:
    got = scopes.parse_scopes("repository:a/b:pull  repository:a/b:push", "registry:catalog:*")
    assert [str(s) for s in got] == [
        "repository:a/b:pull",
        "repository:a/b:push",
        "registry:catalog:*",
    ]
    assert scopes.parse_scopes() == [] and scopes.parse_scopes("  ") == []


def test_merge_sorted_or_first_seen() -> None:
    groups = (
        [scopes.repository_scope("z/z", "pull"), scopes.repository_scope("a/a", "push")],
        [scopes.repository_scope("z/z", "push")],
    )
    assert [str(s) for s in scopes.merge_scopes(*groups)] == [
        "repository:a/a:push",
        "repository:z/z:pull,push",
    ]
    assert [str(s) for s in scopes.merge_scopes(*groups, sort=False)] == [
        "repository:z/z:pull,push",
        "repository:a/a:push",
    ]


def test_scope_key_ignores_listing_order_and_repeats() -> None:
    a = scopes.parse_scopes("repository:b/b:push repository:a/a:pull repository:b/b:pull")
    b = scopes.parse_scopes("repository:a/a:pull repository:b/b:pull,push")
    assert scopes.scope_key(a) == scopes.scope_key(reversed(b))
    assert scopes.scope_key(a) == "repository:a/a:pull repository:b/b:pull,push"
    assert scopes.scope_key(a) != scopes.scope_key(b[:1])


def test_repository_scope_defaults_to_pull() -> None:
    assert str(scopes.repository_scope("a/b")) == "repository:a/b:pull"


_names = st.from_regex(r"[a-z0-9]+(/[a-z0-9._-]+){0,2}", fullmatch=True)
_actions = st.frozensets(st.sampled_from(["pull", "push", "delete", "*", "mirror"]), min_size=1)


@given(
    st.sampled_from(["repository", "registry", "repository(plugin)"]),
    st.one_of(_names, _names.map(lambda n: "localhost:5000/" + n)),
    _actions,
)
def test_scope_text_round_trips(typ: str, name: str, actions: frozenset[str]) -> None:
    s = Scope(typ, name, actions)
    assert scopes.parse_scope(str(s)) == s
    assert str(scopes.parse_scope(str(s), strict=True)) == str(s).replace("(plugin)", "")


_values = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30)


@given(_values, _values, _values)
def test_written_challenges_read_back_with_any_printable_value(
    realm: str, service: str, error: str
) -> None:
    header = scopes.format_challenge("Bearer", {"realm": realm, "service": service, "e": error})
    for strict in (False, True):
        [c] = scopes.parse_challenges(header, strict=strict)
        assert c.scheme == "bearer"
        assert dict(c.params) == {"realm": realm, "service": service, "e": error}


def test_bearer_challenge_quotes_and_omits() -> None:
    assert scopes.bearer_challenge("http://h/t", 'a "b" \\c', error="invalid_token") == (
        'Bearer realm="http://h/t",service="a \\"b\\" \\\\c",error="invalid_token"'
    )
    assert scopes.format_challenge("Basic", {}) == "Basic"


def test_several_challenges_unquoted_values_and_case() -> None:
    cs = scopes.parse_challenges(
        'Basic realm="x", BEARER Realm=http://h/t?a=b , Service=svc,,  Negotiate'
    )
    assert [c.scheme for c in cs] == ["basic", "bearer", "negotiate"]
    assert cs[1].realm == "http://h/t?a=b" and cs[1].service == "svc"
    assert cs[2].params == {}
    assert scopes.parse_challenges("") == [] and scopes.parse_challenges("  ,  ") == []


@pytest.mark.parametrize(
    ("header", "forgiven"),
    [
        ('Bearer realm="x",,,=oops', [Challenge("bearer", {"realm": "x"})]),
        ('Bearer realm="unterminated', [Challenge("bearer", {"realm": "unterminated"})]),
        ("Bearer realm=,service=s", [Challenge("bearer", {"realm": "", "service": "s"})]),
        ('Bearer "x"', [Challenge("bearer", {})]),
    ],
)
def test_strict_refuses_what_the_forgiving_reading_makes_do_with(
    header: str, forgiven: list[Challenge]
) -> None:
    assert scopes.parse_challenges(header) == forgiven
    with pytest.raises(scopes.ChallengeError):
        scopes.parse_challenges(header, strict=True)
