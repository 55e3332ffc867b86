"""Unpacking an image's layers into committed snapshots, one per layer chain id."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO

from dockyard.oci.digest import Digest
from dockyard.store.errors import UnpackError
from dockyard.store.metadata import pid_alive

if TYPE_CHECKING:
    from dockyard.store.images import ImageStore


def unpack(store: ImageStore, image_id: str) -> str | None:
    """Apply every layer into committed snapshots; returns the top chain id."""
    parent: str | None = None
    with store.shared_lock():
        for layer in store.meta.layers(image_id):
            if not store.snapshotter.exists(layer.chain_id):
                with store.content.open(Digest.parse(layer.blob_digest)) as f:
                    unpack_layer(
                        store, layer.chain_id, parent, layer.diff_id, f, label=layer.blob_digest
                    )
            if store.meta.get_snapshot(layer.chain_id) is None:
                store.meta.add_snapshot(layer.chain_id, parent, layer.diff_id, layer.size)
            parent = layer.chain_id
    return parent


def unpack_layer(
    store: ImageStore,
    chain_id: str,
    parent: str | None,
    diff_id: str,
    stream: BinaryIO,
    *,
    label: str = "",
    lease: str | None = None,
    before_commit: Callable[[], None] | None = None,
) -> Any:
    """Apply one layer tar read from ``stream`` into the committed snapshot ``chain_id``.

    The caller holds the store's shared lock and ``parent`` is committed. The tar is applied
    into an ``extract-<pid>-…`` snapshot (swept after a crash) and committed under the chain
    id only when its diff id matches and ``before_commit`` (say, the blob's digest check of a
    stream still downloading) returns; on any error the extraction snapshot is removed.
    With ``lease``, the snapshot is held by it until an image refers to it. Returns the
    snapshotter's applied-layer facts (``diff_id``, ``size``), or None when another process
    committed the same chain id first.
    """
    from dockyard.store.layers import LayerError

    snap = store.snapshotter
    what = label or chain_id
    if lease is not None:
        store.meta.add_lease_resource(lease, "snapshot", chain_id)
    key = f"extract-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    snap.prepare(key, parent)
    try:
        # The snapshotter knows its whiteout format and the lower dirs a whiteout must hide
        # something in.
        applied = snap.apply_layer(key, stream, max_size=store.max_layer_size)
        if before_commit is not None:
            before_commit()
        if applied.diff_id != diff_id:
            raise UnpackError(f"layer {what} unpacked to {applied.diff_id}, expected {diff_id}")
        snap.commit(chain_id, key)
    except LayerError as e:
        with contextlib.suppress(Exception):
            snap.remove(key)
        raise UnpackError(f"layer {what}: {e}") from None
    except BaseException:
        with contextlib.suppress(Exception):
            snap.remove(key)
        if not snap.exists(chain_id):
            raise
        return None  # committed by a concurrent unpack of the same layer
    if store.meta.get_snapshot(chain_id) is None:
        store.meta.add_snapshot(chain_id, parent, diff_id, applied.size)
    return applied


def stale_extract_keys(snap: object) -> list[str]:
    """Extraction snapshots left by a process that died (named extract-<pid>-…)."""
    lister = getattr(snap, "list", None) if snap is not None else None
    if lister is None:
        return []
    out = []
    with contextlib.suppress(Exception):
        for item in lister():
            key = getattr(item, "key", None) or getattr(item, "name", None) or str(item)
            parts = str(key).split("-")
            if len(parts) >= 3 and parts[0] == "extract" and parts[1].isdigit():
                pid = int(parts[1])
                if pid != os.getpid() and not pid_alive(pid):
                    out.append(str(key))
    return out
