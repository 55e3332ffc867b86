"""Registry and token authority over a temporary SQLite db and blob dir."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from dockyard.hub import accounts
from dockyard.hub.auth import Authority
from dockyard.hub.blobs import BlobStore
from dockyard.hub.db import connect
from dockyard.hub.errors import AccountError, RegistryError, TokenError
from dockyard.hub.registry import Registry
from dockyard.hub.scopes import parse_scopes
from dockyard.oci.digest import Digest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    return connect(tmp_path / "hub.db")


@pytest.fixture
def reg(conn: sqlite3.Connection, tmp_path: Path) -> Registry:
    return Registry(conn, BlobStore(tmp_path), default_private=False)


def put_blob(reg: Registry, repo: str, data: bytes, upload_id: str = "u" * 20) -> Digest:
    reg.new_upload(repo, upload_id)
    reg.store.upload_path(upload_id).write_bytes(data)
    d = Digest("sha256", hashlib.sha256(data).hexdigest())
    reg.commit_upload(repo, upload_id, d, len(data))
    return d


def manifest(cfg: Digest, size: int) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": str(cfg),
                "size": size,
            },
            "layers": [],
        }
    ).encode()


def test_blob_commit_links_and_shares_storage(reg: Registry) -> None:
    d = put_blob(reg, "alice/a", b"{}")
    assert reg.blob_size("alice/a", d) == 2
    assert reg.blob_size("alice/b", d) is None  # not linked there
    assert reg.link_blob("alice/b", d)
    assert reg.blob_size("alice/b", d) == 2
    assert not reg.store.upload_path("u" * 20).exists()


def test_manifest_needs_its_blobs_in_the_same_repo(reg: Registry) -> None:
    d = put_blob(reg, "alice/a", b"{}")
    with pytest.raises(RegistryError) as e:
        reg.put_manifest("alice/b", "v1", manifest(d, 2), OCI_MANIFEST)
    assert e.value.code == "MANIFEST_BLOB_UNKNOWN"
    with pytest.raises(RegistryError) as e:
        reg.put_manifest("alice/a", "v1", manifest(d, 3), OCI_MANIFEST)
    assert e.value.code == "MANIFEST_INVALID"  # size disagrees with the stored blob
    parsed = reg.put_manifest("alice/a", "v1", manifest(d, 2), OCI_MANIFEST)
    got = reg.get_manifest("alice/a", "v1")
    assert got.digest == parsed.digest and got.content == manifest(d, 2)
    assert reg.get_manifest("alice/a", parsed.digest).media_type == OCI_MANIFEST


def test_put_by_wrong_digest_is_refused(reg: Registry) -> None:
    d = put_blob(reg, "alice/a", b"{}")
    with pytest.raises(RegistryError) as e:
        reg.put_manifest("alice/a", "sha256:" + "0" * 64, manifest(d, 2), OCI_MANIFEST)
    assert e.value.code == "DIGEST_INVALID"


def test_delete_tag_then_manifest(reg: Registry) -> None:
    d = put_blob(reg, "alice/a", b"{}")
    p = reg.put_manifest("alice/a", "v1", manifest(d, 2), OCI_MANIFEST)
    reg.put_manifest("alice/a", "v2", manifest(d, 2), OCI_MANIFEST)
    reg.delete_manifest("alice/a", "v1")
    assert reg.tags("alice/a", 10, "") == ["v2"]
    reg.delete_manifest("alice/a", p.digest)
    assert reg.tags("alice/a", 10, "") == []
    with pytest.raises(RegistryError) as e:
        reg.get_manifest("alice/a", p.digest)
    assert e.value.code == "MANIFEST_UNKNOWN"


def test_tag_pagination(reg: Registry) -> None:
    d = put_blob(reg, "alice/a", b"{}")
    for t in ("c", "a", "b", "d"):
        reg.put_manifest("alice/a", t, manifest(d, 2), OCI_MANIFEST)
    assert reg.tags("alice/a", 2, "") == ["a", "b"]
    assert reg.tags("alice/a", 2, "b") == ["c", "d"]


def test_accounts_and_authority(conn: sqlite3.Connection, reg: Registry) -> None:
    accounts.create_user(conn, "alice", "password-a")
    accounts.create_user(conn, "bob", "password-b")
    with pytest.raises(AccountError):
        accounts.create_user(conn, "alice", "password-x")
    with pytest.raises(AccountError):
        accounts.create_user(conn, "carol", "short")
    assert accounts.authenticate(conn, "alice", "password-b") is None
    assert accounts.authenticate(conn, "nobody", "password-b") is None
    found = accounts.authenticate(conn, "alice", "password-a")
    assert found is not None and found.account.name == "alice" and not found.read_only
    token = accounts.create_access_token(conn, "alice", "ci", "read")
    by_token = accounts.authenticate(conn, "alice", token)
    assert by_token is not None and by_token.read_only
    assert accounts.authenticate(conn, "bob", token) is None  # another user's token

    auth = Authority(b"k" * 32, "dockyard-hub", "dockyard-hub", 300, conn)
    alice = accounts.principal(conn, found.account, read_only=False)
    scopes = parse_scopes(
        [
            "repository:alice/web:pull,push",
            "repository:bob/x:push",
            "repository:busybox:pull,push",
            "registry:catalog:*",
        ]
    )
    granted = {(s.type, s.name): s.actions for s in auth.grant_scopes(alice, scopes, reg)}
    assert granted[("repository", "alice/web")] == {"pull", "push"}
    assert granted[("repository", "bob/x")] == set()
    assert granted[("repository", "busybox")] == set()  # library, not yet pushed
    assert granted[("registry", "catalog")] == {"*"}
    body = auth.issue("alice", auth.grant_scopes(alice, scopes, reg))
    grant = auth.verify(body["token"])
    assert grant.actions("alice/web") == {"pull", "push"}
    assert grant.subject == "alice" and grant.catalog
    other = Authority(b"z" * 32, "dockyard-hub", "dockyard-hub", 300, conn)
    with pytest.raises(TokenError):
        other.verify(body["token"])
    refresh = auth.refresh_token("alice", found.credential)
    assert auth.check_refresh(refresh).account.name == "alice"
    with pytest.raises(TokenError):
        auth.check_refresh(body["token"])  # an access token is not a refresh token
    with pytest.raises(TokenError):
        auth.verify(refresh)  # and the other way round
    # a refresh token made from a read-only access token stays read-only, and dies with it
    ro_refresh = auth.refresh_token("alice", by_token.credential)
    assert auth.check_refresh(ro_refresh).read_only
    (tok_row,) = accounts.list_access_tokens(conn, "alice")
    accounts.revoke_access_token(conn, "alice", tok_row["id"])
    with pytest.raises(TokenError, match="no longer valid"):
        auth.check_refresh(ro_refresh)
    # and one made from a password dies when the password changes, as do web sessions
    sid, _ = accounts.create_session(conn, found.account)
    assert accounts.session_account(conn, sid) is not None
    accounts.set_password(conn, "alice", "password-new")
    assert accounts.session_account(conn, sid) is None
    with pytest.raises(TokenError, match="no longer valid"):
        auth.check_refresh(refresh)


def test_orgs_and_teams(conn: sqlite3.Connection) -> None:
    for u in ("carol", "dave", "erin"):
        accounts.create_user(conn, u, "password-" + u)
    accounts.create_org(conn, "acme", "carol")
    accounts.create_team(conn, "acme", "devs")
    accounts.add_team_member(conn, "acme", "devs", "dave")
    accounts.grant_team(conn, "acme", "devs", "app", "push")
    with pytest.raises(AccountError):
        accounts.grant_team(conn, "acme", "devs", "other/app", "push")
    with pytest.raises(AccountError):
        accounts.remove_member(conn, "acme", "carol")  # the last owner stays
    dave = accounts.get_account(conn, "dave")
    assert dave is not None
    p = accounts.principal(conn, dave)
    assert p.orgs == {"acme": "member"} and p.team_perms == {"acme/app": "push"}
    overview = accounts.org_overview(conn, "acme")
    assert overview["members"] == [("carol", "owner"), ("dave", "member")]
