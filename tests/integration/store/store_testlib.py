"""Helpers shared by the image store's integration tests (imported via conftest's sys.path)."""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any

from dockyard.oci.digest import sha256_bytes
from dockyard.store.images import ImageStore


def state(store: ImageStore) -> dict[str, Any]:
    """Everything a failed operation must leave as it was."""
    return {
        "images": sorted(r.id for r in store.meta.list_images()),
        "refs": sorted((r.name, r.image_id) for r in store.meta.all_refs()),
        "blobs": sorted(str(b.digest) for b in store.content.walk()),
        "ingests": sorted(p.name for p in store.content.ingest_root.iterdir()),
        "leases": store.meta.leases(),
    }


def tar_bytes(files: dict[str, bytes], dirs: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tf.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def docker_archive(
    layers: list[bytes],
    config: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    diff_ids: list[str] | None = None,
) -> bytes:
    """A docker-archive written by hand, to feed the loader good and bad inputs."""
    ids = diff_ids if diff_ids is not None else [str(sha256_bytes(x)) for x in layers]
    cfg = config or {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": ids},
    }
    cfg_bytes = json.dumps(cfg).encode()
    files = {f"{sha256_bytes(cfg_bytes).hex}.json": cfg_bytes}
    paths = []
    for i, layer in enumerate(layers):
        files[f"l{i}/layer.tar"] = layer
        paths.append(f"l{i}/layer.tar")
    manifest = [
        {"Config": f"{sha256_bytes(cfg_bytes).hex}.json", "RepoTags": tags or [], "Layers": paths}
    ]
    files["manifest.json"] = json.dumps(manifest).encode()
    return tar_bytes(files)
