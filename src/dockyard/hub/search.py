"""Finding repositories by name or description, showing only what the caller may see."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from dockyard.hub.access import Principal, RepoFacts, can_see
from dockyard.hub.names import OFFICIAL, display

MAX_SCAN = 5000


@dataclass(frozen=True)
class RepoSummary:
    name: str
    display_name: str
    description: str
    stars: int
    pulls: int
    private: bool
    pushed: float | None

    @property
    def official(self) -> bool:
        return self.name.startswith(OFFICIAL + "/")


def _like(q: str) -> str:
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _summaries(
    conn: sqlite3.Connection, where: str, params: tuple[object, ...]
) -> list[RepoSummary]:
    rows = conn.execute(
        "SELECT r.name, r.description, r.private, r.pulls, r.pushed,"
        " (SELECT COUNT(*) FROM stars s WHERE s.repo = r.name) AS stars FROM repos r"
        f" WHERE EXISTS (SELECT 1 FROM manifests m WHERE m.repo = r.name) AND {where}"
        " ORDER BY (r.namespace = 'library') DESC, stars DESC, r.pulls DESC, r.name"
        f" LIMIT {MAX_SCAN}",
        params,
    ).fetchall()
    return [
        RepoSummary(
            r["name"],
            display(r["name"]),
            r["description"],
            r["stars"],
            r["pulls"],
            bool(r["private"]),
            r["pushed"],
        )
        for r in rows
    ]


def search_repos(
    conn: sqlite3.Connection, who: Principal | None, q: str, limit: int, offset: int
) -> tuple[int, list[RepoSummary]]:
    q = q.strip().lower()
    found = _summaries(
        conn,
        "(r.name LIKE ? ESCAPE '\\' OR r.description LIKE ? ESCAPE '\\')",
        (_like(q), _like(q)),
    )
    visible = [r for r in found if can_see(who, RepoFacts(r.name, True, r.private))]
    return len(visible), visible[offset : offset + limit]


def official_repos(conn: sqlite3.Connection, limit: int = 24) -> list[RepoSummary]:
    rows = _summaries(conn, "r.namespace = 'library' AND r.private = 0", ())
    return rows[:limit]


def namespace_repos(conn: sqlite3.Connection, who: Principal | None, ns: str) -> list[RepoSummary]:
    rows = _summaries(conn, "r.namespace = ?", (ns,))
    return [r for r in rows if can_see(who, RepoFacts(r.name, True, r.private))]
