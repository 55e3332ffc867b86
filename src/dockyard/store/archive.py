"""Image archives: reading a docker-archive or OCI layout tar into staged blobs, and writing both.

Reading never extracts anything to the filesystem: small members stay in memory, large ones go
straight into the content store (hashed on the way), and links are only followed by name inside
the archive. Writing produces deterministic tars (fixed mtimes, owners, order).
"""

from __future__ import annotations

import io
import json
import posixpath
import tarfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, cast

from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest, InvalidDigest
from dockyard.oci.image import canonical_json
from dockyard.oci.reference import Reference
from dockyard.store.content import ContentStore, ephemeral_ref
from dockyard.store.errors import ArchiveError, ContentError
from dockyard.store.layerinfo import open_uncompressed
from dockyard.store.metadata import LayerRecord

SMALL_MEMBER = 256 * 1024
# Bounds on what an archive can make us hold in memory: small members are kept in memory only
# up to MAX_IN_MEMORY bytes in all (the rest go to the content store), and tarfile keeps one
# TarInfo per member, so the member count is bounded too.
MAX_IN_MEMORY = 64 * 1024 * 1024
MAX_MEMBERS = 100_000
MAX_META_MEMBER = 16 * 1024 * 1024
OCI_LAYOUT_VERSION = "1.0.0"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_CONTAINERD_NAME = "io.containerd.image.name"


@dataclass
class StagedFile:
    size: int
    data: bytes | None = None  # small members are kept in memory
    digest: Digest | None = None  # large members are already in the content store


@dataclass
class StagedArchive:
    files: dict[str, StagedFile] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)

    def has(self, name: str) -> bool:
        try:
            self.resolve(name)
        except ArchiveError:
            return False
        return True

    def resolve(self, name: str) -> StagedFile:
        path = _clean(name)
        for _ in range(32):
            if path is None:
                break
            if path in self.files:
                return self.files[path]
            if path not in self.links:
                break
            path = self.links[path]
        raise ArchiveError(f"archive member {name!r} is missing")

    def read(self, name: str, content: ContentStore, limit: int = MAX_META_MEMBER) -> bytes:
        f = self.resolve(name)
        if f.size > limit:
            raise ArchiveError(f"archive member {name!r} is larger than {limit} bytes")
        if f.data is not None:
            return f.data
        assert f.digest is not None
        try:
            return content.read_bytes(f.digest, limit)
        except ContentError as e:
            raise ArchiveError(f"archive member {name!r}: {e}") from None


def _clean(name: str) -> str | None:
    """Archive member name → normalised relative path, or None for one that escapes."""
    stripped = name.lstrip("/")
    while stripped.startswith("./"):
        stripped = stripped[2:]
    if not stripped or stripped == ".":
        return None
    norm = posixpath.normpath(stripped)
    if norm.startswith("../") or norm == ".." or norm.startswith("/"):
        return None
    return norm


def stage_archive(
    stream: BinaryIO,
    content: ContentStore,
    on_blob: Callable[[Digest], None],
    *,
    max_member: int,
) -> StagedArchive:
    """Read a (possibly gzip/xz/bzip2-compressed) archive; big members go to ``content``.

    ``on_blob`` is told every digest written so that the caller can hold it under a lease.
    """
    staged = StagedArchive()
    try:
        tf = tarfile.open(fileobj=stream, mode="r|*")  # noqa: SIM115 - closed below
    except (tarfile.TarError, OSError, EOFError) as e:
        raise ArchiveError(f"not an image archive: {e}") from None
    try:
        in_memory = 0
        with tf:
            for count, member in enumerate(tf, 1):
                if count > MAX_MEMBERS:
                    raise ArchiveError(f"image archive has more than {MAX_MEMBERS} members")
                # tarfile remembers every member it has read; we never look back.
                tf.members = []  # type: ignore[attr-defined]
                name = _clean(member.name)
                if name is None:
                    continue
                if member.issym():
                    staged.links[name] = posixpath.normpath(
                        posixpath.join(posixpath.dirname(name), member.linkname)
                    )
                elif member.islnk():
                    target = _clean(member.linkname)
                    if target is not None:
                        staged.links[name] = target
                elif member.isreg():
                    if member.size > max_member:
                        raise ArchiveError(
                            f"archive member {name!r} is larger than the {max_member}-byte limit"
                        )
                    src = tf.extractfile(member)
                    assert src is not None
                    keep = in_memory + member.size <= MAX_IN_MEMORY
                    staged.files[name] = _stage_member(
                        name, member.size, cast(BinaryIO, src), content, on_blob, keep
                    )
                    if staged.files[name].data is not None:
                        in_memory += member.size
    except (tarfile.TarError, OSError, EOFError) as e:
        raise ArchiveError(f"corrupt image archive: {e}") from None
    return staged


