"""Who may do what on which repository (pure policy over facts gathered from the db)."""

from __future__ import annotations

from dataclasses import dataclass, field

from dockyard.hub.names import OFFICIAL, namespace

ALL_ACTIONS = frozenset({"pull", "push", "delete", "*"})
PERM_ACTIONS: dict[str, frozenset[str]] = {
    "pull": frozenset({"pull"}),
    "push": frozenset({"pull", "push"}),
    "admin": ALL_ACTIONS,
}


@dataclass(frozen=True)
class Principal:
    """An authenticated account and what its memberships give it."""

    name: str
    is_admin: bool = False
    # org name -> 'owner' | 'member'
    orgs: dict[str, str] = field(default_factory=dict)
    # canonical repo name or 'ORG/*' -> strongest team permission
    team_perms: dict[str, str] = field(default_factory=dict)
    # a read-only access token can never push, whatever the account may do
    read_only: bool = False


@dataclass(frozen=True)
class RepoFacts:
    name: str  # canonical
    exists: bool
    private: bool


def allowed_actions(who: Principal | None, repo: RepoFacts) -> frozenset[str]:
    actions: set[str] = set()
    if repo.exists and not repo.private:
        actions.add("pull")
    if who is not None:
        ns = namespace(repo.name)
        if who.is_admin or (ns == who.name and ns != OFFICIAL) or who.orgs.get(ns) == "owner":
            actions |= ALL_ACTIONS
        else:
            for key in (repo.name, f"{ns}/*"):
                perm = who.team_perms.get(key)
                if perm is not None and who.orgs.get(ns) is not None:
                    actions |= PERM_ACTIONS[perm]
        if who.read_only:
            actions &= {"pull"}
    return frozenset(actions)


def can_manage(who: Principal | None, repo_name: str) -> bool:
    """May change description, visibility and README of the repository."""
    return who is not None and "*" in allowed_actions(who, RepoFacts(repo_name, True, True))


def can_see(who: Principal | None, repo: RepoFacts) -> bool:
    return "pull" in allowed_actions(who, repo)
