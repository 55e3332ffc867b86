"""Garbage collection that runs while the hub serves (no read-only window).

Marking is a pure function of the db rows. Every deletion runs inside a db write
transaction that first re-checks that nothing new refers to the item, and blob
files are unlinked inside that same transaction: a manifest PUT or an upload commit
(which rename and record under the same lock) therefore either sees the blob gone
or keeps it alive — never a row without its file.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass

from dockyard.hub.blobs import BlobStore
from dockyard.hub.config import Config
from dockyard.hub.db import connect, transaction
from dockyard.oci.digest import Digest, InvalidDigest


@dataclass
class Report:
    manifests: int = 0
    blob_links: int = 0
    blobs: int = 0
    uploads: int = 0
    bytes_freed: int = 0
    dry_run: bool = False

    def __str__(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        return (
            f"{verb} {self.manifests} manifests, {self.blob_links} blob links, "
            f"{self.blobs} blobs ({self.bytes_freed} bytes), {self.uploads} abandoned uploads"
        )


def live_manifests(
    manifests: Iterable[tuple[str, str, str | None]],
    tags: Iterable[tuple[str, str]],
    refs: Iterable[tuple[str, str, str]],
) -> set[tuple[str, str]]:
    """(repo, digest) of manifests to keep: tagged ones, their children, and referrers
    of kept manifests (an attached signature lives as long as its subject)."""
    children: dict[tuple[str, str], list[str]] = {}
    for repo, parent, child in refs:
        children.setdefault((repo, parent), []).append(child)
    referrers: dict[tuple[str, str], list[str]] = {}
    known = set()
    for repo, digest, subject in manifests:
        known.add((repo, digest))
        if subject:
            referrers.setdefault((repo, subject), []).append(digest)
    stack = [(repo, digest) for repo, digest in tags if (repo, digest) in known]
    live: set[tuple[str, str]] = set()
    while stack:
        key = stack.pop()
        if key in live:
            continue
        live.add(key)
        repo, _ = key
        for child in children.get(key, []):
            if (repo, child) in known:
                stack.append((repo, child))
        for ref in referrers.get(key, []):
            stack.append((repo, ref))
    return live


def collect(config: Config, busy_uploads: set[str], *, dry_run: bool = False) -> Report:
    conn = connect(config.data / "hub.db")
    store = BlobStore(config.data)
    report = Report(dry_run=dry_run)
    now = time.time()
    try:
        # 1. untagged manifests nothing live refers to, once old enough that they are
        # not the children of an index being pushed right now
        cutoff = now - config.gc_grace
        created = {
            (r["repo"], r["digest"]): r["created"]
            for r in conn.execute("SELECT repo, digest, created FROM manifests")
        }
        manifests = [
            (r["repo"], r["digest"], r["subject"])
            for r in conn.execute("SELECT repo, digest, subject FROM manifests")
        ]
        tags = [(r["repo"], r["digest"]) for r in conn.execute("SELECT repo, digest FROM tags")]
        refs = [
            (r["repo"], r["parent"], r["child"])
            for r in conn.execute("SELECT repo, parent, child FROM manifest_refs")
        ]
        live = live_manifests(manifests, tags, refs)
        dead = [
            (repo, d)
            for repo, d, _ in manifests
            if (repo, d) not in live and created.get((repo, d), now) < cutoff
        ]
        for repo, digest in dead:
            if dry_run:
                report.manifests += 1
                continue
            with transaction(conn):
                # Re-check under the lock: a tag or an index may have come since marking.
                if (
                    conn.execute(
                        "SELECT 1 FROM tags WHERE repo = ? AND digest = ?", (repo, digest)
                    ).fetchone()
                    or conn.execute(
                        "SELECT 1 FROM manifest_refs WHERE repo = ? AND child = ? AND kind ="
                        " 'manifest'",
                        (repo, digest),
                    ).fetchone()
                ):
                    continue
                conn.execute("DELETE FROM manifests WHERE repo = ? AND digest = ?", (repo, digest))
                conn.execute(
                    "DELETE FROM manifest_refs WHERE repo = ? AND parent = ?", (repo, digest)
                )
                report.manifests += 1

        # 2. repository links to blobs no manifest of that repository needs, once old
        links = conn.execute(
            "SELECT l.repo, l.digest FROM repo_blobs l WHERE l.created < ? AND NOT EXISTS"
            " (SELECT 1 FROM manifest_refs r WHERE r.repo = l.repo AND r.child = l.digest)",
            (cutoff,),
        ).fetchall()
        for link in links:
            if dry_run:
                report.blob_links += 1
                continue
            with transaction(conn):
                cur = conn.execute(
                    "DELETE FROM repo_blobs WHERE repo = ? AND digest = ? AND created < ?"
                    " AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.repo = ?"
                    " AND r.child = ?)",
                    (link["repo"], link["digest"], cutoff, link["repo"], link["digest"]),
                )
                report.blob_links += cur.rowcount

        # 3. blobs no repository links, once old
        orphans = conn.execute(
            "SELECT b.digest FROM blobs b WHERE b.created < ? AND NOT EXISTS"
            " (SELECT 1 FROM repo_blobs l WHERE l.digest = b.digest)",
            (cutoff,),
        ).fetchall()
        for row in orphans:
            if dry_run:
                report.blobs += 1
                continue
            with transaction(conn):
                blob = conn.execute(
                    "SELECT size FROM blobs b WHERE digest = ? AND created < ? AND NOT EXISTS"
                    " (SELECT 1 FROM repo_blobs l WHERE l.digest = b.digest)",
                    (row["digest"], cutoff),
                ).fetchone()
                if blob is None:
                    continue
                conn.execute("DELETE FROM blobs WHERE digest = ?", (row["digest"],))
                with contextlib.suppress(InvalidDigest):
                    store.remove_blob(Digest.parse(row["digest"]))
                report.blobs += 1
                report.bytes_freed += int(blob["size"])

        # 4. blob files with no row at all (a crash between rename and commit cannot
        # leave one, but a hand-copied data dir can), once old
        if not dry_run:
            for digest in store.blob_files():
                path = store.path(digest)
                try:
                    old = path.stat().st_mtime < cutoff
                except FileNotFoundError:
                    continue
                if not old:
                    continue
                with transaction(conn):
                    if (
                        conn.execute(
                            "SELECT 1 FROM blobs WHERE digest = ?", (str(digest),)
                        ).fetchone()
                        is None
                    ):
                        store.remove_blob(digest)
                        report.blobs += 1

        # 5. uploads untouched for longer than the TTL, and upload dirs with no row
        stale = {
            r["id"]
            for r in conn.execute(
                "SELECT id FROM uploads WHERE updated < ?", (now - config.upload_ttl,)
            )
        }
        known = {r["id"] for r in conn.execute("SELECT id FROM uploads")}
        for upload_id in store.upload_ids():
            if upload_id in busy_uploads:
                continue
            if upload_id in stale or upload_id not in known:
                try:
                    age = store.upload_path(upload_id).parent.stat().st_mtime
                except FileNotFoundError:
                    continue
                if upload_id not in known and age > now - config.upload_ttl:
                    continue  # being created right now: its row is on the way
                if not dry_run:
                    with transaction(conn):
                        conn.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))
                    store.remove_upload(upload_id)
                report.uploads += 1
        if not dry_run:
            with transaction(conn):
                for upload_id in stale - set(store.upload_ids()):
                    conn.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))
    finally:
        conn.close()
    return report
