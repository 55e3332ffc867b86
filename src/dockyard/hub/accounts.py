"""Accounts, organisations, teams, access tokens and web sessions, stored in SQLite."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from dataclasses import dataclass

from dockyard.hub import passwords
from dockyard.hub.access import PERM_ACTIONS, Principal
from dockyard.hub.db import now, transaction
from dockyard.hub.errors import AccountError
from dockyard.hub.names import validate_account, validate_repository

MIN_PASSWORD = 8
SESSION_TTL = 7 * 24 * 3600


@dataclass(frozen=True)
class Account:
    id: int
    name: str
    kind: str
    is_admin: bool
    full_name: str
    created: float


def _account(row: sqlite3.Row) -> Account:
    return Account(
        row["id"],
        row["name"],
        row["kind"],
        bool(row["is_admin"]),
        row["full_name"],
        row["created"],
    )


def get_account(conn: sqlite3.Connection, name: str) -> Account | None:
    row = conn.execute("SELECT * FROM accounts WHERE name = ?", (name,)).fetchone()
    return _account(row) if row else None


def create_user(
    conn: sqlite3.Connection, name: str, password: str, *, admin: bool = False
) -> Account:
    validate_account(name)
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password must have at least {MIN_PASSWORD} characters")
    hashed = passwords.hash_password(password)
    with transaction(conn):
        if conn.execute("SELECT 1 FROM accounts WHERE name = ?", (name,)).fetchone():
            raise AccountError(f"account {name!r} already exists")
        conn.execute(
            "INSERT INTO accounts (name, kind, password_hash, is_admin, created)"
            " VALUES (?, 'user', ?, ?, ?)",
            (name, hashed, int(admin), now()),
        )
    acct = get_account(conn, name)
    assert acct is not None
    return acct


def set_password(conn: sqlite3.Connection, name: str, password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password must have at least {MIN_PASSWORD} characters")
    hashed = passwords.hash_password(password)
    with transaction(conn):
        cur = conn.execute(
            "UPDATE accounts SET password_hash = ? WHERE name = ? AND kind = 'user'",
            (hashed, name),
        )
        if cur.rowcount == 0:
            raise AccountError(f"no such user: {name}")
        # A new password ends the web sessions opened with the old one.
        conn.execute(
            "DELETE FROM sessions WHERE user_id = (SELECT id FROM accounts WHERE name = ?)",
            (name,),
        )


def set_admin(conn: sqlite3.Connection, name: str, admin: bool) -> None:
    with transaction(conn):
        conn.execute("UPDATE accounts SET is_admin = ? WHERE name = ?", (int(admin), name))


def login_record(conn: sqlite3.Connection, name: str) -> tuple[Account | None, str | None]:
    """The user and its password hash, for a check done elsewhere (e.g. in a thread)."""
    row = conn.execute(
        "SELECT * FROM accounts WHERE name = ? AND kind = 'user'", (name,)
    ).fetchone()
    return (_account(row), row["password_hash"]) if row else (None, None)


@dataclass(frozen=True)
class Login:
    """A successful login: who, whether only reads are allowed, and with what credential
    (so that a refresh token dies when its password changes or its access token goes)."""

    account: Account
    read_only: bool
    credential: str


def _password_credential(password_hash: str) -> str:
    return "p:" + hashlib.sha256(password_hash.encode()).hexdigest()[:32]


def match_access_token(
    conn: sqlite3.Connection, acct: Account, secret: str
) -> tuple[bool, int] | None:
    """None when `secret` is not one of the user's tokens, else (read-only?, token id)."""
    if not secret.startswith(passwords.TOKEN_PREFIX):
        return None
    tok = conn.execute(
        "SELECT id, access FROM access_tokens WHERE hash = ? AND user_id = ?",
        (passwords.token_hash(secret), acct.id),
    ).fetchone()
    if tok is None:
        return None
    conn.execute("UPDATE access_tokens SET last_used = ? WHERE id = ?", (now(), tok["id"]))
    return tok["access"] == "read", int(tok["id"])


