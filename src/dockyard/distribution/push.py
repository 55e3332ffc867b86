"""Push an image from the image store to a registry.

Layers first (a few at a time): a HEAD says whether the repository already has the blob;
else a cross-repository mount is tried when the mount table knows a sibling repository with
it; else the blob is uploaded (monolithic, or in chunks for large blobs). Then the config,
and the manifest last, so the registry never holds a manifest whose blobs are missing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from dockyard.distribution import progress as pm
from dockyard.distribution.client import Body, RegistryClient
from dockyard.distribution.errors import DistributionError, NotFoundError
from dockyard.distribution.transfer import Transfer, TransferOptions
from dockyard.oci.digest import Digest
from dockyard.oci.image import Descriptor, InvalidManifest, parse_manifest
from dockyard.oci.reference import InvalidReference, Reference, parse_normalized_named

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing_extensions import Unpack

# Blobs above this go up in PATCH chunks of this size; smaller ones in one PUT.
DEFAULT_CHUNK = 64 << 20
PROGRESS_INTERVAL = 0.1
_READ = 1 << 20


@dataclass(frozen=True)
class PushResult:
    reference: Reference
    digest: Digest
    size: int
    uploaded: int  # blobs sent (layers and config)
    mounted: int
    existing: int


class Pusher(Transfer):
    def __init__(
        self,
        store: Any,  # dockyard.store.images.ImageStore
        *,
        chunk_size: int = DEFAULT_CHUNK,
        **options: Unpack[TransferOptions],
    ) -> None:
        super().__init__(store, **options)
        self.chunk_size = max(1, chunk_size)
        self._counts = {"uploaded": 0, "mounted": 0, "existing": 0}

    def _count(self, what: str) -> None:
        with self._lock:
            self._counts[what] += 1

    def push(self, ref: Reference) -> PushResult:
        client = self.client_for(ref)
        repo = ref.path
        tag = ref.tag or "latest"
        body, media_type = self.store.manifest(str(ref.with_tag(tag)))
        try:
            manifest = parse_manifest(body, media_type)
        except InvalidManifest as e:
            raise DistributionError(f"image {ref.familiar()}: stored manifest: {e}") from None
        self._emit(pm.status(f"The push refers to repository [{ref.name}]"))
        layers = list({d.digest: d for d in manifest.layers}.values())
        for d in layers:
            self._emit(pm.layer_status("Preparing", pm.short_id(d.digest)))
        if len(layers) > self.parallel:
            for d in layers[self.parallel :]:
                self._emit(pm.layer_status("Waiting", pm.short_id(d.digest)))
        with ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="push") as pool:
            futures = [pool.submit(self._push_blob, client, repo, d, True) for d in layers]
            errors = [f.exception() for f in futures]
        for err in errors:
            if err is not None:
                raise err
        self._push_blob(client, repo, manifest.config, False)
        digest = client.put_manifest(repo, tag, body, manifest.media_type)
        if self.sources is not None:
            self.sources.record(client.endpoint.host, repo, [d.digest for d in layers])
        self._emit(pm.status(f"{tag}: digest: {digest} size: {len(body)}"))
        self._emit(pm.aux({"Tag": tag, "Digest": str(digest), "Size": len(body)}))
        return PushResult(
            ref.with_tag(tag),
            digest,
            len(body),
            self._counts["uploaded"],
            self._counts["mounted"],
            self._counts["existing"],
        )

    def _push_blob(self, client: RegistryClient, repo: str, d: Descriptor, show: bool) -> None:
        sid = pm.short_id(d.digest)
        if client.blob_size(repo, d.digest) is not None:
            self._count("existing")
            if show:
                self._emit(pm.layer_status("Layer already exists", sid))
            return
        location: str | None = None
        if self.sources is not None:
            for source in self.sources.candidates(client.endpoint.host, d.digest, repo)[:3]:
                try:
                    location, mounted = client.start_upload(repo, mount=d.digest, source=source)
                except NotFoundError:
                    continue
                if mounted:
                    self._count("mounted")
                    if show:
                        self._emit(pm.layer_status(f"Mounted from {source}", sid))
                    return
                break  # the registry opened an ordinary upload instead: use it
        if location is None:
            location, _ = client.start_upload(repo)
        assert location is not None
        self._upload(client, repo, location, d, sid if show else None)
        self._count("uploaded")
        if show:
            self._emit(pm.layer_status("Pushed", sid))

    def _chunks(
        self, digest: Digest, start: int, length: int, sid: str | None, total: int
    ) -> Iterator[bytes]:
        last = 0.0
        sent = start
        with self.store.content.open(digest) as f:
            f.seek(start)
            left = length
            while left > 0:
                chunk = f.read(min(_READ, left))
                if not chunk:
                    raise DistributionError(f"blob {digest} is shorter than its descriptor says")
                left -= len(chunk)
                sent += len(chunk)
                yield chunk
                now = time.monotonic()
                if sid is not None and now - last >= PROGRESS_INTERVAL:
                    last = now
                    self._emit(pm.layer_progress("Pushing", sid, sent, total))

    def _upload(
        self, client: RegistryClient, repo: str, location: str, d: Descriptor, sid: str | None
    ) -> None:
        size = d.size
        if size <= self.chunk_size:
            body = Body(size, lambda: self._chunks(d.digest, 0, size, sid, size))
            client.upload_monolithic(repo, location, d.digest, body)
            return
        start = 0
        while start < size:
            n = min(self.chunk_size, size - start)
            s = start
            chunk_body = Body(n, lambda s=s, n=n: self._chunks(d.digest, s, n, sid, size))  # type: ignore[misc]
            location = client.upload_chunk(repo, location, start, chunk_body)
            start += n
        client.finish_upload(repo, location, d.digest)


def parse_push_reference(name: str, tag: str | None = None) -> Reference:
    try:
        ref = parse_normalized_named(name)
        if tag:
            ref = ref.with_tag(tag)
    except InvalidReference as e:
        raise DistributionError(f"invalid reference format: {e}") from None
    if ref.digest is not None:
        raise DistributionError("cannot push a digest reference")
    return ref


def push(store: Any, name: str, tag: str | None = None, **options: Any) -> PushResult:
    """Push ``name:tag`` (``latest`` when no tag) from ``store`` to its registry."""
    return Pusher(store, **options).push(parse_push_reference(name, tag).tagged_or_latest())
