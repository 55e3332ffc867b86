"""Random archives: the loader answers with images or a store error, and fails cleanly."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from store_testlib import state, tar_bytes

from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import sha256_bytes
from dockyard.oci.image import canonical_json
from dockyard.store.errors import ImageError
from dockyard.store.images import ImageStore

pytestmark = pytest.mark.root

LAYER = tar_bytes({"x": b"y"})
CONFIG = canonical_json(
    {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [str(sha256_bytes(LAYER))]},
    }
)
MANIFEST = canonical_json(
    {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {
            "mediaType": mt.OCI_CONFIG,
            "digest": str(sha256_bytes(CONFIG)),
            "size": len(CONFIG),
        },
        "layers": [
            {"mediaType": mt.OCI_LAYER, "digest": str(sha256_bytes(LAYER)), "size": len(LAYER)}
        ],
    }
)
BLOBS = {str(sha256_bytes(b)): b for b in (LAYER, CONFIG, MANIFEST)}
GOOD_ENTRY = {"Config": "c.json", "RepoTags": ["a:1"], "Layers": ["l.tar"]}
GOOD_DESC = {
    "mediaType": mt.OCI_MANIFEST,
    "digest": str(sha256_bytes(MANIFEST)),
    "size": len(MANIFEST),
    "annotations": {"io.containerd.image.name": "b:2"},
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
paths = st.sampled_from(
    ["c.json", "l.tar", "missing", "../x", "/abs", f"{sha256_bytes(CONFIG).hex}.json"]
)
docker_entry = st.fixed_dictionaries(
    {},
    optional={
        "Config": paths | json_values,
        "RepoTags": st.lists(st.sampled_from(["a:1", "Bad:tag", "localhost/x:2", ""]), max_size=2)
        | json_values,
        "Layers": st.lists(paths, max_size=2) | json_values,
    },
)
descriptor = st.fixed_dictionaries(
    {
        "mediaType": st.sampled_from([mt.OCI_MANIFEST, mt.OCI_INDEX, mt.DOCKER_MANIFEST, "x/y"]),
        "digest": st.sampled_from([*BLOBS, "sha256:" + "0" * 64]),
        "size": st.sampled_from([len(LAYER), len(CONFIG), 0, -1]),
    },
    optional={
        "annotations": st.dictionaries(
            st.sampled_from(["org.opencontainers.image.ref.name", "io.containerd.image.name"]),
            st.sampled_from(["latest", "a:1", "UP:x", "localhost/q:1"]),
        )
    },
)


def build(members: dict[str, Any]) -> bytes:
    files: dict[str, bytes] = {}
    for name, value in members.items():
        files[name] = value if isinstance(value, bytes) else json.dumps(value).encode()
    return tar_bytes(files)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    docker=st.none() | st.lists(docker_entry, max_size=2) | json_values,
    index=st.none()
    | st.fixed_dictionaries(
        {"schemaVersion": st.just(2), "manifests": st.lists(descriptor, max_size=2)}
    )
    | json_values,
    with_layer=st.booleans(),
    with_config=st.booleans(),
    junk=st.binary(max_size=64),
)
@example(docker=[GOOD_ENTRY], index=None, with_layer=True, with_config=True, junk=b"")
@example(
    docker=None,
    index={"schemaVersion": 2, "manifests": [GOOD_DESC]},
    with_layer=True,
    with_config=True,
    junk=b"",
)
@example(
    docker=[GOOD_ENTRY],
    index={"schemaVersion": 2, "manifests": [GOOD_DESC, GOOD_DESC]},
    with_layer=True,
    with_config=True,
    junk=b"x",
)
def test_random_archives(
    tmp_path: Path, docker: Any, index: Any, with_layer: bool, with_config: bool, junk: bytes
) -> None:
    members: dict[str, Any] = {"junk": junk}
    if docker is not None:
        members["manifest.json"] = docker
    if index is not None:
        members["index.json"] = index
        members["oci-layout"] = {"imageLayoutVersion": "1.0.0"}
    if with_layer:
        members["l.tar"] = LAYER
        members[f"blobs/sha256/{sha256_bytes(LAYER).hex}"] = LAYER
    if with_config:
        members["c.json"] = CONFIG
        members[f"blobs/sha256/{sha256_bytes(CONFIG).hex}"] = CONFIG
        members[f"blobs/sha256/{sha256_bytes(MANIFEST).hex}"] = MANIFEST
    store = ImageStore(tmp_path / uuid.uuid4().hex)
    before = state(store)
    try:
        loaded = store.load(io.BytesIO(build(members)))
    except ImageError as e:
        event(f"refused: {type(e).__name__}")
        assert state(store) == before
        return
    event(f"loaded {len(loaded)} image(s)")
    for img in loaded:
        store.verify(img.image_id, deep=True)
        assert store.inspect(img.image_id)["RepoTags"] == img.tags
    assert store.verify_all() == {}