def finish_login(
    conn: sqlite3.Connection,
    acct: Account | None,
    stored: str | None,
    secret: str,
    password_ok: bool,
) -> Login | None:
    if acct is None:
        return None
    if password_ok and stored:
        return Login(acct, False, _password_credential(stored))
    found = match_access_token(conn, acct, secret)
    if found is None:
        return None
    return Login(acct, found[0], f"t:{found[1]}")


def authenticate(conn: sqlite3.Connection, name: str, secret: str) -> Login | None:
    """Check a password or an access token.

    scrypt runs on every call, also for unknown names and for access tokens, so the time
    taken does not tell whether an account exists.
    """
    acct, stored = login_record(conn, name)
    ok = passwords.verify_password(secret, stored)
    return finish_login(conn, acct, stored, secret, ok)


def revalidate(conn: sqlite3.Connection, name: str, credential: str) -> Login | None:
    """The login a refresh token stands for, if its credential is still the current one."""
    acct, stored = login_record(conn, name)
    if acct is None:
        return None
    if credential.startswith("p:"):
        if stored and hmac.compare_digest(credential, _password_credential(stored)):
            return Login(acct, False, credential)
        return None
    if credential.startswith("t:") and credential[2:].isdigit():
        tok = conn.execute(
            "SELECT access FROM access_tokens WHERE id = ? AND user_id = ?",
            (int(credential[2:]), acct.id),
        ).fetchone()
        if tok is not None:
            return Login(acct, tok["access"] == "read", credential)
    return None


def principal(conn: sqlite3.Connection, acct: Account, read_only: bool = False) -> Principal:
    orgs = {
        r["name"]: r["role"]
        for r in conn.execute(
            "SELECT a.name, m.role FROM org_members m JOIN accounts a ON a.id = m.org_id"
            " WHERE m.user_id = ?",
            (acct.id,),
        )
    }
    rank = {"pull": 0, "push": 1, "admin": 2}
    perms: dict[str, str] = {}
    for r in conn.execute(
        "SELECT p.repo, p.perm FROM team_perms p JOIN team_members tm ON tm.team_id = p.team_id"
        " WHERE tm.user_id = ?",
        (acct.id,),
    ):
        old = perms.get(r["repo"])
        if old is None or rank[r["perm"]] > rank[old]:
            perms[r["repo"]] = r["perm"]
    return Principal(acct.name, acct.is_admin, orgs, perms, read_only)


# --- organisations and teams -------------------------------------------------------


def create_org(conn: sqlite3.Connection, name: str, owner: str) -> Account:
    validate_account(name)
    with transaction(conn):
        if conn.execute("SELECT 1 FROM accounts WHERE name = ?", (name,)).fetchone():
            raise AccountError(f"account {name!r} already exists")
        owner_row = conn.execute(
            "SELECT id FROM accounts WHERE name = ? AND kind = 'user'", (owner,)
        ).fetchone()
        if owner_row is None:
            raise AccountError(f"no such user: {owner}")
        cur = conn.execute(
            "INSERT INTO accounts (name, kind, created) VALUES (?, 'org', ?)", (name, now())
        )
        conn.execute(
            "INSERT INTO org_members (org_id, user_id, role) VALUES (?, ?, 'owner')",
            (cur.lastrowid, owner_row["id"]),
        )
    acct = get_account(conn, name)
    assert acct is not None
    return acct


def _org_and_user(conn: sqlite3.Connection, org: str, user: str) -> tuple[int, int]:
    o = conn.execute("SELECT id FROM accounts WHERE name = ? AND kind = 'org'", (org,)).fetchone()
    if o is None:
        raise AccountError(f"no such organisation: {org}")
    u = conn.execute("SELECT id FROM accounts WHERE name = ? AND kind = 'user'", (user,)).fetchone()
    if u is None:
        raise AccountError(f"no such user: {user}")
    return int(o["id"]), int(u["id"])


