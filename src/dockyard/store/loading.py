"""Loading image archives into the store and choosing what ``save`` writes.

The archive formats themselves (reading members, writing tars) are in archive.py; this module
turns a staged archive into checked images: a docker-archive's manifest.json, or an OCI
layout's index.json (nested indexes resolved to the host's platform).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest, digest_bytes
from dockyard.oci.image import (
    MAX_MANIFEST_BYTES,
    Descriptor,
    Index,
    InvalidManifest,
    Manifest,
    parse_manifest,
    parse_manifest_or_index,
)
from dockyard.oci.platform import host_platform
from dockyard.oci.reference import InvalidReference as OciInvalidReference
from dockyard.oci.reference import Reference, parse_normalized_named, parse_tag_reference
from dockyard.store import archive as arc
from dockyard.store.errors import ArchiveError, InvalidImage
from dockyard.store.operation import LayerInput, NewImage, Operation

if TYPE_CHECKING:
    from dockyard.store.images import ImageStore


def stage(store: ImageStore, op: Operation, staged: arc.StagedArchive) -> list[NewImage]:
    """The images an archive holds, checked; OCI layouts win over Docker's manifest.json."""
    if staged.has("index.json"):
        return stage_oci(store, op, staged)
    if staged.has("manifest.json"):
        return stage_docker(store, op, staged)
    raise ArchiveError("not an image archive: no manifest.json and no index.json")


def blob_of(op: Operation, staged: arc.StagedArchive, name: str) -> Digest:
    f = staged.resolve(name)
    if f.digest is not None:
        return f.digest
    assert f.data is not None
    return op.put_bytes(f.data)


def stage_docker(store: ImageStore, op: Operation, staged: arc.StagedArchive) -> list[NewImage]:
    entries = arc.parse_docker_manifest(staged.read("manifest.json", store.content))
    out = []
    for entry in entries:
        cdigest = blob_of(op, staged, entry.config)
        layers = [LayerInput(blob_of(op, staged, p)) for p in entry.layers]
        new = store.build(op, cdigest, layers)
        for tag in entry.repo_tags:
            try:
                new.tags.append(parse_tag_reference(tag))
            except OciInvalidReference as e:
                raise ArchiveError(f"manifest.json: bad RepoTag {tag!r}: {e}") from None
        out.append(new)
    return out


def stage_oci(store: ImageStore, op: Operation, staged: arc.StagedArchive) -> list[NewImage]:
    def blob_bytes(d: Descriptor) -> bytes:
        name = f"blobs/{d.digest.algorithm}/{d.digest.hex}"
        if not staged.has(name):
            raise ArchiveError(f"OCI layout: blob {d.digest} is missing")
        data = staged.read(name, store.content, MAX_MANIFEST_BYTES)
        if len(data) != d.size or digest_bytes(data, d.digest.algorithm) != d.digest:
            raise ArchiveError(f"OCI layout: blob {d.digest} does not match its descriptor")
        return data

    try:
        index = parse_manifest_or_index(staged.read("index.json", store.content))
    except InvalidManifest as e:
        raise ArchiveError(f"index.json: {e}") from None
    if not isinstance(index, Index):
        raise ArchiveError("index.json is not an image index")
    by_id: dict[str, NewImage] = {}
    order: list[str] = []
    want = host_platform()
    for desc in index.manifests:
        name = layout_name(desc)
        mdesc = desc
        if desc.media_type in mt.INDEX_TYPES:
            try:
                nested = parse_manifest_or_index(blob_bytes(desc), desc.media_type)
            except InvalidManifest as e:
                raise InvalidImage(f"index {desc.digest}: {e}") from None
            assert isinstance(nested, Index)
            picked = nested.select(want)
            if picked is None:
                raise ArchiveError(f"index {desc.digest} has no image for {want}")
            mdesc = picked
        elif desc.media_type not in mt.MANIFEST_TYPES:
            raise InvalidImage(f"unsupported manifest media type: {desc.media_type}")
        try:
            manifest = parse_manifest(blob_bytes(mdesc), mdesc.media_type)
        except InvalidManifest as e:
            raise InvalidImage(f"manifest {mdesc.digest}: {e}") from None
        new = stage_manifest(store, op, staged, mdesc, manifest)
        key = new.record.id
        if key not in by_id:
            by_id[key] = new
            order.append(key)
        if name is not None and all(str(t) != str(name) for t in by_id[key].tags):
            by_id[key].tags.append(name)
    return [by_id[k] for k in order]


