"""Pull applies layers while they download: same snapshots as unpacking afterwards, nothing
left by a layer whose bytes are wrong, resumes still work."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Any

import dockyard_distribution_test_support as ds  # type: ignore[import-not-found]
import pytest

from dockyard.distribution.auth import Credentials
from dockyard.distribution.errors import InvalidResponse
from dockyard.distribution.pull import pull
from dockyard.distribution.push import push
from dockyard.store.images import ImageStore
from dockyard.store.snapshots.base import Snapshotter
from dockyard.store.snapshots.state import Info

sys.path.insert(0, str(Path(__file__).parent))
import images

pytestmark = pytest.mark.root

ALICE = Credentials("alice", "alice-pass-1")


def _tree(root: Path) -> dict[str, str]:
    """Path → kind and content hash of every entry under ``root``."""
    out: dict[str, str] = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
            elif p.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _snapshots(store: ImageStore) -> list[Info]:
    # The store types its snapshotter by what it uses; listing is the base class's.
    assert isinstance(store.snapshotter, Snapshotter)
    return store.snapshotter.list()


def _rootfs(store: Any, chain: str) -> dict[str, str]:
    """The merged view of a chain: lower layers first, upper entries replacing them."""
    snap = store.snapshotter
    chains = []
    name: str | None = chain
    while name is not None:
        chains.append(name)
        name = snap.parent(name)
    merged: dict[str, str] = {}
    for c in reversed(chains):
        merged.update(_tree(snap.fs_dir(snap.info(c).id)))
    return merged


@pytest.fixture(scope="module")
def layered(hub: Any, source_store: Any) -> str:
    """busybox plus four layers (a big one, many small files, one overwriting, one more)."""
    ref = f"{hub.addr}/alice/layered:1"
    images.derive(
        source_store,
        "busybox:latest",
        ref,
        [
            images.random_files(3_000_000, 3, "big"),
            images.random_files(400_000, 200, "small"),
            {"data/big-0.bin": b"replaced", "etc/motd": b"hello\n"},
            images.random_files(1_500_000, 5, "top"),
        ],
    )
    push(source_store, ref, creds=ALICE)
    return ref


def test_pipelined_pull_matches_unpacking_afterwards(
    layered: str, source_store: Any, tmp_path: Path
) -> None:
    streamed = ImageStore(tmp_path / "streamed")
    later = ImageStore(tmp_path / "later")
    try:
        msgs: list[dict[str, Any]] = []
        a = pull(streamed, layered, creds=ALICE, progress=msgs.append)
        b = pull(later, layered, creds=ALICE, unpack=False)
        assert a.image_id == b.image_id == source_store.get(layered).id
        # Diff ids came from applying the stream: the store did not read the blobs again.
        assert a.diff_ids_computed == 5
        snaps = [r.chain_id for r in streamed.layers(a.image_id)]
        assert all(streamed.snapshotter.exists(c) for c in snaps)
        assert all(streamed.meta.get_snapshot(c) is not None for c in snaps)
        top = later.ensure_unpacked(b.image_id)
        assert top == snaps[-1]
        assert _rootfs(streamed, top) == _rootfs(later, top)
        assert "data/small-7.bin" in _rootfs(streamed, top)
        statuses = [m.get("status") for m in msgs]
        assert statuses.count("Extracting") == 5 and statuses.count("Pull complete") == 5
        assert not [s for s in _snapshots(streamed) if s.name.startswith("extract-")]
        streamed.verify(layered, deep=True)
        # Nothing is applied twice: a second image sharing the layers pulls without extracting.
        msgs.clear()
        streamed.untag(layered)
        pull(streamed, layered, creds=ALICE, progress=msgs.append)
        assert "Extracting" not in [m.get("status") for m in msgs]
    finally:
        streamed.close()
        later.close()


@pytest.mark.parametrize("cut_after", [1_000_000, 2_500_000])
def test_corrupted_byte_leaves_nothing_and_retry_succeeds(
    layered: str, hub: Any, source_store: Any, tmp_path: Path, cut_after: int
) -> None:
    store = ImageStore(tmp_path / "store")
    with ds.cutting_proxy(hub.addr, cut_after=cut_after, corrupt=True) as proxy:
        via = f"{proxy.addr}/alice/layered:1"
        with pytest.raises(InvalidResponse, match="wrong blob"):
            pull(store, via, creds=ALICE)
        assert proxy.cuts_left == 0
        assert store.list() == []
        expected = source_store.layers(source_store.get(layered).id)
        blobs = {r.blob_digest: r.blob_size for r in expected}
        # Only prefixes of good blobs stay, for the next pull to resume from.
        for ingest in store.content.ingests():
            assert ingest.total is not None
            assert str(ingest.expected) in blobs and 0 < ingest.offset < ingest.total
        names = [s.name for s in _snapshots(store)]
        assert not [n for n in names if n.startswith("extract-")]
        # Whatever was committed is a verified layer; the corrupted blob is not in the store.
        recorded = {s.chain_id for s in store.meta.list_snapshots()}
        assert set(names) == recorded
        assert len(recorded) < len(expected)
        result = pull(store, via, creds=ALICE)
    assert result.image_id == source_store.get(layered).id
    store.verify(via, deep=True)
    assert not store.content.ingests()
    top = store.ensure_unpacked(via)
    assert top is not None
    assert top == expected[-1].chain_id and store.snapshotter.exists(top)
    store.close()


def test_resumed_download_with_range_while_applying(
    layered: str, hub: Any, source_store: Any, tmp_path: Path
) -> None:
    store = ImageStore(tmp_path / "store")
    with ds.cutting_proxy(hub.addr, cut_after=1_200_000) as proxy:
        result = pull(store, f"{proxy.addr}/alice/layered:1", creds=ALICE)
    ds.assert_resumed_with_range(proxy)
    assert result.image_id == source_store.get(layered).id
    top = store.ensure_unpacked(result.image_id)
    assert top is not None and store.snapshotter.exists(top)
    store.verify(result.image_id, deep=True)
    assert not store.content.ingests()
    store.close()


def test_failed_download_is_reported_not_the_ones_it_stopped(
    layered: str, hub: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whichever future the pull looks at first, the error is the one that stopped the
    others, not the "stopped" of a download listed before it."""
    from dockyard.distribution.errors import TransferInterrupted
    from dockyard.distribution.pull import Puller

    real = Puller._download_into
    order: list[str] = []

    def download_into(self: Puller, client: Any, repo: str, d: Any, *rest: Any) -> None:
        with self._lock:
            first = not order
            order.append(str(d.digest))
        if first:
            # The first layer only ends when another has failed, as a slow one would.
            assert self._stop.wait(30)
            raise TransferInterrupted(f"pull stopped while fetching {d.digest}")
        if len(order) == 2:
            raise InvalidResponse(f"wrong blob {d.digest}")
        real(self, client, repo, d, *rest)

    monkeypatch.setattr(Puller, "_download_into", download_into)
    store = ImageStore(tmp_path / "store")
    try:
        with pytest.raises(InvalidResponse, match="wrong blob"):
            pull(store, layered, creds=ALICE)
        assert len(order) >= 2
        assert store.list() == []
    finally:
        store.close()