def org_role(conn: sqlite3.Connection, org: str, user: str) -> str | None:
    row = conn.execute(
        "SELECT m.role FROM org_members m JOIN accounts o ON o.id = m.org_id"
        " JOIN accounts u ON u.id = m.user_id WHERE o.name = ? AND u.name = ?",
        (org, user),
    ).fetchone()
    return str(row["role"]) if row else None


def add_member(conn: sqlite3.Connection, org: str, user: str, role: str = "member") -> None:
    if role not in ("owner", "member"):
        raise AccountError(f"invalid role: {role}")
    with transaction(conn):
        org_id, user_id = _org_and_user(conn, org, user)
        conn.execute(
            "INSERT INTO org_members (org_id, user_id, role) VALUES (?, ?, ?)"
            " ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
            (org_id, user_id, role),
        )


def remove_member(conn: sqlite3.Connection, org: str, user: str) -> None:
    with transaction(conn):
        org_id, user_id = _org_and_user(conn, org, user)
        owners = conn.execute(
            "SELECT user_id FROM org_members WHERE org_id = ? AND role = 'owner'", (org_id,)
        ).fetchall()
        if [r["user_id"] for r in owners] == [user_id]:
            raise AccountError("an organisation keeps at least one owner")
        conn.execute(
            "DELETE FROM team_members WHERE user_id = ? AND team_id IN"
            " (SELECT id FROM teams WHERE org_id = ?)",
            (user_id, org_id),
        )
        conn.execute("DELETE FROM org_members WHERE org_id = ? AND user_id = ?", (org_id, user_id))


def create_team(conn: sqlite3.Connection, org: str, team: str) -> None:
    validate_account(team)
    with transaction(conn):
        o = conn.execute(
            "SELECT id FROM accounts WHERE name = ? AND kind = 'org'", (org,)
        ).fetchone()
        if o is None:
            raise AccountError(f"no such organisation: {org}")
        try:
            conn.execute("INSERT INTO teams (org_id, name) VALUES (?, ?)", (o["id"], team))
        except sqlite3.IntegrityError as e:
            raise AccountError(f"team {team!r} already exists in {org}") from e


def _team_id(conn: sqlite3.Connection, org: str, team: str) -> int:
    row = conn.execute(
        "SELECT t.id FROM teams t JOIN accounts o ON o.id = t.org_id"
        " WHERE o.name = ? AND t.name = ?",
        (org, team),
    ).fetchone()
    if row is None:
        raise AccountError(f"no such team: {org}/{team}")
    return int(row["id"])


def add_team_member(conn: sqlite3.Connection, org: str, team: str, user: str) -> None:
    with transaction(conn):
        team_id = _team_id(conn, org, team)
        org_id, user_id = _org_and_user(conn, org, user)
        conn.execute(
            "INSERT OR IGNORE INTO org_members (org_id, user_id, role) VALUES (?, ?, 'member')",
            (org_id, user_id),
        )
        conn.execute(
            "INSERT OR IGNORE INTO team_members (team_id, user_id) VALUES (?, ?)",
            (team_id, user_id),
        )


def grant_team(conn: sqlite3.Connection, org: str, team: str, repo: str, perm: str) -> None:
    """Give a team `pull`, `push` or `admin` on `ORG/REPO` (or `ORG/*`)."""
    if perm not in PERM_ACTIONS:
        raise AccountError(f"invalid permission: {perm}")
    full = repo if "/" in repo else f"{org}/{repo}"
    if not full.startswith(org + "/"):
        raise AccountError(f"repository {full!r} is not in organisation {org!r}")
    if not full.endswith("/*"):
        validate_repository(full)
    with transaction(conn):
        team_id = _team_id(conn, org, team)
        conn.execute(
            "INSERT INTO team_perms (team_id, repo, perm) VALUES (?, ?, ?)"
            " ON CONFLICT (team_id, repo) DO UPDATE SET perm = excluded.perm",
            (team_id, full, perm),
        )


