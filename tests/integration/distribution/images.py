"""Images made for the tests on top of the bootstrapped busybox: extra layers, given sizes."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from typing import Any

from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest
from dockyard.store.images import LayerInput


def layer_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 946684800
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def derive(store: Any, base_ref: str, ref: str, layers: list[dict[str, bytes]]) -> str:
    """``base_ref`` plus one gzip layer per dict of files; returns the new image id."""
    base = store.get(base_ref)
    config = json.loads(store.content.read_bytes(Digest.parse(base.id)))
    inputs: list[LayerInput] = [
        LayerInput(Digest.parse(r.blob_digest), r.media_type, Digest.parse(r.diff_id), r.size)
        for r in store.layers(base.id)
    ]
    lease = store.create_lease()
    try:
        for files in layers:
            tar = layer_tar(files)
            blob = gzip.compress(tar, compresslevel=1, mtime=0)
            digest = Digest.parse("sha256:" + hashlib.sha256(blob).hexdigest())
            with store.blob_writer(lease, digest, len(blob)) as w:
                w.write(blob)
                w.commit()
            diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
            config["rootfs"]["diff_ids"].append(diff_id)
            config.setdefault("history", []).append({"created_by": "test layer"})
            inputs.append(LayerInput(digest, mt.OCI_LAYER_GZIP, Digest.parse(diff_id), len(tar)))
        body = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
        return str(store.create_image(body, inputs, ref, lease=lease))
    except BaseException:
        store.release_lease(lease)
        raise


def random_files(total: int, count: int, seed: str) -> dict[str, bytes]:
    """``count`` incompressible files summing to about ``total`` bytes."""
    each = max(1, total // count)
    return {f"data/{seed}-{i}.bin": os.urandom(each) for i in range(count)}
