"""The store's metadata in SQLite (WAL): images, references, layers, snapshots, uses, leases.

Every change runs in a transaction so that a crash leaves either the old or the new state.
Blob and snapshot reference counts are derived from these tables, which is what makes
garbage collection exact.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dockyard.store.errors import MetadataError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY,
    manifest_digest TEXT NOT NULL,
    manifest_media_type TEXT NOT NULL,
    manifest_size INTEGER NOT NULL,
    config_size INTEGER NOT NULL,
    created TEXT,
    size INTEGER NOT NULL,
    chain_id TEXT,
    parent TEXT,
    added_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS image_layers (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    blob_digest TEXT NOT NULL,
    media_type TEXT NOT NULL,
    blob_size INTEGER NOT NULL,
    diff_id TEXT NOT NULL,
    chain_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (image_id, idx)
);
CREATE INDEX IF NOT EXISTS image_layers_blob ON image_layers(blob_digest);
CREATE INDEX IF NOT EXISTS image_layers_chain ON image_layers(chain_id);
CREATE TABLE IF NOT EXISTS refs (
    name TEXT PRIMARY KEY,
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('tag', 'digest')),
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS refs_image ON refs(image_id);
CREATE TABLE IF NOT EXISTS snapshots (
    chain_id TEXT PRIMARY KEY,
    parent TEXT,
    diff_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS image_uses (
    container_id TEXT PRIMARY KEY,
    image_id TEXT NOT NULL,
    chain_id TEXT
);
CREATE TABLE IF NOT EXISTS leases (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    expires REAL NOT NULL,
    pid INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS lease_resources (
    lease_id TEXT NOT NULL REFERENCES leases(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('blob', 'snapshot', 'ingest')),
    ident TEXT NOT NULL,
    PRIMARY KEY (lease_id, kind, ident)
);
"""


@dataclass(frozen=True)
class ImageRecord:
    id: str
    manifest_digest: str
    manifest_media_type: str
    manifest_size: int
    config_size: int
    created: str | None
    size: int
    chain_id: str | None
    parent: str | None
    added_at: float


@dataclass(frozen=True)
class LayerRecord:
    idx: int
    blob_digest: str
    media_type: str
    blob_size: int
    diff_id: str
    chain_id: str
    size: int


@dataclass(frozen=True)
class RefRecord:
    name: str
    image_id: str
    kind: str
    created: float


@dataclass(frozen=True)
class SnapshotRecord:
    chain_id: str
    parent: str | None
    diff_id: str
    size: int
    created: float


@dataclass(frozen=True)
class ImageUse:
    container_id: str
    image_id: str
    chain_id: str | None