def _expected_from_name(name: str) -> Digest | None:
    parts = name.split("/")
    if len(parts) == 3 and parts[0] == "blobs":
        try:
            return Digest.parse(f"{parts[1]}:{parts[2]}")
        except InvalidDigest:
            return None
    return None


def _stage_member(
    name: str,
    size: int,
    src: BinaryIO,
    content: ContentStore,
    on_blob: Callable[[Digest], None],
    in_memory: bool = True,
) -> StagedFile:
    expected = _expected_from_name(name)
    if in_memory and size <= SMALL_MEMBER and expected is None:
        data = src.read(size + 1)
        if len(data) != size:
            raise ArchiveError(f"archive member {name!r} is truncated")
        return StagedFile(size, data=data)
    if expected is not None:
        on_blob(expected)
    try:
        with content.writer(ephemeral_ref(), expected, size) as w:
            w.copy_from(src)
            # Held before it is published, so that a concurrent cleanup cannot take it.
            on_blob(w.digest())
            digest = w.commit()
    except ContentError as e:
        raise ArchiveError(f"archive member {name!r}: {e}") from None
    return StagedFile(size, digest=digest)


# docker-archive manifest.json --------------------------------------------------------------


@dataclass(frozen=True)
class DockerArchiveEntry:
    config: str
    repo_tags: tuple[str, ...]
    layers: tuple[str, ...]


def parse_docker_manifest(data: bytes) -> list[DockerArchiveEntry]:
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ArchiveError(f"manifest.json is not valid JSON: {e}") from None
    if not isinstance(value, list):
        raise ArchiveError("manifest.json must be a list")
    out = []
    for i, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise ArchiveError(f"manifest.json[{i}] must be an object")
        config = entry.get("Config")
        tags = entry.get("RepoTags") or []
        layers = entry.get("Layers")
        if not isinstance(config, str) or not config:
            raise ArchiveError(f"manifest.json[{i}] has no Config")
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ArchiveError(f"manifest.json[{i}].RepoTags must be a list of strings")
        if not isinstance(layers, list) or not all(isinstance(x, str) and x for x in layers):
            raise ArchiveError(f"manifest.json[{i}].Layers must be a list of paths")
        out.append(DockerArchiveEntry(config, tuple(tags), tuple(layers)))
    return out


# writing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SaveImage:
    image_id: str  # config digest
    config_size: int
    manifest_digest: str
    manifest_media_type: str
    manifest_size: int
    layers: Sequence[LayerRecord]
    tags: Sequence[Reference]
    created: str | None = None


class _TarOut:
    def __init__(self, out: BinaryIO) -> None:
        self.tf = tarfile.open(  # noqa: SIM115 - closed by close()
            fileobj=out, mode="w|", format=tarfile.PAX_FORMAT
        )
        self.dirs: set[str] = set()

    def _info(self, name: str, kind: bytes, size: int = 0, mode: int = 0o644) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.size = size
        info.mode = mode
        info.mtime = 0
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    def mkdir(self, name: str) -> None:
        parts = name.split("/")
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in self.dirs:
                self.dirs.add(d)
                self.tf.addfile(self._info(d, tarfile.DIRTYPE, 0, 0o755))

    def add_bytes(self, name: str, data: bytes) -> None:
        self._parent(name)
        self.tf.addfile(self._info(name, tarfile.REGTYPE, len(data)), io.BytesIO(data))

    def add_stream(self, name: str, size: int, src: BinaryIO) -> None:
        self._parent(name)
        counted = _Counting(src, size)
        self.tf.addfile(self._info(name, tarfile.REGTYPE, size), cast(BinaryIO, counted))
        if counted.n != size or counted.src.read(1):
            raise ArchiveError(f"{name}: blob is not the recorded {size} bytes")

    def _parent(self, name: str) -> None:
        parent = posixpath.dirname(name)
        if parent:
            self.mkdir(parent)

    def close(self) -> None:
        self.tf.close()


class _Counting:
    def __init__(self, src: BinaryIO, size: int) -> None:
        self.src = src
        self.n = 0
        self.size = size

    def read(self, n: int = -1) -> bytes:
        data = self.src.read(n)
        self.n += len(data)
        if len(data) < n and self.n < self.size:
            raise ArchiveError(f"blob ended after {self.n} of {self.size} bytes")
        return data


