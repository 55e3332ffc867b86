"""Repository contents: blob links, manifests, tags, referrers (db + blob store)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from dockyard.hub.access import RepoFacts
from dockyard.hub.blobs import BlobStore
from dockyard.hub.db import now, transaction
from dockyard.hub.errors import InvalidName, RegistryError
from dockyard.hub.manifests import OCI_INDEX, ParsedManifest, parse_manifest
from dockyard.hub.names import namespace, validate_tag
from dockyard.oci.digest import Digest, InvalidDigest, digest_bytes


@dataclass(frozen=True)
class StoredManifest:
    digest: str
    media_type: str
    content: bytes


def parse_digest(value: str, code: str = "DIGEST_INVALID") -> Digest:
    try:
        return Digest.parse(value)
    except InvalidDigest as e:
        raise RegistryError(code, str(e)) from e


def is_digest_ref(reference: str) -> bool:
    return ":" in reference


class Registry:
    def __init__(self, conn: sqlite3.Connection, store: BlobStore, default_private: bool) -> None:
        self.conn = conn
        self.store = store
        self.default_private = default_private

    # --- repositories --------------------------------------------------------------

    def facts(self, repo: str) -> RepoFacts:
        row = self.conn.execute("SELECT private FROM repos WHERE name = ?", (repo,)).fetchone()
        return RepoFacts(repo, row is not None, bool(row["private"]) if row else False)

    def _ensure_repo(self, repo: str) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO repos (name, namespace, private, created) VALUES (?, ?, ?, ?)",
            (repo, namespace(repo), int(self.default_private), now()),
        )

    # --- blobs ---------------------------------------------------------------------

    def blob_size(self, repo: str, digest: Digest) -> int | None:
        row = self.conn.execute(
            "SELECT b.size FROM repo_blobs r JOIN blobs b ON b.digest = r.digest"
            " WHERE r.repo = ? AND r.digest = ?",
            (repo, str(digest)),
        ).fetchone()
        if row is None or not self.store.exists(digest):
            return None
        return int(row["size"])

    def refresh_link(self, repo: str, digest: Digest, older_than: float) -> None:
        """Restart the grace period of a link a client just checked before pushing a
        manifest that needs it (a HEAD says "I will rely on this blob")."""
        self.conn.execute(
            "UPDATE repo_blobs SET created = ? WHERE repo = ? AND digest = ? AND created < ?",
            (now(), repo, str(digest), now() - older_than),
        )

    def refresh_manifest(self, repo: str, digest: str, older_than: float) -> None:
        """The same for a manifest a pusher checked (a child of an index to come)."""
        self.conn.execute(
            "UPDATE manifests SET created = ? WHERE repo = ? AND digest = ? AND created < ?",
            (now(), repo, digest, now() - older_than),
        )

    def link_blob(self, repo: str, digest: Digest) -> bool:
        """Link an existing blob into `repo`; False when the blob is not stored."""
        with transaction(self.conn):
            row = self.conn.execute(
                "SELECT 1 FROM blobs WHERE digest = ?", (str(digest),)
            ).fetchone()
            if row is None or not self.store.exists(digest):
                return False
            self._ensure_repo(repo)
            self.conn.execute(
                "INSERT INTO repo_blobs (repo, digest, created) VALUES (?, ?, ?)"
                " ON CONFLICT DO UPDATE SET created = excluded.created",
                (repo, str(digest), now()),
            )
        return True

    def repos_with_blob(self, digest: Digest, limit: int = 100) -> list[str]:
        return [
            r["repo"]
            for r in self.conn.execute(
                "SELECT repo FROM repo_blobs WHERE digest = ? LIMIT ?", (str(digest), limit)
            )
        ]

    def commit_upload(self, repo: str, upload_id: str, digest: Digest, size: int) -> None:
        """Make a verified upload a blob: rename and record in one db write lock, so that
        an online collection can never delete the file between the two."""
        with transaction(self.conn):
            if self.store.exists(digest):
                self.store.remove_upload(upload_id)
            else:
                self.store.promote(upload_id, digest)
            self.conn.execute(
                "INSERT INTO blobs (digest, size, created) VALUES (?, ?, ?)"
                " ON CONFLICT DO UPDATE SET created = excluded.created",
                (str(digest), size, now()),
            )
            self._ensure_repo(repo)
            self.conn.execute(
                "INSERT INTO repo_blobs (repo, digest, created) VALUES (?, ?, ?)"
                " ON CONFLICT DO UPDATE SET created = excluded.created",
                (repo, str(digest), now()),
            )
            self.conn.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))

    def delete_blob(self, repo: str, digest: Digest) -> None:
        with transaction(self.conn):
            cur = self.conn.execute(
                "DELETE FROM repo_blobs WHERE repo = ? AND digest = ?", (repo, str(digest))
            )
        if cur.rowcount == 0:
            raise RegistryError("BLOB_UNKNOWN", detail={"digest": str(digest)})

    # --- uploads -------------------------------------------------------------------

    def new_upload(self, repo: str, upload_id: str) -> None:
        self.store.create_upload(upload_id)
        with transaction(self.conn):
            self.conn.execute(
                "INSERT INTO uploads (id, repo, created, updated) VALUES (?, ?, ?, ?)",
                (upload_id, repo, now(), now()),
            )

    def check_upload(self, repo: str, upload_id: str) -> int:
        """The upload's offset; BLOB_UPLOAD_UNKNOWN unless it belongs to `repo`."""
        row = self.conn.execute("SELECT repo FROM uploads WHERE id = ?", (upload_id,)).fetchone()
        if row is None or row["repo"] != repo:
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", detail={"uuid": upload_id})
        return self.store.upload_size(upload_id)

    def touch_upload(self, upload_id: str) -> None:
        self.conn.execute("UPDATE uploads SET updated = ? WHERE id = ?", (now(), upload_id))

    def cancel_upload(self, repo: str, upload_id: str) -> None:
        self.check_upload(repo, upload_id)
        with transaction(self.conn):
            self.conn.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))
        self.store.remove_upload(upload_id)

    # --- manifests -----------------------------------------------------------------

    def put_manifest(
        self, repo: str, reference: str, body: bytes, content_type: str | None
    ) -> ParsedManifest:
        if is_digest_ref(reference):
            want = parse_digest(reference)
            got = digest_bytes(body, want.algorithm)
            if got != want:
                raise RegistryError(
                    "DIGEST_INVALID",
                    f"manifest digest is {got}, not {want}",
                    detail={"digest": str(want)},
                )
            tag = None
        else:
            try:
                tag = validate_tag(reference)
            except InvalidName as e:
                raise RegistryError("MANIFEST_INVALID", str(e)) from e
            got = digest_bytes(body)
        parsed = parse_manifest(body, content_type, str(got))
        t = now()
        with transaction(self.conn):
            missing = []
            for d in parsed.blobs:
                row = self.conn.execute(
                    "SELECT b.size FROM repo_blobs r JOIN blobs b ON b.digest = r.digest"
                    " WHERE r.repo = ? AND r.digest = ?",
                    (repo, d.digest),
                ).fetchone()
                if row is None:
                    missing.append(d.digest)
                elif int(row["size"]) != d.size:
                    raise RegistryError(
                        "MANIFEST_INVALID",
                        f"blob {d.digest} has size {row['size']}, manifest says {d.size}",
                    )
            for d in parsed.children:
                row = self.conn.execute(
                    "SELECT size FROM manifests WHERE repo = ? AND digest = ?", (repo, d.digest)
                ).fetchone()
                if row is None:
                    missing.append(d.digest)
                elif int(row["size"]) != d.size:
                    raise RegistryError(
                        "MANIFEST_INVALID",
                        f"manifest {d.digest} has size {row['size']}, index says {d.size}",
                    )
            if missing:
                raise RegistryError(
                    "MANIFEST_BLOB_UNKNOWN",
                    f"unknown blob or manifest {missing[0]}",
                    detail={"digest": missing[0]},
                )
            self._ensure_repo(repo)
            self.conn.execute(
                "INSERT INTO manifests (repo, digest, media_type, artifact_type, subject,"
                " annotations, size, content, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (
                    repo,
                    parsed.digest,
                    parsed.media_type,
                    parsed.artifact_type,
                    parsed.subject.digest if parsed.subject else None,
                    json.dumps(parsed.annotations) if parsed.annotations else None,
                    len(body),
                    body,
                    t,
                ),
            )
            for d in parsed.blobs:
                self._ref(repo, parsed.digest, d.digest, "blob")
            for d in parsed.children:
                self._ref(repo, parsed.digest, d.digest, "manifest")
            if tag is not None:
                self.conn.execute(
                    "INSERT INTO tags (repo, name, digest, updated) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT DO UPDATE SET digest = excluded.digest,"
                    " updated = excluded.updated",
                    (repo, tag, parsed.digest, t),
                )
            self.conn.execute("UPDATE repos SET pushed = ? WHERE name = ?", (t, repo))
        return parsed

    def _ref(self, repo: str, parent: str, child: str, kind: str) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO manifest_refs (repo, parent, child, kind) VALUES (?, ?, ?, ?)",
            (repo, parent, child, kind),
        )

    def resolve(self, repo: str, reference: str) -> str | None:
        if is_digest_ref(reference):
            parse_digest(reference, "MANIFEST_UNKNOWN")
            return reference
        try:
            validate_tag(reference)
        except InvalidName as e:
            raise RegistryError("MANIFEST_UNKNOWN", str(e)) from e
        row = self.conn.execute(
            "SELECT digest FROM tags WHERE repo = ? AND name = ?", (repo, reference)
        ).fetchone()
        return str(row["digest"]) if row else None

    def get_manifest(self, repo: str, reference: str) -> StoredManifest:
        digest = self.resolve(repo, reference)
        row = None
        if digest is not None:
            row = self.conn.execute(
                "SELECT media_type, content FROM manifests WHERE repo = ? AND digest = ?",
                (repo, digest),
            ).fetchone()
        if row is None:
            raise RegistryError(
                "MANIFEST_UNKNOWN",
                f"manifest unknown: {reference}",
                detail={"tag": reference}
                if not is_digest_ref(reference)
                else {"digest": reference},
            )
        assert digest is not None
        return StoredManifest(digest, str(row["media_type"]), bytes(row["content"]))

    def count_pull(self, repo: str) -> None:
        self.conn.execute("UPDATE repos SET pulls = pulls + 1 WHERE name = ?", (repo,))

    def delete_manifest(self, repo: str, reference: str) -> None:
        with transaction(self.conn):
            if not is_digest_ref(reference):
                cur = self.conn.execute(
                    "DELETE FROM tags WHERE repo = ? AND name = ?", (repo, reference)
                )
                if cur.rowcount == 0:
                    raise RegistryError("MANIFEST_UNKNOWN", f"tag unknown: {reference}")
                return
            parse_digest(reference)
            cur = self.conn.execute(
                "DELETE FROM manifests WHERE repo = ? AND digest = ?", (repo, reference)
            )
            if cur.rowcount == 0:
                raise RegistryError("MANIFEST_UNKNOWN", detail={"digest": reference})
            self.conn.execute("DELETE FROM tags WHERE repo = ? AND digest = ?", (repo, reference))
            self.conn.execute(
                "DELETE FROM manifest_refs WHERE repo = ? AND parent = ?", (repo, reference)
            )

    # --- listings ------------------------------------------------------------------

    def tags(self, repo: str, n: int, last: str) -> list[str]:
        return [
            r["name"]
            for r in self.conn.execute(
                "SELECT name FROM tags WHERE repo = ? AND name > ? ORDER BY name LIMIT ?",
                (repo, last, n),
            )
        ]

    def has_repo_content(self, repo: str) -> bool:
        return (
            self.conn.execute("SELECT 1 FROM manifests WHERE repo = ? LIMIT 1", (repo,)).fetchone()
            is not None
        )

    def catalog_page(self, last: str, limit: int) -> list[sqlite3.Row]:
        return self.conn.execute(
            "SELECT name, private FROM repos WHERE name > ? ORDER BY name LIMIT ?",
            (last, limit),
        ).fetchall()

    def referrers(self, repo: str, subject: str, artifact_type: str | None) -> dict[str, object]:
        rows = self.conn.execute(
            "SELECT digest, media_type, artifact_type, annotations, size FROM manifests"
            " WHERE repo = ? AND subject = ? ORDER BY created, digest",
            (repo, subject),
        ).fetchall()
        out = []
        for r in rows:
            if artifact_type is not None and r["artifact_type"] != artifact_type:
                continue
            desc: dict[str, object] = {
                "mediaType": r["media_type"],
                "digest": r["digest"],
                "size": r["size"],
            }
            if r["artifact_type"]:
                desc["artifactType"] = r["artifact_type"]
            if r["annotations"]:
                desc["annotations"] = json.loads(r["annotations"])
            out.append(desc)
        return {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": out}
