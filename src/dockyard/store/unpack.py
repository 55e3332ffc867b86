"""Unpacking an image's layers into committed snapshots, one per layer chain id."""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import TYPE_CHECKING

from dockyard.oci.digest import Digest
from dockyard.store.errors import UnpackError
from dockyard.store.metadata import pid_alive

if TYPE_CHECKING:
    from dockyard.store.images import ImageStore


def unpack(store: ImageStore, image_id: str) -> str | None:
    """Apply every layer into committed snapshots; returns the top chain id."""
    from dockyard.store.layers import LayerError

    snap = store.snapshotter
    parent: str | None = None
    with store.shared_lock():
        for layer in store.meta.layers(image_id):
            if not snap.exists(layer.chain_id):
                key = f"extract-{os.getpid()}-{uuid.uuid4().hex[:12]}"
                snap.prepare(key, parent)
                try:
                    # The snapshotter knows its whiteout format and the lower dirs a whiteout
                    # must hide something in.
                    with store.content.open(Digest.parse(layer.blob_digest)) as f:
                        applied = snap.apply_layer(key, f, max_size=store.max_layer_size)
                    if applied.diff_id != layer.diff_id:
                        raise UnpackError(
                            f"layer {layer.blob_digest} unpacked to {applied.diff_id}, "
                            f"expected {layer.diff_id}"
                        )
                    snap.commit(layer.chain_id, key)
                except LayerError as e:
                    snap.remove(key)
                    raise UnpackError(f"layer {layer.blob_digest}: {e}") from None
                except BaseException:
                    with contextlib.suppress(Exception):
                        snap.remove(key)
                    if not snap.exists(layer.chain_id):
                        raise
            if store.meta.get_snapshot(layer.chain_id) is None:
                store.meta.add_snapshot(layer.chain_id, parent, layer.diff_id, layer.size)
            parent = layer.chain_id
    return parent


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
