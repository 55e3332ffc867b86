"""The hub's metadata in SQLite: accounts, repositories, manifests, tags, links, uploads.

Blob bytes live on the filesystem (see `blobs.py`); manifests are small and bounded, so
their bytes live here, which makes a manifest and its tags appear in one transaction.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL DEFAULT 'user',          -- 'user' or 'org'
    password_hash TEXT,
    is_admin INTEGER NOT NULL DEFAULT 0,
    full_name TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS org_members (
    org_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    role TEXT NOT NULL DEFAULT 'member',        -- 'owner' or 'member'
    PRIMARY KEY (org_id, user_id)
);
CREATE TABLE IF NOT EXISTS teams (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    UNIQUE (org_id, name)
);
CREATE TABLE IF NOT EXISTS team_members (
    team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, user_id)
);
CREATE TABLE IF NOT EXISTS team_perms (
    team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    repo TEXT NOT NULL,                         -- canonical name, or 'ORG/*'
    perm TEXT NOT NULL,                         -- 'pull', 'push' or 'admin'
    PRIMARY KEY (team_id, repo)
);
CREATE TABLE IF NOT EXISTS access_tokens (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    access TEXT NOT NULL DEFAULT 'write',       -- 'read' or 'write'
    created REAL NOT NULL,
    last_used REAL
);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS repos (
    name TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    private INTEGER NOT NULL DEFAULT 0,
    description TEXT NOT NULL DEFAULT '',
    readme TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    pushed REAL,
    pulls INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS stars (
    user_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    repo TEXT NOT NULL REFERENCES repos(name) ON DELETE CASCADE,
    PRIMARY KEY (user_id, repo)
);
CREATE TABLE IF NOT EXISTS blobs (
    digest TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS repo_blobs (
    repo TEXT NOT NULL,
    digest TEXT NOT NULL REFERENCES blobs(digest),
    created REAL NOT NULL,
    PRIMARY KEY (repo, digest)
);
CREATE INDEX IF NOT EXISTS repo_blobs_digest ON repo_blobs(digest);
CREATE TABLE IF NOT EXISTS manifests (
    repo TEXT NOT NULL,
    digest TEXT NOT NULL,
    media_type TEXT NOT NULL,
    artifact_type TEXT,
    subject TEXT,
    annotations TEXT,
    size INTEGER NOT NULL,
    content BLOB NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (repo, digest)
);
CREATE INDEX IF NOT EXISTS manifests_subject ON manifests(repo, subject);
CREATE TABLE IF NOT EXISTS manifest_refs (
    repo TEXT NOT NULL,
    parent TEXT NOT NULL,
    child TEXT NOT NULL,
    kind TEXT NOT NULL,                         -- 'blob' or 'manifest'
    PRIMARY KEY (repo, parent, child)
);
CREATE INDEX IF NOT EXISTS manifest_refs_child ON manifest_refs(child);
CREATE TABLE IF NOT EXISTS tags (
    repo TEXT NOT NULL,
    name TEXT NOT NULL,
    digest TEXT NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (repo, name)
);
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY,
    repo TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


def connect(path: Path) -> sqlite3.Connection:
    """Open (and create) the hub database; safe to open from several processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.executescript(SCHEMA)
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction taken up front, so that check-then-write cannot interleave."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def now() -> float:
    return time.time()
