"""Parsing and checking of manifests and indexes before they are stored (pure)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dockyard.hub.errors import RegistryError
from dockyard.oci.digest import Digest, InvalidDigest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)
IMAGE_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = IMAGE_TYPES | INDEX_TYPES
MAX_MANIFEST = 4 * 1024 * 1024
# Layers that registries are not expected to hold (pulled from `urls` instead).
FOREIGN_LAYERS = frozenset(
    {
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    }
)


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: dict[str, Any] | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None


@dataclass(frozen=True)
class ParsedManifest:
    media_type: str
    digest: str
    size: int
    blobs: tuple[Descriptor, ...] = ()  # config + distributable layers
    children: tuple[Descriptor, ...] = ()  # manifests of an index
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES


def _invalid(msg: str) -> RegistryError:
    return RegistryError("MANIFEST_INVALID", msg)


def _descriptor(value: Any, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise _invalid(f"{where}: descriptor must be an object")
    mt, dg, size = value.get("mediaType"), value.get("digest"), value.get("size")
    if not isinstance(mt, str) or not mt:
        raise _invalid(f"{where}: mediaType missing")
    if not isinstance(dg, str):
        raise _invalid(f"{where}: digest missing")
    try:
        Digest.parse(dg)
    except InvalidDigest as e:
        raise _invalid(f"{where}: {e}") from e
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _invalid(f"{where}: size must be a non-negative integer")
    platform = value.get("platform")
    if platform is not None and not isinstance(platform, dict):
        raise _invalid(f"{where}: platform must be an object")
    at = value.get("artifactType")
    ann = value.get("annotations")
    if ann is not None and (
        not isinstance(ann, dict) or not all(isinstance(v, str) for v in ann.values())
    ):
        raise _invalid(f"{where}: annotations must map strings to strings")
    return Descriptor(mt, dg, size, platform, at if isinstance(at, str) else None, ann)


def parse_manifest(body: bytes, content_type: str | None, digest: str) -> ParsedManifest:
    """Check a manifest's structure; `digest` is the already-computed digest of `body`."""
    if len(body) > MAX_MANIFEST:
        raise RegistryError("SIZE_INVALID", "manifest too large", status=413)
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise _invalid(f"manifest is not valid JSON: {e}") from e
    if not isinstance(doc, dict):
        raise _invalid("manifest must be a JSON object")
    ct = (content_type or "").split(";", 1)[0].strip()
    body_mt = doc.get("mediaType")
    if body_mt is not None and not isinstance(body_mt, str):
        raise _invalid("mediaType must be a string")
    if ct in DOCKER_SCHEMA1 or body_mt in DOCKER_SCHEMA1 or doc.get("schemaVersion") == 1:
        raise RegistryError("MANIFEST_INVALID", "schema 1 manifests are not supported")
    if doc.get("schemaVersion") != 2:
        raise _invalid("schemaVersion must be 2")
    if body_mt and ct and ct in MANIFEST_TYPES and ct != body_mt:
        raise _invalid(f"Content-Type {ct} does not match mediaType {body_mt}")
    media_type = body_mt or (ct if ct in MANIFEST_TYPES else None)
    has_layers, has_manifests = "layers" in doc, "manifests" in doc
    if has_layers and has_manifests:
        raise _invalid("a manifest cannot have both layers and manifests")
    if media_type is None:
        # An OCI document without mediaType: decide by shape, as the image spec allows.
        media_type = OCI_INDEX if has_manifests else OCI_MANIFEST
    if media_type not in MANIFEST_TYPES:
        raise _invalid(f"unsupported manifest media type: {media_type}")
    subject = None
    if doc.get("subject") is not None:
        subject = _descriptor(doc["subject"], "subject")
    annotations = doc.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise _invalid("annotations must be an object")
    artifact_type = doc.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise _invalid("artifactType must be a string")

    if media_type in INDEX_TYPES:
        if has_layers or "config" in doc:
            raise _invalid("an index cannot have config or layers")
        items = doc.get("manifests")
        if not isinstance(items, list):
            raise _invalid("manifests must be a list")
        children = tuple(_descriptor(m, f"manifests[{i}]") for i, m in enumerate(items))
        return ParsedManifest(
            media_type, digest, len(body), (), children, subject, artifact_type, annotations
        )

    if has_manifests:
        raise _invalid("an image manifest cannot have manifests")
    config = _descriptor(doc.get("config"), "config")
    layers_raw = doc.get("layers")
    if not isinstance(layers_raw, list):
        raise _invalid("layers must be a list")
    layers = [_descriptor(layer, f"layers[{i}]") for i, layer in enumerate(layers_raw)]
    blobs = (config, *(d for d in layers if d.media_type not in FOREIGN_LAYERS))
    # The referrers API reports an image's config media type when artifactType is absent.
    effective_type = artifact_type or config.media_type
    return ParsedManifest(
        media_type, digest, len(body), tuple(blobs), (), subject, effective_type, annotations
    )


def accepts(accept_header: str | None, media_type: str) -> bool:
    """Whether a client's Accept list admits `media_type` (no header admits anything)."""
    if not accept_header:
        return True
    types = {p.split(";", 1)[0].strip() for p in accept_header.split(",")}
    types.discard("")
    return not types or media_type in types or "*/*" in types or media_type in _implied(types)


def _implied(types: set[str]) -> set[str]:
    # `application/json` clients (curl, old tools) get whatever is stored.
    return set(MANIFEST_TYPES) if "application/json" in types else set()
