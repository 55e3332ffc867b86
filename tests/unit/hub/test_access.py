from __future__ import annotations

from dockyard.hub.access import ALL_ACTIONS, Principal, RepoFacts, allowed_actions, can_manage

PUBLIC = RepoFacts("alice/web", True, False)
PRIVATE = RepoFacts("alice/secret", True, True)
MISSING = RepoFacts("alice/new", False, False)
OFFICIAL = RepoFacts("library/busybox", True, False)

alice = Principal("alice")
bob = Principal("bob")
root = Principal("root", is_admin=True)


def test_owner_has_everything_in_own_namespace() -> None:
    for repo in (PUBLIC, PRIVATE, MISSING):
        assert allowed_actions(alice, repo) == ALL_ACTIONS


def test_others_pull_public_only() -> None:
    assert allowed_actions(bob, PUBLIC) == {"pull"}
    assert allowed_actions(None, PUBLIC) == {"pull"}
    assert allowed_actions(bob, PRIVATE) == set()
    assert allowed_actions(None, PRIVATE) == set()
    assert allowed_actions(bob, MISSING) == set()


def test_library_is_pushable_by_admins_only() -> None:
    assert allowed_actions(alice, OFFICIAL) == {"pull"}
    assert allowed_actions(Principal("library"), OFFICIAL) == {"pull"}
    assert allowed_actions(root, OFFICIAL) == ALL_ACTIONS


def test_read_only_token_cannot_push_even_own_repos() -> None:
    ro = Principal("alice", read_only=True)
    assert allowed_actions(ro, PRIVATE) == {"pull"}


def test_org_owner_and_teams() -> None:
    repo = RepoFacts("acme/app", True, True)
    owner = Principal("carol", orgs={"acme": "owner"})
    dev = Principal("dave", orgs={"acme": "member"}, team_perms={"acme/app": "push"})
    reader = Principal("erin", orgs={"acme": "member"}, team_perms={"acme/*": "pull"})
    outsider = Principal("frank", team_perms={"acme/app": "admin"})  # stale: not a member
    assert allowed_actions(owner, repo) == ALL_ACTIONS
    assert allowed_actions(dev, repo) == {"pull", "push"}
    assert allowed_actions(reader, repo) == {"pull"}
    assert allowed_actions(outsider, repo) == set()
    assert can_manage(owner, "acme/app") and not can_manage(dev, "acme/app")
