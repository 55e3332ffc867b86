from __future__ import annotations

import json
from typing import Any

import pytest

from dockyard.hub.errors import RegistryError
from dockyard.hub.manifests import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    MAX_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    accepts,
    parse_manifest,
)

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64


def image(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": D1,
            "size": 10,
        },
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": D2, "size": 20}
        ],
    }
    doc.update(extra)
    return doc


def parse(doc: Any, ct: str | None = OCI_MANIFEST) -> Any:
    return parse_manifest(json.dumps(doc).encode(), ct, D3)


def test_image_manifest_lists_config_and_layers() -> None:
    p = parse(image())
    assert [d.digest for d in p.blobs] == [D1, D2]
    assert not p.is_index
    assert p.artifact_type == "application/vnd.oci.image.config.v1+json"


def test_index_lists_children() -> None:
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": D1,
                "size": 5,
                "platform": {"os": "linux", "architecture": "amd64"},
            }
        ],
    }
    p = parse(doc, OCI_INDEX)
    assert p.is_index and [d.digest for d in p.children] == [D1]


def test_docker_types() -> None:
    assert parse(image(mediaType=DOCKER_MANIFEST), DOCKER_MANIFEST).media_type == DOCKER_MANIFEST
    doc = {"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": []}
    assert parse(doc, DOCKER_LIST).is_index


def test_layers_and_manifests_together_are_refused() -> None:
    doc = image(manifests=[])
    with pytest.raises(RegistryError, match="both") as e:
        parse(doc)
    assert e.value.code == "MANIFEST_INVALID"


def test_subject_and_artifact_type() -> None:
    p = parse(
        image(
            subject={"mediaType": OCI_MANIFEST, "digest": D3, "size": 3},
            artifactType="application/vnd.example.sig",
        )
    )
    assert p.subject is not None and p.subject.digest == D3
    assert p.artifact_type == "application/vnd.example.sig"


@pytest.mark.parametrize(
    "doc",
    [
        [],
        {"schemaVersion": 1},
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []},
        image(config={"mediaType": "x", "digest": "sha256:abc", "size": 1}),
        image(config={"mediaType": "x", "digest": D1, "size": -1}),
        image(config={"mediaType": "x", "digest": D1, "size": True}),
        image(layers="nope"),
        image(mediaType="application/vnd.unknown+json"),
        image(annotations=["x"]),
    ],
)
def test_invalid_manifests(doc: Any) -> None:
    with pytest.raises(RegistryError) as e:
        parse(doc)
    assert e.value.code == "MANIFEST_INVALID"


def test_not_json() -> None:
    with pytest.raises(RegistryError) as e:
        parse_manifest(b"{nope", OCI_MANIFEST, D3)
    assert e.value.code == "MANIFEST_INVALID"


def test_content_type_must_match_media_type() -> None:
    with pytest.raises(RegistryError, match="does not match"):
        parse(image(), DOCKER_MANIFEST)


def test_too_large_is_413_size_invalid() -> None:
    with pytest.raises(RegistryError) as e:
        parse_manifest(b" " * (MAX_MANIFEST + 1), OCI_MANIFEST, D3)
    assert (e.value.status, e.value.code) == (413, "SIZE_INVALID")


def test_foreign_layers_are_not_required() -> None:
    doc = image()
    doc["layers"].append(
        {
            "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
            "digest": D3,
            "size": 1,
            "urls": ["https://example.invalid/x"],
        }
    )
    assert D3 not in [d.digest for d in parse(doc).blobs]


def test_accepts() -> None:
    assert accepts(None, OCI_INDEX)
    assert accepts(f"{OCI_MANIFEST}, {OCI_INDEX}", OCI_INDEX)
    assert not accepts(DOCKER_MANIFEST, OCI_INDEX)
    assert accepts("*/*", OCI_INDEX)