def pid_alive(pid: int) -> bool:
    """Whether a process exists (a lease or extraction of a dead one is garbage)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Metadata:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._depth = 0
        try:
            self._db = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False, timeout=30.0
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed image must survive a power cut, not only a process crash.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA busy_timeout=30000")
            with self.transaction():
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as e:
            raise MetadataError(f"cannot open metadata database {self.path}: {e}") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction; nested uses join the outer one."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._depth = 0
                self._db.execute("ROLLBACK")
                raise
            self._depth = 0
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with self._lock:
            return list(self._db.execute(sql, args).fetchall())

    def _exec(self, sql: str, args: tuple[object, ...] = ()) -> int:
        with self._lock, self.transaction():
            return self._db.execute(sql, args).rowcount

    # images -------------------------------------------------------------------------------

    def add_image(self, rec: ImageRecord, layers: list[LayerRecord]) -> bool:
        """Insert an image and its layers; False (and no change) when the id already exists."""
        with self.transaction():
            if self.get_image(rec.id) is not None:
                return False
            self._db.execute(
                "INSERT INTO images VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    rec.id,
                    rec.manifest_digest,
                    rec.manifest_media_type,
                    rec.manifest_size,
                    rec.config_size,
                    rec.created,
                    rec.size,
                    rec.chain_id,
                    rec.parent,
                    rec.added_at,
                ),
            )
            for layer in layers:
                self._db.execute(
                    "INSERT INTO image_layers VALUES (?,?,?,?,?,?,?,?)",
                    (
                        rec.id,
                        layer.idx,
                        layer.blob_digest,
                        layer.media_type,
                        layer.blob_size,
                        layer.diff_id,
                        layer.chain_id,
                        layer.size,
                    ),
                )
            return True

    def get_image(self, image_id: str) -> ImageRecord | None:
        rows = self._query("SELECT * FROM images WHERE id=?", (image_id,))
        return ImageRecord(*rows[0]) if rows else None  # type: ignore[arg-type]

    def list_images(self) -> list[ImageRecord]:
        rows = self._query("SELECT * FROM images ORDER BY added_at, id")
        return [ImageRecord(*r) for r in rows]  # type: ignore[arg-type]

    def images_with_prefix(self, prefix: str) -> list[str]:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._query(
            "SELECT id FROM images WHERE id LIKE ? ESCAPE '\\' ORDER BY id", (escaped + "%",)
        )
        return [str(r[0]) for r in rows]

    def children(self, image_id: str) -> list[str]:
        return [str(r[0]) for r in self._query("SELECT id FROM images WHERE parent=?", (image_id,))]

    def delete_image(self, image_id: str) -> bool:
        return self._exec("DELETE FROM images WHERE id=?", (image_id,)) > 0

    def layers(self, image_id: str) -> list[LayerRecord]:
        rows = self._query(
            "SELECT idx, blob_digest, media_type, blob_size, diff_id, chain_id, size "
            "FROM image_layers WHERE image_id=? ORDER BY idx",
            (image_id,),
        )
        return [LayerRecord(*r) for r in rows]  # type: ignore[arg-type]

    def images_using_chain(self, chain_id: str) -> list[str]:
        rows = self._query(
            "SELECT DISTINCT image_id FROM image_layers WHERE chain_id=? ORDER BY image_id",
            (chain_id,),
        )
        return [str(r[0]) for r in rows]

    # references ---------------------------------------------------------------------------

    def set_ref(self, name: str, image_id: str, kind: str = "tag") -> str | None:
        """Point ``name`` at an image; returns the image it pointed at before, if another."""
        with self.transaction():
            rows = self._db.execute("SELECT image_id FROM refs WHERE name=?", (name,)).fetchall()
            previous = str(rows[0][0]) if rows else None
            self._db.execute(
                "INSERT INTO refs VALUES (?,?,?,?) ON CONFLICT(name) DO UPDATE SET "
                "image_id=excluded.image_id, kind=excluded.kind, created=excluded.created",
                (name, image_id, kind, time.time()),
            )
            return previous if previous != image_id else None

    def get_ref(self, name: str) -> RefRecord | None:
        rows = self._query("SELECT * FROM refs WHERE name=?", (name,))
        return RefRecord(*rows[0]) if rows else None  # type: ignore[arg-type]

    def delete_ref(self, name: str) -> bool:
        return self._exec("DELETE FROM refs WHERE name=?", (name,)) > 0

    def refs_for_image(self, image_id: str) -> list[RefRecord]:
        rows = self._query(
            "SELECT * FROM refs WHERE image_id=? ORDER BY created, name", (image_id,)
        )
        return [RefRecord(*r) for r in rows]  # type: ignore[arg-type]

    def all_refs(self) -> list[RefRecord]:
        rows = self._query("SELECT * FROM refs ORDER BY name")
        return [RefRecord(*r) for r in rows]  # type: ignore[arg-type]

    # snapshots ----------------------------------------------------------------------------

    def add_snapshot(self, chain_id: str, parent: str | None, diff_id: str, size: int) -> None:
        self._exec(
            "INSERT OR REPLACE INTO snapshots VALUES (?,?,?,?,?)",
            (chain_id, parent, diff_id, size, time.time()),
        )

    def remove_snapshot(self, chain_id: str) -> bool:
        return self._exec("DELETE FROM snapshots WHERE chain_id=?", (chain_id,)) > 0

    def get_snapshot(self, chain_id: str) -> SnapshotRecord | None:
        rows = self._query("SELECT * FROM snapshots WHERE chain_id=?", (chain_id,))
        return SnapshotRecord(*rows[0]) if rows else None  # type: ignore[arg-type]

    def list_snapshots(self) -> list[SnapshotRecord]:
        rows = self._query("SELECT * FROM snapshots ORDER BY created, chain_id")
        return [SnapshotRecord(*r) for r in rows]  # type: ignore[arg-type]

    # containers using images --------------------------------------------------------------

    def add_image_use(self, container_id: str, image_id: str, chain_id: str | None = None) -> None:
        self._exec(
            "INSERT OR REPLACE INTO image_uses VALUES (?,?,?)", (container_id, image_id, chain_id)
        )

    def remove_image_use(self, container_id: str) -> bool:
        return self._exec("DELETE FROM image_uses WHERE container_id=?", (container_id,)) > 0

    def image_users(self, image_id: str) -> list[str]:
        rows = self._query(
            "SELECT container_id FROM image_uses WHERE image_id=? ORDER BY container_id",
            (image_id,),
        )
        return [str(r[0]) for r in rows]

    def image_uses(self) -> list[ImageUse]:
        rows = self._query("SELECT * FROM image_uses ORDER BY container_id")
        return [ImageUse(*r) for r in rows]  # type: ignore[arg-type]

    # leases -------------------------------------------------------------------------------

    def create_lease(self, ttl: float = 3600.0) -> str:
        lease = uuid.uuid4().hex
        now = time.time()
        self._exec("INSERT INTO leases VALUES (?,?,?,?)", (lease, now, now + ttl, os.getpid()))
        return lease

    def add_lease_resource(self, lease: str, kind: str, ident: str) -> None:
        self._exec("INSERT OR IGNORE INTO lease_resources VALUES (?,?,?)", (lease, kind, ident))

    def delete_lease(self, lease: str) -> None:
        self._exec("DELETE FROM leases WHERE id=?", (lease,))

    def leases(self) -> list[str]:
        return [str(r[0]) for r in self._query("SELECT id FROM leases ORDER BY created")]

    def lease_resources(self, kind: str, lease: str | None = None) -> set[str]:
        """What all leases (or the one named) hold of ``kind``."""
        if lease is None:
            rows = self._query("SELECT DISTINCT ident FROM lease_resources WHERE kind=?", (kind,))
        else:
            rows = self._query(
                "SELECT ident FROM lease_resources WHERE kind=? AND lease_id=?", (kind, lease)
            )
        return {str(r[0]) for r in rows}

    def expire_leases(self, now: float | None = None) -> list[str]:
        """Drop leases past their expiry or whose process is gone (a crashed operation)."""
        now = time.time() if now is None else now
        with self.transaction():
            rows = self._db.execute("SELECT id, expires, pid FROM leases").fetchall()
            dead = [
                str(r[0])
                for r in rows
                if float(r[1]) < now or (int(r[2]) != os.getpid() and not pid_alive(int(r[2])))
            ]
            for lease in dead:
                self._db.execute("DELETE FROM leases WHERE id=?", (lease,))
        return dead

    # reference counts ---------------------------------------------------------------------

    def blob_refcounts(self) -> dict[str, int]:
        """How many images and leases hold each blob."""
        counts: dict[str, int] = {}
        for (digest,) in self._query(
            "SELECT manifest_digest FROM images UNION ALL SELECT id FROM images "
            "UNION ALL SELECT blob_digest FROM image_layers "
            "UNION ALL SELECT ident FROM lease_resources WHERE kind='blob'"
        ):
            counts[str(digest)] = counts.get(str(digest), 0) + 1
        return counts

    def blob_refcount(self, digest: str) -> int:
        rows = self._query(
            "SELECT (SELECT COUNT(*) FROM images WHERE manifest_digest=?1 OR id=?1)"
            " + (SELECT COUNT(*) FROM image_layers WHERE blob_digest=?1)"
            " + (SELECT COUNT(*) FROM lease_resources WHERE kind='blob' AND ident=?1)",
            (digest,),
        )
        value = rows[0][0]
        assert isinstance(value, int)
        return value

    def chain_refcounts(self) -> dict[str, int]:
        """How many images, containers and leases hold each layer chain id."""
        counts: dict[str, int] = {}
        for (chain,) in self._query(
            "SELECT chain_id FROM image_layers "
            "UNION ALL SELECT chain_id FROM image_uses WHERE chain_id IS NOT NULL "
            "UNION ALL SELECT ident FROM lease_resources WHERE kind='snapshot'"
        ):
            counts[str(chain)] = counts.get(str(chain), 0) + 1
        return counts
