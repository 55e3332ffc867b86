from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from dockyard.store.metadata import ImageRecord, LayerRecord, Metadata

IMG = "sha256:" + "a" * 64
IMG2 = "sha256:" + "b" * 64
L1 = "sha256:" + "1" * 64
L2 = "sha256:" + "2" * 64
M1 = "sha256:" + "e" * 64


def rec(image_id: str = IMG, manifest: str = M1, parent: str | None = None) -> ImageRecord:
    return ImageRecord(image_id, manifest, "m", 10, 20, None, 30, L2, parent, 1.0)


def layers() -> list[LayerRecord]:
    return [
        LayerRecord(0, L1, "t", 5, L1, L1, 5),
        LayerRecord(1, L2, "t", 6, L2, "sha256:" + "c" * 64, 6),
    ]


@pytest.fixture
def db(tmp_path: Path) -> Metadata:
    return Metadata(tmp_path / "meta.db")


def test_wal_mode(db: Metadata) -> None:
    conn = sqlite3.connect(db.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_images_layers_refs(db: Metadata) -> None:
    assert db.add_image(rec(), layers())
    assert not db.add_image(rec(), layers())  # same id: no change
    assert db.get_image(IMG) == rec()
    assert db.layers(IMG) == layers()
    assert db.images_with_prefix("sha256:aaa") == [IMG]
    assert db.images_with_prefix("sha256:a%") == []  # LIKE wildcards are escaped
    assert db.set_ref("docker.io/library/x:latest", IMG) is None
    db.add_image(rec(IMG2, "sha256:" + "f" * 64), [])
    assert db.set_ref("docker.io/library/x:latest", IMG2) == IMG  # tag moved
    assert [r.name for r in db.refs_for_image(IMG2)] == ["docker.io/library/x:latest"]
    assert db.delete_image(IMG2)
    assert db.get_ref("docker.io/library/x:latest") is None  # cascade


def test_transaction_rolls_back(db: Metadata) -> None:
    with pytest.raises(RuntimeError), db.transaction():
        db.add_image(rec(), layers())
        db.set_ref("docker.io/library/x:latest", IMG)
        raise RuntimeError("crash in the middle")
    assert db.get_image(IMG) is None
    assert db.layers(IMG) == []
    assert db.all_refs() == []


def test_refcounts_are_exact(db: Metadata) -> None:
    db.add_image(rec(), layers())
    db.add_image(rec(IMG2, M1), [LayerRecord(0, L1, "t", 5, L1, L1, 5)])
    counts = db.blob_refcounts()
    assert counts[L1] == 2
    assert counts[L2] == 1
    assert counts[M1] == 2
    assert counts[IMG] == 1
    lease = db.create_lease()
    db.add_lease_resource(lease, "blob", L2)
    assert db.blob_refcounts()[L2] == 2
    db.delete_lease(lease)
    assert db.blob_refcounts()[L2] == 1
    chains = db.chain_refcounts()
    assert chains[L1] == 2
    db.add_image_use("c1", IMG, L2)
    assert db.chain_refcounts()[L2] == 1
    assert db.image_users(IMG) == ["c1"]
    assert db.remove_image_use("c1")
    assert db.image_users(IMG) == []


def test_expired_and_orphaned_leases(db: Metadata, tmp_path: Path) -> None:
    short = db.create_lease(ttl=-1)
    mine = db.create_lease()
    # a lease made by a process that has since died
    code = (
        "from dockyard.store.metadata import Metadata; import sys;"
        f"print(Metadata(__import__('pathlib').Path({str(db.path)!r})).create_lease())"
    )
    dead = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert set(db.expire_leases()) == {short, dead}
    assert db.leases() == [mine]


def test_snapshots(db: Metadata) -> None:
    db.add_snapshot(L1, None, L1, 5)
    db.add_snapshot("sha256:" + "c" * 64, L1, L2, 6)
    assert [s.chain_id for s in db.list_snapshots()] == [L1, "sha256:" + "c" * 64]
    assert db.get_snapshot(L1) is not None
    assert db.remove_snapshot(L1)
    assert db.get_snapshot(L1) is None


def test_children(db: Metadata) -> None:
    db.add_image(rec(), [])
    db.add_image(rec(IMG2, M1, parent=IMG), [])
    assert db.children(IMG) == [IMG2]
