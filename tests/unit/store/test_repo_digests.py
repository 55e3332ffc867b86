"""RepoDigests of pulled images: the manifest's digest, or the one the registry named
(a manifest list or OCI index) when the puller passes it, as Docker records them."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest, sha256_bytes
from dockyard.store.errors import ImageNotFound, InvalidImage
from dockyard.store.images import ImageStore, LayerInput

NAME = "reg.example:5000/team/app"
INDEX = Digest.parse("sha256:" + "ab" * 32)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ImageStore]:
    s = ImageStore(tmp_path / "store")
    yield s
    s.close()


def _image(store: ImageStore) -> tuple[bytes, list[LayerInput], bytes]:
    """A one-layer image: config, its layer (in the content store) and an OCI manifest."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        info = tarfile.TarInfo("hello.txt")
        info.size = 6
        tf.addfile(info, io.BytesIO(b"hello\n"))
    tar = raw.getvalue()
    blob = gzip.compress(tar, mtime=0)
    digest = Digest.parse("sha256:" + hashlib.sha256(blob).hexdigest())
    lease = store.create_lease()
    with store.blob_writer(lease, digest, len(blob)) as w:
        w.write(blob)
        w.commit()
    diff_id = sha256_bytes(tar)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [str(diff_id)]},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {
                "mediaType": mt.OCI_CONFIG,
                "digest": str(sha256_bytes(config)),
                "size": len(config),
            },
            "layers": [{"mediaType": mt.OCI_LAYER_GZIP, "digest": str(digest), "size": len(blob)}],
        }
    ).encode()
    layer = LayerInput(digest, mt.OCI_LAYER_GZIP, Digest.parse(str(diff_id)), len(tar))
    return config, [layer], manifest


def test_the_manifest_digest_by_default(store: ImageStore) -> None:
    config, layers, manifest = _image(store)
    image = store.create_image(
        config, layers, f"{NAME}:1", manifest=manifest, manifest_media_type=mt.OCI_MANIFEST
    )
    assert store.inspect(image)["RepoDigests"] == [f"{NAME}@{sha256_bytes(manifest)}"]


def test_the_index_digest_when_given(store: ImageStore) -> None:
    config, layers, manifest = _image(store)
    image = store.create_image(
        config,
        layers,
        f"{NAME}:1",
        manifest=manifest,
        manifest_media_type=mt.OCI_MANIFEST,
        repo_digest=INDEX,
    )
    view = store.inspect(image)
    assert view["RepoDigests"] == [f"{NAME}@{INDEX}"]
    assert view["RepoTags"] == [f"{NAME}:1"]
    assert [s.repo_digests for s in store.list()] == [[f"{NAME}@{INDEX}"]]
    # The index digest names the image; the platform manifest's digest is no reference.
    assert store.resolve(f"{NAME}@{INDEX}") == image
    with pytest.raises(ImageNotFound):
        store.resolve(f"{NAME}@{sha256_bytes(manifest)}")
    # It goes with the last tag, as any digest reference does.
    store.remove(f"{NAME}:1")
    assert not store.exists(image)


def test_pulled_by_the_index_digest(store: ImageStore) -> None:
    config, layers, manifest = _image(store)
    image = store.create_image(
        config,
        layers,
        f"{NAME}@{INDEX}",
        manifest=manifest,
        manifest_media_type=mt.OCI_MANIFEST,
        repo_digest=str(INDEX),
    )
    view = store.inspect(image)
    assert view["RepoDigests"] == [f"{NAME}@{INDEX}"] and view["RepoTags"] == []


def test_an_invalid_repo_digest_is_refused(store: ImageStore) -> None:
    config, layers, manifest = _image(store)
    with pytest.raises(InvalidImage, match="invalid repository digest"):
        store.create_image(
            config,
            layers,
            f"{NAME}:1",
            manifest=manifest,
            manifest_media_type=mt.OCI_MANIFEST,
            repo_digest="sha256:nothex",
        )
    assert store.list() == []
