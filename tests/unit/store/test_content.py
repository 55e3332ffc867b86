from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest

from dockyard.oci.digest import Digest, sha256_bytes
from dockyard.store.content import ContentStore
from dockyard.store.errors import (
    BlobNotFound,
    ContentError,
    DigestMismatch,
    IngestLocked,
    SizeMismatch,
)


@pytest.fixture
def store(tmp_path: Path) -> ContentStore:
    return ContentStore(tmp_path)


def test_put_open_info_walk_delete(store: ContentStore, tmp_path: Path) -> None:
    d = store.put_bytes(b"hello")
    assert d == sha256_bytes(b"hello")
    assert (tmp_path / "content/blobs/sha256" / d.hex).read_bytes() == b"hello"
    assert store.exists(d)
    assert store.info(d).size == 5
    with store.open(d) as f:
        assert f.read() == b"hello"
    assert [b.digest for b in store.walk()] == [d]
    assert store.delete(d)
    assert not store.exists(d)
    assert not store.delete(d)
    with pytest.raises(BlobNotFound):
        store.open(d)
    with pytest.raises(BlobNotFound):
        store.info(d)


def test_digest_mismatch_leaves_nothing(store: ContentStore) -> None:
    wrong = sha256_bytes(b"other")
    with pytest.raises(DigestMismatch):
        store.put_bytes(b"hello", wrong)
    assert list(store.walk()) == []
    assert store.ingests() == []
    assert list(store.ingest_root.iterdir()) == []


def test_size_mismatch_short_and_long(store: ContentStore) -> None:
    with store.writer("r1", size=10) as w:
        w.write(b"abc")
        with pytest.raises(SizeMismatch):
            w.commit()
    with store.writer("r2", size=2) as w, pytest.raises(SizeMismatch):
        w.write(b"abc")
    assert list(store.walk()) == []


def test_blob_not_visible_until_commit(store: ContentStore) -> None:
    data = os.urandom(5000)
    d = sha256_bytes(data)
    w = store.writer("layer-1", d, len(data))
    w.write(data[:100])
    assert not store.exists(d)
    w.write(data[100:])
    assert not store.exists(d)
    assert w.commit() == d
    assert store.exists(d)
    assert store.read_bytes(d) == data


def test_resume_interrupted_ingest(store: ContentStore, tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    d = sha256_bytes(data)
    w = store.writer("pull-layer", d, len(data), keep_on_error=True)
    w.write(data[:1_000_000])
    w.close()  # the connection dropped
    [status] = store.ingests()
    assert (status.ref, status.offset, status.expected, status.total) == (
        "pull-layer",
        1_000_000,
        d,
        len(data),
    )
    again = ContentStore(tmp_path).writer("pull-layer", d, len(data))
    assert again.offset == 1_000_000
    again.write(data[again.offset :])
    assert again.commit() == d
    assert store.read_bytes(d) == data
    assert store.ingests() == []


def test_resume_with_other_expectation_restarts(store: ContentStore) -> None:
    w = store.writer("r", sha256_bytes(b"aaaa"), 4)
    w.write(b"aa")
    w.close()
    w2 = store.writer("r", sha256_bytes(b"bbbb"), 4)
    assert w2.offset == 0
    w2.write(b"bbbb")
    assert w2.commit() == sha256_bytes(b"bbbb")


def test_keep_on_error_context(store: ContentStore) -> None:
    with pytest.raises(RuntimeError), store.writer("k", keep_on_error=True) as w:
        w.write(b"partial")
        raise RuntimeError("network")
    assert [i.offset for i in store.ingests()] == [7]
    with pytest.raises(RuntimeError), store.writer("k2") as w:
        w.write(b"partial")
        raise RuntimeError("bad input")
    assert [i.ref for i in store.ingests()] == ["k"]


def test_concurrent_writer_is_locked(store: ContentStore) -> None:
    w = store.writer("same")
    with pytest.raises(IngestLocked):
        store.writer("same")
    w.abort()
    store.writer("same").abort()


def test_sweep_abandoned_ingests(tmp_path: Path) -> None:
    store = ContentStore(tmp_path, ingest_ttl=60)
    old = store.writer("old", keep_on_error=True)
    old.write(b"x")
    old.close()
    fresh = store.writer("fresh", keep_on_error=True)
    fresh.write(b"y")
    fresh.close()
    live = store.writer("live")
    live.write(b"z")
    past = time.time() - 3600
    for name in ("old", "live"):
        for p in (store.ingest_root / name).iterdir():
            os.utime(p, (past, past))
    reopened = ContentStore(tmp_path, ingest_ttl=60)  # sweeps at open
    refs = {i.ref for i in reopened.ingests()}
    assert refs == {"fresh", "live"}  # "live" is locked by its writer
    live.abort()


def test_ephemeral_ingest_of_dead_writer_is_swept_at_once(tmp_path: Path) -> None:
    import subprocess
    import sys

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    store = ContentStore(tmp_path)
    for ref in (f"put-{dead}-1", f"put-{os.getpid()}-2"):
        w = store.writer(ref)
        w.write(b"half")
        w.close()
    # the dead process's ingest goes; a live process's one waits for the TTL
    assert [i.ref for i in ContentStore(tmp_path).ingests()] == [f"put-{os.getpid()}-2"]


def test_refs_with_slashes_stay_inside(store: ContentStore) -> None:
    w = store.writer("../../etc/evil")
    assert w.dir.parent == store.ingest_root
    w.write(b"x")
    assert w.commit() == sha256_bytes(b"x")


def test_corrupt_and_truncated_blobs_are_detected(store: ContentStore) -> None:
    data = b"0123456789" * 100
    d = store.put_bytes(data)
    path = store.blob_path(d)
    os.chmod(path, 0o644)
    path.write_bytes(data[:500])
    with pytest.raises(SizeMismatch):
        store.verify(d, len(data))
    with pytest.raises(DigestMismatch):
        store.verify(d)
    path.write_bytes(data[:-1] + b"X")
    with pytest.raises(DigestMismatch):
        store.read_bytes(d)


def test_put_stream_limit_and_sha512(store: ContentStore) -> None:
    with pytest.raises(SizeMismatch):
        store.put_stream(io.BytesIO(b"x" * 100), limit=10)
    data = b"sha512 content"
    import hashlib

    d = Digest("sha512", hashlib.sha512(data).hexdigest())
    assert store.put_stream(io.BytesIO(data), d, len(data)) == d
    assert store.blob_path(d).parent.name == "sha512"
    assert store.read_bytes(d) == data


def test_write_after_close_fails(store: ContentStore) -> None:
    w = store.writer("c")
    w.close()
    with pytest.raises(ContentError):
        w.write(b"x")
