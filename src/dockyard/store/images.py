"""The image store: the one facade the engine and the distribution client call.

Every write (load, import, commit, create) stages its blobs under a lease, verifies them, and
registers the image and its references in one metadata transaction; on failure the lease is
dropped and the blobs nobody else references are deleted, so nothing half-made is visible.
Operations hold a shared lock on ``store.lock``; garbage collection takes it exclusively.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import importlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest, InvalidDigest, is_digest
from dockyard.oci.image import (
    MAX_CONFIG_BYTES,
    MAX_MANIFEST_BYTES,
    Descriptor,
    ImageConfig,
    InvalidConfig,
    InvalidManifest,
    canonical_json,
    chain_ids,
    make_manifest,
    parse_config,
    parse_manifest,
)
from dockyard.oci.platform import Platform, host_platform
from dockyard.oci.reference import InvalidReference as OciInvalidReference
from dockyard.oci.reference import (
    Reference,
    parse_normalized_named,
    parse_tag_reference,
)
from dockyard.store import archive as arc
from dockyard.store import gc as gcmod
from dockyard.store import loading, rmi, unpack, views
from dockyard.store.changes import apply_changes
from dockyard.store.content import ContentStore, ContentWriter, ephemeral_ref
from dockyard.store.errors import (
    AmbiguousImage,
    ConflictError,
    ContentError,
    ImageCorrupt,
    ImageNotFound,
    InvalidImage,
    InvalidReference,
)
from dockyard.store.layerinfo import (
    LayerFacts,
    check_tar,
    layer_facts,
    media_type_for,
    open_uncompressed,
)
from dockyard.store.metadata import ImageRecord, LayerRecord, Metadata
from dockyard.store.operation import LayerInput, LoadedImage, NewImage, Operation, layer_input
from dockyard.store.rmi import ImageUser

# The facade's interface: callers import these names from here.
__all__ = [
    "DEFAULT_MAX_LAYER_SIZE",
    "DEFAULT_MAX_MEMBER",
    "ImageStore",
    "ImageUser",
    "InUse",
    "LayerInput",
    "LoadedImage",
    "Snapshotter",
]

DEFAULT_MAX_MEMBER = 64 << 30
# Uncompressed bytes one layer may expand to (a decompression bomb stops here); None: no cap.
DEFAULT_MAX_LAYER_SIZE: int | None = 64 << 30


InUse = Callable[[str], Sequence[ImageUser]]


class Snapshotter(Protocol):
    """What the store needs from a snapshotter (dockyard.store.snapshots).

    ``apply_dir(key)`` is where a layer goes: an overlay upper dir (whiteouts are then
    written as overlayfs whiteouts) or, for the copy driver, the full tree of the snapshot.
    """

    driver: str

    def prepare(self, key: str, parent: str | None) -> Any: ...

    def commit(self, name: str, key: str) -> Any: ...

    def remove(self, key: str) -> Any: ...

    def exists(self, name: str) -> bool: ...

    def apply_dir(self, key: str) -> Path: ...

    def apply_layer(self, key: str, stream: BinaryIO, *, max_size: int | None = None) -> Any: ...

    def diff(self, key: str, out: BinaryIO, *, hidden: frozenset[str] = ...) -> Any: ...


@dataclass(frozen=True)
class SnapshotChanges:
    """A container's active snapshot: its changes against its parent become the new layer.

    Only the snapshotter knows how to diff its own snapshots (an overlay upper holds overlay
    whiteouts; a copy snapshot holds the whole tree), so ``commit`` asks it. ``hidden``
    paths (relative) are left out: the container's own mount points.
    """

    key: str
    hidden: frozenset[str] = frozenset()


def _ref_from_record(name: str) -> Reference:
    return parse_normalized_named(name)


class ImageStore:
    """Images under ``root``: ``content/`` (blobs), ``metadata.db``, ``snapshots/``.

    Reading: ``resolve``, ``get``, ``list``, ``inspect``, ``history``, ``config``, ``layers``.
    Writing: ``tag``, ``remove``, ``load``, ``save``/``save_oci``, ``import_rootfs``,
    ``commit``, ``create_image`` (a pull), ``prune``, ``gc``. Containers: ``ensure_unpacked``
    (→ the chain id to ``snapshotter.prepare`` on), ``add_image_use``/``remove_image_use``.
    Errors are those of ``dockyard.store.errors``: ImageNotFound (404), InvalidReference and
    InvalidImage/ArchiveError/InvalidChange (400), ConflictError/ImageInUse (409).
    Opening the store sweeps what a crashed process left (``recovered`` says what).
    """

    def __init__(
        self,
        root: Path,
        snapshotter: Snapshotter | None = None,
        *,
        ingest_ttl: float | None = None,
        max_layer_size: int | None = DEFAULT_MAX_LAYER_SIZE,
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.content = (
            ContentStore(self.root)
            if ingest_ttl is None
            else ContentStore(self.root, ingest_ttl=ingest_ttl)
        )
        self.meta = Metadata(self.root / "metadata.db")
        self._snapshotter = snapshotter
        self.max_layer_size = max_layer_size
        self._lock_path = self.root / "store.lock"
        self.recovered: gcmod.GCResult | None = self._recover()

    def close(self) -> None:
        self.meta.close()

    # locking and operations --------------------------------------------------------------

    @contextlib.contextmanager
    def _flock(self, mode: int, blocking: bool = True) -> Iterator[bool]:
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.flock(fd, mode | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

    def shared_lock(self) -> contextlib.AbstractContextManager[bool]:
        """Held by every operation; garbage collection takes the lock exclusively."""
        return self._flock(fcntl.LOCK_SH)

    @contextlib.contextmanager
    def _op(self) -> Iterator[Operation]:
        with self._flock(fcntl.LOCK_SH):
            lease = self.meta.create_lease()
            op = Operation(self.meta, self.content, lease)
            try:
                yield op
            except BaseException:
                held = self.meta.lease_resources("blob", lease)
                self.meta.delete_lease(lease)
                self._drop_unreferenced(held)
                raise
            # Also on success: an archive may carry files no image refers to.
            held = self.meta.lease_resources("blob", lease)
            self.meta.delete_lease(lease)
            self._drop_unreferenced(held)

    def _drop_unreferenced(self, candidates: set[str]) -> tuple[builtins.list[str], int]:
        """Delete the candidate blobs that no image or lease holds.

        Check and unlink happen inside one write transaction: an operation that wants the
        same blob records its lease first (also a write transaction), so either it sees the
        blob gone and writes it again, or we see its lease and keep the blob.
        """
        freed, removed = 0, []
        with self.meta.transaction():
            for d in sorted(candidates):
                if self.meta.blob_refcount(d) != 0:
                    continue
                with contextlib.suppress(InvalidDigest, ContentError):
                    digest = Digest.parse(d)
                    size = self.content.info(digest).size
                    if self.content.delete(digest):
                        freed += size
                        removed.append(d)
        return removed, freed

    def _recover(self) -> gcmod.GCResult | None:
        """Sweep what a crash may have left (dead leases, orphan blobs, ingests, snapshots).

        Skipped when another process is in the middle of an operation: its lease and lock
        say the store is live, and the next open will sweep.
        """
        result = self.gc(blocking=False)
        return (
            result
            if (result.blobs_removed or result.snapshots_removed or result.ingests_removed)
            else None
        )

    # leases for callers that write blobs themselves (the distribution client) -----------

    def create_lease(self, ttl: float = 3600.0) -> str:
        """Protect blobs from GC while a pull writes them; pass it to ``create_image``."""
        return self.meta.create_lease(ttl)

    def lease_blob(self, lease: str, digest: Digest | str) -> None:
        """Hold ``digest`` under ``lease``; call it before writing the blob."""
        self.meta.add_lease_resource(lease, "blob", str(digest))

    def blob_writer(
        self, lease: str, expected: Digest, size: int | None = None, *, ref: str | None = None
    ) -> ContentWriter:
        """A resumable writer for a blob being pulled, held by ``lease`` from the start.

        The ingest is named after the digest, so a retried pull resumes at ``writer.offset``.
        """
        self.lease_blob(lease, expected)
        name = ref or f"pull-{expected.algorithm}-{expected.hex}"
        return self.content.writer(name, expected, size, keep_on_error=True)

    def release_lease(self, lease: str) -> None:
        """Drop a lease; the blobs it held become garbage unless an image uses them."""
        self.meta.delete_lease(lease)

    # lookup ------------------------------------------------------------------------------

    def resolve(self, ref_or_id: str) -> str:
        """Docker's lookup: full id, ``sha256:`` id, reference, then unique id prefix."""
        s = ref_or_id.strip()
        if not s:
            raise ImageNotFound(ref_or_id)
        if is_digest(s):  # a full image id, sha256 or sha512
            if self.meta.get_image(s) is not None:
                return s
            raise ImageNotFound(s)
        if len(s) == 64 and all(c in "0123456789abcdef" for c in s):
            if self.meta.get_image("sha256:" + s) is not None:
                return "sha256:" + s
            raise ImageNotFound("sha256:" + s)  # Docker names it as the digest it parsed
        ref: Reference | None
        try:
            ref = parse_normalized_named(s).tagged_or_latest()
        except OciInvalidReference as e:
            if not s.startswith("sha256:"):
                raise InvalidReference(str(e)) from None
            ref = None
        if ref is not None:
            rec = self.meta.get_ref(str(ref))
            if rec is not None:
                return rec.image_id
        prefix = s.removeprefix("sha256:")
        if prefix and all(c in "0123456789abcdef" for c in prefix):
            found = self.meta.images_with_prefix("sha256:" + prefix)
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise AmbiguousImage(prefix)
        raise ImageNotFound(ref.familiar() if ref is not None else s)

    def get(self, ref_or_id: str) -> ImageRecord:
        image_id = self.resolve(ref_or_id)
        rec = self.meta.get_image(image_id)
        if rec is None:
            raise ImageNotFound(ref_or_id)
        return rec

    def exists(self, ref_or_id: str) -> bool:
        try:
            self.resolve(ref_or_id)
        except (ImageNotFound, InvalidReference, AmbiguousImage):
            return False
        return True

    def config(self, ref_or_id: str) -> ImageConfig:
        image_id = self.resolve(ref_or_id)
        try:
            data = self.content.read_bytes(Digest.parse(image_id), MAX_CONFIG_BYTES)
            return parse_config(data)
        except (ContentError, InvalidConfig) as e:
            raise ImageCorrupt(f"image {image_id}: config: {e}") from None

    def manifest(self, ref_or_id: str) -> tuple[bytes, str]:
        rec = self.get(ref_or_id)
        try:
            data = self.content.read_bytes(Digest.parse(rec.manifest_digest), MAX_MANIFEST_BYTES)
        except ContentError as e:
            raise ImageCorrupt(f"image {rec.id}: manifest: {e}") from None
        return data, rec.manifest_media_type

    def layers(self, ref_or_id: str) -> builtins.list[LayerRecord]:
        return self.meta.layers(self.resolve(ref_or_id))

    def refs(self, image_id: str) -> builtins.list[Reference]:
        return [_ref_from_record(r.name) for r in self.meta.refs_for_image(image_id)]

    def list(self) -> builtins.list[views.ImageSummary]:
        out = []
        for rec in self.meta.list_images():
            config: ImageConfig | None = None
            with contextlib.suppress(ImageCorrupt):
                config = self.config(rec.id)
            users = len(self.meta.image_users(rec.id))
            out.append(views.summary(rec, config, self.refs(rec.id), users))
        out.sort(key=lambda s: (-s.created, s.id))
        return out

    def inspect(self, ref_or_id: str) -> dict[str, Any]:
        rec = self.get(ref_or_id)
        refs = self.meta.refs_for_image(rec.id)
        last = max((r.created for r in refs if r.kind == "tag"), default=None)
        return views.inspect(rec, self.config(rec.id), self.refs(rec.id), last)

    def history(self, ref_or_id: str) -> builtins.list[dict[str, Any]]:
        rec = self.get(ref_or_id)
        tags = [r.familiar() for r in self.refs(rec.id) if r.digest is None]
        ancestors = []
        parent, seen = rec.parent, {rec.id}
        while parent and parent not in seen:
            seen.add(parent)
            prec = self.meta.get_image(parent)
            if prec is None:
                break
            with contextlib.suppress(ImageCorrupt):
                ptags = [r.familiar() for r in self.refs(parent) if r.digest is None]
                ancestors.append((parent, len(self.config(parent).history), ptags))
            parent = prec.parent
        return views.history(rec.id, self.config(rec.id), self.meta.layers(rec.id), tags, ancestors)

    # tags --------------------------------------------------------------------------------

    def tag(self, source: str, target: str) -> Reference:
        image_id = self.resolve(source)
        try:
            ref = parse_tag_reference(target)
        except OciInvalidReference as e:
            raise InvalidReference(str(e)) from None
        with self._flock(fcntl.LOCK_SH):
            self.meta.set_ref(str(ref), image_id, "tag")
        return ref

    def untag(self, ref: str) -> bool:
        try:
            named = parse_normalized_named(ref).tagged_or_latest()
        except OciInvalidReference as e:
            raise InvalidReference(str(e)) from None
        return self.meta.delete_ref(str(named))

    # containers using images -------------------------------------------------------------

    def add_image_use(self, container_id: str, image_id: str) -> None:
        rec = self.get(image_id)
        self.meta.add_image_use(container_id, rec.id, rec.chain_id)

    def remove_image_use(self, container_id: str) -> None:
        self.meta.remove_image_use(container_id)

    def _users(self, image_id: str, in_use: InUse | None) -> builtins.list[ImageUser]:
        if in_use is not None:
            return list(in_use(image_id))
        return [ImageUser(c, False) for c in self.meta.image_users(image_id)]

    # remove ------------------------------------------------------------------------------

    def remove(
        self,
        ref_or_id: str,
        force: bool = False,
        prune: bool = True,
        in_use: InUse | None = None,
    ) -> builtins.list[dict[str, str]]:
        """``docker rmi``: untag, then delete when no reference is left (Docker's rules)."""
        with self._flock(fcntl.LOCK_SH):
            return self._remove(ref_or_id, force, prune, in_use)

    def _remove(
        self, ref_or_id: str, force: bool, prune: bool, in_use: InUse | None
    ) -> builtins.list[dict[str, str]]:
        image_id = self.resolve(ref_or_id)
        records: builtins.list[dict[str, str]] = []
        refs = self.refs(image_id)
        given = ref_or_id.strip()
        quiet = False
        if not rmi.is_id_prefix(image_id, given):
            named = parse_normalized_named(given)
            if named.digest is None:
                named = named.tagged_or_latest()
            users = self._users(image_id, in_use)
            if not force and rmi.single_reference(refs) and users:
                raise rmi.reference_in_use(given, image_id, users[0])
            drop, remaining = rmi.untag_by_name(named, refs)
            with self.meta.transaction():
                for r in drop:
                    self.meta.delete_ref(str(r))
            records += [{"Untagged": r.familiar()} for r in drop]
            if remaining:
                return records
            quiet = True
        elif rmi.single_reference(refs):
            conflict = rmi.find_conflict(
                has_children=bool(self.meta.children(image_id)),
                users=self._users(image_id, in_use),
                has_references=True,
                soft=not force,
                references_count=False,
            )
            if conflict:
                raise conflict.error(image_id)
            with self.meta.transaction():
                for r in refs:
                    self.meta.delete_ref(str(r))
            records += [{"Untagged": r.familiar()} for r in refs]
        self._delete_helper(image_id, records, force, prune, quiet, in_use)
        return records

    def _delete_helper(
        self,
        image_id: str,
        records: builtins.list[dict[str, str]],
        force: bool,
        prune: bool,
        quiet: bool,
        in_use: InUse | None,
    ) -> None:
        has_refs = bool(self.meta.refs_for_image(image_id))
        has_children = bool(self.meta.children(image_id))
        conflict = rmi.find_conflict(
            has_children=has_children,
            users=self._users(image_id, in_use),
            has_references=has_refs,
            soft=not force,
        )
        if conflict is not None:
            # Docker's imageIsDangling: no references and no children.
            dangling = not has_refs and not has_children
            if quiet and (not dangling or conflict.used):
                return
            raise conflict.error(image_id)
        rec = self.meta.get_image(image_id)
        if rec is None:
            raise ImageNotFound(image_id)
        layers = self.meta.layers(image_id)
        with self.meta.transaction():
            for r in self.meta.refs_for_image(image_id):
                self.meta.delete_ref(r.name)
                records.append({"Untagged": _ref_from_record(r.name).familiar()})
            self.meta.delete_image(image_id)
        records.append({"Deleted": image_id})
        chains = self.meta.chain_refcounts()
        for layer in reversed(layers):
            if chains.get(layer.chain_id, 0) == 0:
                records.append({"Deleted": layer.chain_id})
        self._release(rec, layers)
        if prune and rec.parent and self.meta.get_image(rec.parent) is not None:
            self._delete_helper(rec.parent, records, False, True, True, in_use)

    def _release(self, rec: ImageRecord, layers: builtins.list[LayerRecord]) -> int:
        """Delete the blobs and snapshots of a removed image that nothing else holds."""
        _, freed = self._drop_unreferenced(
            {rec.manifest_digest, rec.id, *(x.blob_digest for x in layers)}
        )
        chains = self.meta.chain_refcounts()
        for layer in reversed(layers):
            if chains.get(layer.chain_id, 0) == 0 and self.meta.get_snapshot(layer.chain_id):
                self._remove_snapshot(layer.chain_id)
        return freed

    def _remove_snapshot(self, chain: str) -> bool:
        """Remove a committed layer snapshot; keep its record if the snapshotter refuses
        (a container's snapshot may still be built on it) so that a later GC retries."""
        snap = self._existing_snapshotter()
        if snap is not None:
            try:
                if snap.exists(chain):
                    snap.remove(chain)
            except Exception:
                return False
        self.meta.remove_snapshot(chain)
        return True

    # registering new images --------------------------------------------------------------

    def build(
        self,
        op: Operation,
        config_digest: Digest,
        layers: Sequence[LayerInput],
        manifest: tuple[Digest, str] | None = None,
        parent: str | None = None,
    ) -> NewImage:
        try:
            config_bytes = self.content.read_bytes(config_digest, MAX_CONFIG_BYTES)
            cfg = parse_config(config_bytes)
        except (ContentError, InvalidConfig) as e:
            raise InvalidImage(f"image config {config_digest}: {e}") from None
        if len(layers) != len(cfg.diff_ids):
            raise InvalidImage(
                f"the image config lists {len(cfg.diff_ids)} layers (rootfs.diff_ids) "
                f"but the image has {len(layers)}"
            )
        records: builtins.list[LayerRecord] = []
        descriptors: builtins.list[Descriptor] = []
        chains = chain_ids(cfg.diff_ids)
        for i, (layer, want) in enumerate(zip(layers, cfg.diff_ids, strict=True)):
            op.hold(layer.digest)
            try:
                blob_size = self.content.info(layer.digest).size
            except ContentError as e:
                raise InvalidImage(f"layer {i}: {e}") from None
            if layer.diff_id is not None and layer.size is not None and layer.media_type:
                diff_id, size, media_type = layer.diff_id, layer.size, layer.media_type
            else:
                with self.content.open(layer.digest) as f:
                    facts = _plain_facts(f, layer.digest, blob_size) or layer_facts(
                        f, limit=self.max_layer_size
                    )
                diff_id, size = facts.diff_id, facts.size
                media_type = layer.media_type or media_type_for(facts.compression)
            if media_type not in mt.LAYER_TYPES:
                raise InvalidImage(f"layer {i}: unsupported layer media type {media_type}")
            if diff_id != want:
                raise InvalidImage(
                    f"layer {i} ({layer.digest}) has diff_id {diff_id}, "
                    f"but the image config says {want}"
                )
            records.append(
                LayerRecord(
                    i, str(layer.digest), media_type, blob_size, str(diff_id), str(chains[i]), size
                )
            )
            descriptors.append(Descriptor(media_type, layer.digest, blob_size))
        if manifest is None:
            cdesc = Descriptor(mt.OCI_CONFIG, config_digest, len(config_bytes))
            body = make_manifest(cdesc, descriptors).to_bytes()
            manifest_digest, manifest_type = op.put_bytes(body), mt.OCI_MANIFEST
            manifest_size = len(body)
        else:
            manifest_digest, manifest_type = manifest
            op.hold(manifest_digest)
            manifest_size = self.content.info(manifest_digest).size
        rec = ImageRecord(
            id=str(config_digest),
            manifest_digest=str(manifest_digest),
            manifest_media_type=manifest_type,
            manifest_size=manifest_size,
            config_size=len(config_bytes),
            created=cfg.created,
            size=sum(r.size for r in records),
            chain_id=str(chains[-1]) if chains else None,
            parent=parent,
            added_at=_now(),
        )
        return NewImage(rec, records)

    def _register(self, images: Sequence[NewImage]) -> builtins.list[LoadedImage]:
        """Add every image and move every tag in one transaction."""
        out = []
        with self.meta.transaction():
            for img in images:
                self.meta.add_image(img.record, img.layers)
                replaced = []
                for ref in img.tags:
                    old = self.meta.set_ref(str(ref), img.record.id, "tag")
                    if old is not None:
                        replaced.append((ref.familiar(), old))
                for ref in img.digest_refs:
                    self.meta.set_ref(str(ref), img.record.id, "digest")
                out.append(LoadedImage(img.record.id, [r.familiar() for r in img.tags], replaced))
        return out

    def create_image(
        self,
        config: bytes,
        layers: Sequence[LayerInput | tuple[Any, ...]],
        ref: str | None = None,
        *,
        manifest: bytes | None = None,
        manifest_media_type: str | None = None,
        lease: str | None = None,
        repo_digest: Digest | str | None = None,
    ) -> str:
        """Register an image whose layer blobs are already in the content store (a pull).

        ``manifest``, when given, is stored verbatim and ``ref`` also gets a digest reference
        (``name@<manifest digest>``), as Docker records RepoDigests for pulled images.
        ``repo_digest`` is the digest the registry named instead, when ``ref`` resolved to
        a manifest list or OCI index there: Docker records that one, the digest a
        ``pull name@<digest>`` gives back.
        """
        with self._op() as op:
            image_id = self.create_image_in(
                op,
                config,
                layers,
                ref,
                manifest=manifest,
                manifest_media_type=manifest_media_type,
                repo_digest=repo_digest,
            )
        if lease:
            self.meta.delete_lease(lease)
        return image_id

    def operation(self) -> contextlib.AbstractContextManager[Operation]:
        """A write operation (shared store lock + lease) for several calls that build one image."""
        return self._op()

    def create_image_in(
        self,
        op: Operation,
        config: bytes,
        layers: Sequence[LayerInput | tuple[Any, ...]],
        ref: str | None = None,
        *,
        manifest: bytes | None = None,
        manifest_media_type: str | None = None,
        repo_digest: Digest | str | None = None,
    ) -> str:
        inputs = [layer_input(x) for x in layers]
        listed: Digest | None = None
        if repo_digest is not None:
            try:
                listed = Digest.parse(str(repo_digest))
            except InvalidDigest as e:
                raise InvalidImage(f"invalid repository digest {repo_digest!r}: {e}") from None
        named = self._parse_target(ref)
        cdigest = op.put_bytes(config)
        mref: tuple[Digest, str] | None = None
        if manifest is not None:
            try:
                parsed = parse_manifest(manifest, manifest_media_type)
            except InvalidManifest as e:
                raise InvalidImage(str(e)) from None
            if parsed.config.digest != cdigest:
                raise InvalidImage("the manifest's config digest does not match the config")
            if [d.digest for d in parsed.layers] != [x.digest for x in inputs]:
                raise InvalidImage("the manifest's layers do not match the layers given")
            inputs = [
                LayerInput(x.digest, d.media_type, x.diff_id, x.size)
                for x, d in zip(inputs, parsed.layers, strict=True)
            ]
            mref = (op.put_bytes(manifest), parsed.media_type)
        new = self.build(op, cdigest, inputs, mref)
        if named is not None:
            if named.digest is None:
                new.tags.append(named)
            if mref is not None:
                shown = listed if listed is not None else mref[0]
                new.digest_refs.append(named.name_only().with_digest(str(shown)))
        self._register([new])
        return new.record.id

    def _parse_target(self, ref: str | None) -> Reference | None:
        if ref is None or ref == "":
            return None
        try:
            named = parse_normalized_named(ref)
        except OciInvalidReference as e:
            raise InvalidReference(str(e)) from None
        return named if named.digest is not None else named.tagged_or_latest()

    # import / commit ---------------------------------------------------------------------

    def _store_layer(self, op: Operation, stream: BinaryIO) -> tuple[Digest, int]:
        from dockyard.store.layers.errors import LayerError

        try:
            digest = op.put_stream(open_uncompressed(stream), limit=self.max_layer_size)
        except LayerError as e:
            raise InvalidImage(f"cannot read the layer: {e}") from None
        with self.content.open(digest) as f:
            check_tar(f)
        return digest, self.content.info(digest).size

    def import_rootfs(
        self,
        tar_stream: BinaryIO,
        ref: str | None = None,
        changes: Sequence[str] = (),
        message: str = "",
        *,
        platform: Platform | None = None,
        source: str = "-",
    ) -> str:
        """``docker import``: one layer from a (possibly compressed) tarball, plus --change."""
        named = self._parse_target(ref)
        plat = platform or host_platform()
        config = apply_changes({}, changes)
        with self._op() as op:
            digest, size = self._store_layer(op, tar_stream)
            now = views.rfc3339_now()
            body: dict[str, Any] = {
                "architecture": plat.architecture,
                "os": plat.os,
                "created": now,
                "config": config,
                "rootfs": {"type": "layers", "diff_ids": [str(digest)]},
                "history": [{"created": now, "comment": message or f"Imported from {source}"}],
            }
            if plat.variant:
                body["variant"] = plat.variant
            cdigest = op.put_bytes(canonical_json(body))
            new = self.build(op, cdigest, [LayerInput(digest, mt.OCI_LAYER, digest, size)])
            if named is not None:
                new.tags.append(named)
            self._register([new])
            return new.record.id

    def commit(
        self,
        diff: BinaryIO | Path | SnapshotChanges,
        parent_image_id: str | None,
        config_overrides: dict[str, Any] | None = None,
        ref: str | None = None,
        author: str = "",
        message: str = "",
        *,
        changes: Sequence[str] = (),
        container_id: str = "",
        created_by: str = "",
    ) -> str:
        """``docker commit``: a container's changes (an upper dir or a diff tar) as a new layer."""
        named = self._parse_target(ref)
        parent_cfg = self.config(parent_image_id) if parent_image_id else None
        parent_id = self.resolve(parent_image_id) if parent_image_id else None
        base: dict[str, Any] = dict(parent_cfg.config) if parent_cfg else {}
        base.update(config_overrides or {})
        config = apply_changes(base, changes)
        with self._op() as op:
            if isinstance(diff, SnapshotChanges):
                digest, size = self._diff_snapshot(op, diff)
            elif isinstance(diff, Path):
                digest, size = self._diff_upper(op, diff)
            else:
                digest, size = self._store_layer(op, diff)
            now = views.rfc3339_now()
            plat = parent_cfg.platform if parent_cfg else host_platform()
            diff_ids = [str(d) for d in parent_cfg.diff_ids] if parent_cfg else []
            hist = [dict(h.raw) for h in parent_cfg.history] if parent_cfg else []
            entry: dict[str, Any] = {"created": now, "created_by": created_by}
            if author:
                entry["author"] = author
            if message:
                entry["comment"] = message
            body: dict[str, Any] = {
                "architecture": plat.architecture,
                "os": plat.os,
                "created": now,
                "config": config,
                "rootfs": {"type": "layers", "diff_ids": [*diff_ids, str(digest)]},
                "history": [*hist, entry],
            }
            if plat.variant:
                body["variant"] = plat.variant
            if author:
                body["author"] = author
            if message:
                body["comment"] = message
            if container_id:
                body["container"] = container_id
            cdigest = op.put_bytes(canonical_json(body))
            parent_layers = self.meta.layers(parent_id) if parent_id else []
            inputs = [
                LayerInput(
                    Digest.parse(x.blob_digest), x.media_type, Digest.parse(x.diff_id), x.size
                )
                for x in parent_layers
            ]
            inputs.append(LayerInput(digest, mt.OCI_LAYER, digest, size))
            new = self.build(op, cdigest, inputs, parent=parent_id)
            if named is not None:
                new.tags.append(named)
            self._register([new])
            return new.record.id

    def _diff_snapshot(self, op: Operation, changes: SnapshotChanges) -> tuple[Digest, int]:
        if self.snapshotter is None:
            raise InvalidImage("commit of a snapshot needs a snapshotter")
        ref = ephemeral_ref()
        with self.content.writer(ref) as w:
            self.snapshotter.diff(changes.key, cast(BinaryIO, w), hidden=changes.hidden)
            op.hold(w.digest())
            digest = w.commit()
        return digest, self.content.info(digest).size

    def _diff_upper(self, op: Operation, upper: Path) -> tuple[Digest, int]:
        from dockyard.store.layers import write_diff

        ref = ephemeral_ref()
        with self.content.writer(ref) as w:
            write_diff(upper, cast(BinaryIO, w))
            op.hold(w.digest())
            digest = w.commit()
        return digest, self.content.info(digest).size

    # load / save -------------------------------------------------------------------------

    def load(
        self, stream: BinaryIO, *, max_member: int = DEFAULT_MAX_MEMBER
    ) -> builtins.list[LoadedImage]:
        """``docker load``: a docker-archive or OCI layout tar, optionally gzip-compressed."""
        with self._op() as op:
            staged = arc.stage_archive(stream, self.content, op.hold, max_member=max_member)
            return self._register(loading.stage(self, op, staged))

    def load_path(self, path: Path) -> builtins.list[LoadedImage]:
        with open(path, "rb") as f:
            return self.load(f)

    def save(self, refs: Sequence[str], out: BinaryIO) -> None:
        """``docker save`` in the docker-archive format (Docker 20.10's layout)."""
        with self._flock(fcntl.LOCK_SH):
            arc.write_docker_archive(out, loading.save_list(self, refs), self.content)

    def save_oci(self, refs: Sequence[str], out: BinaryIO) -> None:
        """An OCI image-layout tar (with Docker's manifest.json when layers are plain tars)."""
        with self._flock(fcntl.LOCK_SH):
            arc.write_oci_layout(out, loading.save_list(self, refs), self.content)

    # unpacking ---------------------------------------------------------------------------

    @property
    def snapshotter(self) -> Snapshotter:
        if self._snapshotter is None:
            # Imported by name: snapshots.py (B2's) pulls in mount code the rest does not need.
            snapshots = importlib.import_module("dockyard.store.snapshots")
            factory = (
                getattr(snapshots, "default_snapshotter", None) or snapshots.OverlaySnapshotter
            )
            self._snapshotter = cast(Snapshotter, factory(self.root / "snapshots"))
        return self._snapshotter

    def ensure_unpacked(self, ref_or_id: str) -> str | None:
        """Apply every layer into committed snapshots; returns the top chain id."""
        return unpack.unpack(self, self.resolve(ref_or_id))

    def unpack_layer(
        self,
        chain_id: str,
        parent: str | None,
        diff_id: str,
        stream: BinaryIO,
        *,
        label: str = "",
        lease: str | None = None,
        before_commit: Callable[[], None] | None = None,
    ) -> Any:
        """Apply one layer tar from ``stream`` as snapshot ``chain_id`` (see unpack.unpack_layer).

        For a pull that applies layers while they download: hold ``shared_lock()`` around it.
        """
        return unpack.unpack_layer(
            self,
            chain_id,
            parent,
            diff_id,
            stream,
            label=label,
            lease=lease,
            before_commit=before_commit,
        )

    def _stale_extract_keys(self) -> builtins.list[str]:
        return unpack.stale_extract_keys(self._existing_snapshotter())

    # verification, GC, disk usage, prune -------------------------------------------------

    def verify(self, ref_or_id: str, *, deep: bool = False) -> None:
        """Raise ImageCorrupt unless every blob of the image is present and verifies."""
        rec = self.get(ref_or_id)
        try:
            mdigest = Digest.parse(rec.manifest_digest)
            self.content.verify(mdigest, rec.manifest_size)
            manifest = parse_manifest(self.content.read_bytes(mdigest), rec.manifest_media_type)
            config_digest = Digest.parse(rec.id)
            if manifest.config.digest != config_digest:
                raise ImageCorrupt(f"image {rec.id}: the manifest names another config")
            self.content.verify(config_digest, rec.config_size)
            cfg = parse_config(self.content.read_bytes(config_digest))
            layers = self.meta.layers(rec.id)
            if [x.diff_id for x in layers] != [str(d) for d in cfg.diff_ids]:
                raise ImageCorrupt(f"image {rec.id}: layer records do not match the config")
            if [x.blob_digest for x in layers] != [str(d.digest) for d in manifest.layers]:
                raise ImageCorrupt(f"image {rec.id}: layer records do not match the manifest")
            for layer in layers:
                blob = Digest.parse(layer.blob_digest)
                self.content.verify(blob, layer.blob_size)
                if deep:
                    with self.content.open(blob) as f:
                        facts = layer_facts(f)
                    if str(facts.diff_id) != layer.diff_id:
                        raise ImageCorrupt(f"image {rec.id}: layer {blob} has another diff_id")
        except (ContentError, InvalidManifest, InvalidConfig, InvalidImage) as e:
            raise ImageCorrupt(f"image {rec.id}: {e}") from None

    def verify_all(self, *, deep: bool = False) -> dict[str, str]:
        """Image id → the problem, for every listed image that does not verify."""
        problems = {}
        for rec in self.meta.list_images():
            try:
                self.verify(rec.id, deep=deep)
            except ImageCorrupt as e:
                problems[rec.id] = str(e)
        return problems

    def gc(self, *, blocking: bool = True) -> gcmod.GCResult:
        empty = gcmod.GCResult([], 0, [], [])
        with self._flock(fcntl.LOCK_EX, blocking) as locked:
            if not locked:
                return empty
            self.meta.expire_leases()
            images = [(r, self.meta.layers(r.id)) for r in self.meta.list_images()]
            snapshots = self.meta.list_snapshots()
            graph = gcmod.build_graph(
                images,
                self.meta.image_uses(),
                snapshots,
                self.meta.lease_resources("blob"),
                self.meta.lease_resources("snapshot"),
            )
            marked = gcmod.mark(graph.roots, graph.edges)
            blobs = {str(b.digest): b.size for b in self.content.walk()}
            plan = gcmod.plan_sweep(marked, blobs, snapshots)
            # Re-checked one by one in a write transaction: a pull writing outside the store
            # lock may have leased a blob after the mark.
            swept, freed = self._drop_unreferenced(set(plan.blobs))
            removed = [chain for chain in plan.snapshots if self._remove_snapshot(chain)]
            removed += self._sweep_unrecorded_snapshots(marked)
            snap = self._existing_snapshotter()
            if snap is not None:
                for key in self._stale_extract_keys():
                    with contextlib.suppress(Exception):
                        snap.remove(key)
            ingests = self.content.sweep_ingests()
            return gcmod.GCResult(swept, freed, removed, ingests)

    def _existing_snapshotter(self) -> Snapshotter | None:
        """The snapshotter, if one was given or the default one has ever been used."""
        if self._snapshotter is None and (self.root / "snapshots").exists():
            return self.snapshotter
        return self._snapshotter

    def _sweep_unrecorded_snapshots(self, marked: set[str]) -> builtins.list[str]:
        """Layer snapshots (named by chain id) that a crash left unrecorded and unused."""
        snap = self._existing_snapshotter()
        lister = getattr(snap, "list", None)
        if snap is None or lister is None:
            return []
        removed: builtins.list[str] = []
        for _ in range(64):  # children first: each pass frees the next level of parents
            progress = False
            for info in lister():
                name = str(getattr(info, "name", ""))
                if getattr(info, "kind", "") != "committed" or not is_digest(name):
                    continue
                if f"snapshot:{name}" in marked or name in removed:
                    continue
                with contextlib.suppress(Exception):
                    snap.remove(name)
                    self.meta.remove_snapshot(name)
                    removed.append(name)
                    progress = True
            if not progress:
                break
        return removed

    def disk_usage(self) -> dict[str, Any]:
        """``docker system df`` for images: size, shared size and unique size per image."""
        per_image = {r.id: self.meta.layers(r.id) for r in self.meta.list_images()}
        users: dict[str, int] = {}
        for layers in per_image.values():
            for chain in {x.chain_id for x in layers}:
                users[chain] = users.get(chain, 0) + 1
        images = []
        sizes: dict[str, int] = {}
        for rec in self.meta.list_images():
            layers = per_image[rec.id]
            shared = sum(x.size for x in layers if users[x.chain_id] > 1)
            for x in layers:
                sizes[x.chain_id] = x.size
            images.append(
                {
                    "Id": rec.id,
                    "RepoTags": [r.familiar() for r in self.refs(rec.id) if r.digest is None],
                    "Size": rec.size,
                    "SharedSize": shared,
                    "UniqueSize": rec.size - shared,
                    "Containers": len(self.meta.image_users(rec.id)),
                }
            )
        return {"LayersSize": sum(sizes.values()), "Images": images}

    def prune(self, all: bool = False, in_use: InUse | None = None) -> dict[str, Any]:
        """``docker image prune``: dangling images, or with ``all`` every unused image."""
        before = sum(b.size for b in self.content.walk())
        deleted: builtins.list[dict[str, str]] = []
        for rec in list(self.meta.list_images()):
            if self.meta.get_image(rec.id) is None or self.meta.children(rec.id):
                continue
            if self._users(rec.id, in_use):
                continue
            refs = self.refs(rec.id)
            if refs and not all:
                continue
            with contextlib.suppress(ConflictError, ImageNotFound):
                if refs:
                    for r in refs:
                        if self.meta.get_image(rec.id) is not None:
                            deleted.extend(self.remove(str(r), False, True, in_use))
                else:
                    deleted.extend(self.remove(rec.id, False, True, in_use))
        after = sum(b.size for b in self.content.walk())
        return {"ImagesDeleted": deleted or None, "SpaceReclaimed": max(0, before - after)}


def _plain_facts(f: BinaryIO, digest: Digest, size: int) -> LayerFacts | None:
    """An uncompressed layer's diff_id is its blob digest, verified when it was stored:
    no need to hash it twice. Rewinds ``f`` when the layer is compressed."""
    from dockyard.store.layers.compression import detect

    head = f.read(8)
    f.seek(0)
    if detect(head) != "plain" or digest.algorithm != "sha256":
        return None
    return LayerFacts("plain", digest, size)


def _now() -> float:
    import time

    return time.time()