def _repositories(images: Iterable[SaveImage], top_ids: dict[str, str]) -> dict[str, Any]:
    repos: dict[str, dict[str, str]] = {}
    for img in images:
        top = top_ids.get(img.image_id)
        if top is None:
            continue
        for ref in img.tags:
            if ref.tag:
                repos.setdefault(ref.familiar_name(), {})[ref.tag] = top
    return repos


def write_docker_archive(out: BinaryIO, images: Sequence[SaveImage], content: ContentStore) -> None:
    """docker save's legacy layout (Docker 20.10): ``<id>/layer.tar``, ``<hex>.json``, manifest."""
    tar = _TarOut(out)
    manifest: list[dict[str, Any]] = []
    top_ids: dict[str, str] = {}
    written: set[str] = set()
    for img in images:
        config_digest = Digest.parse(img.image_id)
        layer_paths = []
        parent = ""
        for layer in img.layers:
            # Legacy layer directories only need to be unique and stable; the chain id is both.
            layer_id = Digest.parse(layer.chain_id).hex
            path = f"{layer_id}/layer.tar"
            if layer_id not in written:
                written.add(layer_id)
                tar.add_bytes(f"{layer_id}/VERSION", b"1.0")
                legacy: dict[str, Any] = {"id": layer_id, "created": "1970-01-01T00:00:00Z"}
                if parent:
                    legacy["parent"] = parent
                tar.add_bytes(f"{layer_id}/json", canonical_json(legacy))
                with content.open(Digest.parse(layer.blob_digest)) as blob:
                    if layer.media_type in mt.UNCOMPRESSED_LAYERS:
                        tar.add_stream(path, layer.size, blob)
                    else:
                        tar.add_stream(path, layer.size, open_uncompressed(blob))
            layer_paths.append(path)
            parent = layer_id
        if img.layers:
            top_ids[img.image_id] = parent
        config_name = f"{config_digest.hex}.json"
        if config_name not in written:
            written.add(config_name)
            tar.add_bytes(config_name, content.read_bytes(config_digest))
        manifest.append(
            {
                "Config": config_name,
                "RepoTags": [r.familiar() for r in img.tags if r.tag] or None,
                "Layers": layer_paths,
            }
        )
    tar.add_bytes("manifest.json", json.dumps(manifest, separators=(",", ":")).encode())
    tar.add_bytes(
        "repositories", json.dumps(_repositories(images, top_ids), separators=(",", ":")).encode()
    )
    tar.close()


def write_oci_layout(out: BinaryIO, images: Sequence[SaveImage], content: ContentStore) -> None:
    """An OCI image layout (oci-layout, index.json, blobs/) plus Docker's manifest.json."""
    tar = _TarOut(out)
    tar.add_bytes("oci-layout", canonical_json({"imageLayoutVersion": OCI_LAYOUT_VERSION}))
    index_entries: list[dict[str, Any]] = []
    docker_manifest: list[dict[str, Any]] = []
    written: set[str] = set()

    def blob(digest_s: str, size: int) -> str:
        d = Digest.parse(digest_s)
        name = f"blobs/{d.algorithm}/{d.hex}"
        if name not in written:
            written.add(name)
            with content.open(d) as src:
                tar.add_stream(name, size, src)
        return name

    tar.mkdir("blobs/sha256")
    for img in images:
        for layer in img.layers:
            blob(layer.blob_digest, layer.blob_size)
        config_name = blob(img.image_id, img.config_size)
        blob(img.manifest_digest, img.manifest_size)
        desc = {
            "mediaType": img.manifest_media_type,
            "digest": img.manifest_digest,
            "size": img.manifest_size,
        }
        tagged = [r for r in img.tags if r.tag]
        if not tagged:
            index_entries.append(desc)
        for ref in tagged:
            assert ref.tag is not None
            index_entries.append(
                {
                    **desc,
                    "annotations": {
                        ANNOTATION_CONTAINERD_NAME: str(ref),
                        ANNOTATION_REF_NAME: ref.tag,
                    },
                }
            )
        if all(layer.media_type in mt.UNCOMPRESSED_LAYERS for layer in img.layers):
            docker_manifest.append(
                {
                    "Config": config_name,
                    "RepoTags": [r.familiar() for r in tagged] or None,
                    "Layers": [
                        f"blobs/{Digest.parse(x.blob_digest).algorithm}/"
                        f"{Digest.parse(x.blob_digest).hex}"
                        for x in img.layers
                    ],
                }
            )
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": index_entries}
    tar.add_bytes("index.json", canonical_json(index))
    if docker_manifest:
        tar.add_bytes("manifest.json", json.dumps(docker_manifest, separators=(",", ":")).encode())
    tar.close()