def org_overview(conn: sqlite3.Connection, org: str) -> dict[str, object]:
    members = [
        (r["name"], r["role"])
        for r in conn.execute(
            "SELECT u.name, m.role FROM org_members m JOIN accounts u ON u.id = m.user_id"
            " JOIN accounts o ON o.id = m.org_id WHERE o.name = ? ORDER BY u.name",
            (org,),
        )
    ]
    teams: dict[str, dict[str, object]] = {}
    for t in conn.execute(
        "SELECT t.id, t.name FROM teams t JOIN accounts o ON o.id = t.org_id"
        " WHERE o.name = ? ORDER BY t.name",
        (org,),
    ):
        teams[t["name"]] = {
            "members": [
                r["name"]
                for r in conn.execute(
                    "SELECT u.name FROM team_members tm JOIN accounts u ON u.id = tm.user_id"
                    " WHERE tm.team_id = ? ORDER BY u.name",
                    (t["id"],),
                )
            ],
            "perms": [
                (r["repo"], r["perm"])
                for r in conn.execute(
                    "SELECT repo, perm FROM team_perms WHERE team_id = ? ORDER BY repo",
                    (t["id"],),
                )
            ],
        }
    return {"members": members, "teams": teams}


def user_orgs(conn: sqlite3.Connection, user: str) -> list[tuple[str, str]]:
    return [
        (r["name"], r["role"])
        for r in conn.execute(
            "SELECT o.name, m.role FROM org_members m JOIN accounts o ON o.id = m.org_id"
            " JOIN accounts u ON u.id = m.user_id WHERE u.name = ? ORDER BY o.name",
            (user,),
        )
    ]


# --- personal access tokens ------------------------------------------------------


def create_access_token(
    conn: sqlite3.Connection, user: str, name: str, access: str = "write"
) -> str:
    if access not in ("read", "write"):
        raise AccountError(f"invalid token access: {access}")
    if not name or len(name) > 100:
        raise AccountError("a token needs a name of at most 100 characters")
    acct = get_account(conn, user)
    if acct is None or acct.kind != "user":
        raise AccountError(f"no such user: {user}")
    token = passwords.new_access_token()
    with transaction(conn):
        conn.execute(
            "INSERT INTO access_tokens (user_id, name, hash, access, created)"
            " VALUES (?, ?, ?, ?, ?)",
            (acct.id, name, passwords.token_hash(token), access, now()),
        )
    return token


def list_access_tokens(conn: sqlite3.Connection, user: str) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT t.id, t.name, t.access, t.created, t.last_used FROM access_tokens t"
        " JOIN accounts a ON a.id = t.user_id WHERE a.name = ? ORDER BY t.created",
        (user,),
    ).fetchall()


def revoke_access_token(conn: sqlite3.Connection, user: str, token_id: int) -> None:
    with transaction(conn):
        conn.execute(
            "DELETE FROM access_tokens WHERE id = ? AND user_id ="
            " (SELECT id FROM accounts WHERE name = ?)",
            (token_id, user),
        )


# --- web sessions ----------------------------------------------------------------


def create_session(conn: sqlite3.Connection, acct: Account) -> tuple[str, str]:
    sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    with transaction(conn):
        conn.execute("DELETE FROM sessions WHERE expires < ?", (now(),))
        conn.execute(
            "INSERT INTO sessions (id, user_id, csrf, expires) VALUES (?, ?, ?, ?)",
            (sid, acct.id, csrf, now() + SESSION_TTL),
        )
    return sid, csrf


def session_account(conn: sqlite3.Connection, sid: str) -> tuple[Account, str] | None:
    row = conn.execute(
        "SELECT a.*, s.csrf FROM sessions s JOIN accounts a ON a.id = s.user_id"
        " WHERE s.id = ? AND s.expires > ?",
        (sid, now()),
    ).fetchone()
    return (_account(row), str(row["csrf"])) if row else None


def delete_session(conn: sqlite3.Connection, sid: str) -> None:
    with transaction(conn):
        conn.execute("DELETE FROM sessions WHERE id = ?", (sid,))