def stage_manifest(
    store: ImageStore,
    op: Operation,
    staged: arc.StagedArchive,
    mdesc: Descriptor,
    manifest: Manifest,
) -> NewImage:
    for d in (manifest.config, *manifest.layers):
        name = f"blobs/{d.digest.algorithm}/{d.digest.hex}"
        f = staged.resolve(name) if staged.has(name) else None
        if f is None:
            raise ArchiveError(f"OCI layout: blob {d.digest} is missing")
        if f.size != d.size:
            raise ArchiveError(
                f"OCI layout: blob {d.digest} is {f.size} bytes, the manifest says {d.size}"
            )
        got = blob_of(op, staged, name)
        if got != d.digest:
            raise ArchiveError(f"OCI layout: blob {d.digest} does not match its digest")
    mdigest = blob_of(op, staged, f"blobs/{mdesc.digest.algorithm}/{mdesc.digest.hex}")
    layers = [LayerInput(d.digest, d.media_type) for d in manifest.layers]
    return store.build(op, manifest.config.digest, layers, (mdigest, manifest.media_type))


def save_list(store: ImageStore, refs: Sequence[str]) -> list[arc.SaveImage]:
    chosen: dict[str, list[Reference]] = {}
    for r in refs:
        tags: list[Reference] = []
        image_ids: list[str] = []
        named: Reference | None = None
        with contextlib.suppress(OciInvalidReference):
            named = parse_normalized_named(r)
        if named is not None and named.tag is None and named.digest is None:
            # docker save NAME saves every tag of the repository.
            for refrec in store.meta.all_refs():
                ref = parse_normalized_named(refrec.name)
                if refrec.kind == "tag" and ref.name == named.name:
                    image_ids.append(refrec.image_id)
                    tags.append(ref)
        if not image_ids:
            image_id = store.resolve(r)
            image_ids = [image_id]
            if named is not None and not (
                image_id.startswith(r.strip()) or image_id.startswith("sha256:" + r.strip())
            ):
                tags = [named.tagged_or_latest()] if named.digest is None else []
        tags_or_none: list[Reference | None] = list(tags) if tags else [None] * len(image_ids)
        for image_id, tag in zip(image_ids, tags_or_none, strict=True):
            bucket = chosen.setdefault(image_id, [])
            if tag is not None and all(str(t) != str(tag) for t in bucket):
                bucket.append(tag)
    out = []
    for image_id, tags in chosen.items():
        rec = store.get(image_id)
        out.append(
            arc.SaveImage(
                rec.id,
                rec.config_size,
                rec.manifest_digest,
                rec.manifest_media_type,
                rec.manifest_size,
                store.meta.layers(rec.id),
                tags,
                rec.created,
            )
        )
    return out


def layout_name(desc: Descriptor) -> Reference | None:
    """The image name an OCI index entry carries (containerd's annotation, else ref.name)."""
    for key in (arc.ANNOTATION_CONTAINERD_NAME, arc.ANNOTATION_REF_NAME):
        value = desc.annotations.get(key)
        if not value:
            continue
        # A bare tag ("latest") names no repository: such an image is loaded untagged.
        if key == arc.ANNOTATION_REF_NAME and "/" not in value and ":" not in value:
            continue
        try:
            ref = parse_normalized_named(value)
        except OciInvalidReference:
            continue
        if ref.digest is None:
            return ref.tagged_or_latest()
    return None
