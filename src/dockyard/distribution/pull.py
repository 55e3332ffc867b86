"""Pull an image from a registry into the image store.

Tag → manifest (an index picks the host's platform) → config → layers, downloaded a few at a
time, each streamed into the store's resumable blob writer (which verifies size and digest on
commit). A connection cut mid-blob is retried with ``Range`` from the writer's offset; blobs
already in the store are not downloaded again.

While they download, the layers are applied in order into snapshots named by chain id: each
download also feeds its bytes to the applier (feed.py), so a layer is unpacked as it arrives
when its parent is already committed, and read back from its just-verified blob otherwise.
A snapshot is committed only after its blob's digest and its diff id check out; layers whose
snapshot exists are not applied again. The image is registered in one store transaction only
when every blob is in.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from dockyard.distribution import progress as pm
from dockyard.distribution.client import RegistryClient, is_connection_error
from dockyard.distribution.diffid import DiffDigester
from dockyard.distribution.errors import (
    DistributionError,
    InvalidResponse,
    NoMatchingPlatform,
    TransferInterrupted,
)
from dockyard.distribution.feed import LayerFeed
from dockyard.distribution.transfer import Transfer, TransferOptions
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest
from dockyard.oci.image import (
    MAX_CONFIG_BYTES,
    Descriptor,
    ImageConfig,
    Index,
    InvalidConfig,
    InvalidManifest,
    Manifest,
    chain_ids,
    parse_config,
    parse_manifest_or_index,
)
from dockyard.oci.platform import Platform, host_platform
from dockyard.oci.reference import InvalidReference, Reference, normalize
from dockyard.store.errors import DigestMismatch, IngestLocked, SizeMismatch
from dockyard.store.operation import LayerInput

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing_extensions import Unpack

DEFAULT_RETRIES = 5
# Progress lines per layer are throttled: a 200 MB layer would otherwise print thousands.
PROGRESS_INTERVAL = 0.1
RETRY_DELAY = 1.0
# How long to wait for another pull that is writing the same blob.
LOCKED_WAIT = 600.0


@dataclass(frozen=True)
class PullResult:
    image_id: str
    manifest_digest: Digest  # the image manifest's (the platform's, under an index)
    reference: Reference
    downloaded: int  # layers fetched (0: everything was already here)
    up_to_date: bool
    diff_ids_computed: int = 0  # layers whose diff id was computed during the download
    # What the reference resolved to at the registry: the manifest list or index when
    # there is one (recorded in RepoDigests and printed as "Digest:", as Docker does).
    repo_digest: Digest | None = None


def parse_pull_reference(name: str, tag: str | None = None) -> Reference:
    """``fromImage`` and ``tag`` as Docker's /images/create takes them (tag may be a digest)."""
    try:
        ref = normalize(name) if not tag else None
        if tag:
            base = normalize(name).name_only()
            ref = base.with_digest(tag) if ":" in tag and "@" not in name else base.with_tag(tag)
    except InvalidReference as e:
        raise DistributionError(f"invalid reference format: {e}") from None
    assert ref is not None
    return ref


class Puller(Transfer):
    def __init__(
        self,
        store: Any,  # dockyard.store.images.ImageStore
        *,
        platform: Platform | None = None,
        retries: int = DEFAULT_RETRIES,
        unpack: bool = True,
        **options: Unpack[TransferOptions],
    ) -> None:
        super().__init__(store, **options)
        self.platform = platform or host_platform()
        self.retries = retries
        self.unpack = unpack
        # diff id and size of each layer, computed while it downloaded
        self._facts: dict[Digest, tuple[Digest, int]] = {}
        self._diffs: dict[Digest, DiffDigester] = {}
        self._stop = threading.Event()  # a failed pull stops its other downloads
        # The download error that stopped the others: theirs are its consequences.
        self._cause: BaseException | None = None

    def pull(self, ref: Reference) -> PullResult:
        client = self.client_for(ref)
        repo = ref.path
        body, media_type, digest = client.get_manifest(repo, ref.digest or ref.tag or "latest")
        # After the manifest, as Docker: a missing image fails before any progress is shown.
        self._emit(pm.status(f"Pulling from {repo}", ref.tag or ref.digest))
        listed = digest
        manifest, body, media_type, digest = self._resolve(client, repo, body, media_type, digest)
        config_bytes = client.read_blob(repo, manifest.config.digest, MAX_CONFIG_BYTES)
        try:
            cfg = parse_config(config_bytes)
        except InvalidConfig as e:
            raise InvalidResponse(f"image config {manifest.config.digest}: {e}") from None
        if len(cfg.diff_ids) != len(manifest.layers):
            raise InvalidResponse("the manifest and the image config list different layer counts")
        image_id = str(manifest.config.digest)
        target = str(ref)
        if self._up_to_date(image_id, ref):
            # Known layers carry their diff ids: the store need not read the blobs again.
            known = [
                LayerInput(
                    Digest.parse(r.blob_digest), r.media_type, Digest.parse(r.diff_id), r.size
                )
                for r in self.store.layers(image_id)
            ]
            self.store.create_image(
                config_bytes,
                known,
                target,
                manifest=body,
                manifest_media_type=media_type,
                repo_digest=listed,
            )
            self._emit(pm.status(f"Digest: {listed}"))
            self._emit(pm.status(f"Status: Image is up to date for {ref.familiar()}"))
            return PullResult(image_id, digest, ref, 0, True, repo_digest=listed)
        lease = self.store.create_lease()
        try:
            if self.unpack:
                fetched = self._fetch_and_apply(client, repo, manifest.layers, cfg, lease)
            else:
                fetched = self._fetch_layers(client, repo, manifest.layers, lease)
            self.store.create_image(
                config_bytes,
                [self._layer_input(d) for d in manifest.layers],
                target,
                manifest=body,
                manifest_media_type=media_type,
                lease=lease,
                repo_digest=listed,
            )
        except BaseException:
            self.store.release_lease(lease)
            raise
        if self.unpack:
            # Every snapshot is there by now; this records any a concurrent pull committed.
            self.store.ensure_unpacked(image_id)
        else:
            for d in manifest.layers:
                if d.digest in fetched:
                    self._emit(pm.layer_status("Pull complete", pm.short_id(d.digest)))
        if self.sources is not None:
            self.sources.record(client.endpoint.host, repo, [d.digest for d in manifest.layers])
        self._emit(pm.status(f"Digest: {listed}"))
        self._emit(pm.status(f"Status: Downloaded newer image for {ref.familiar()}"))
        return PullResult(
            image_id, digest, ref, len(fetched), False, len(self._facts), repo_digest=listed
        )

    def _layer_input(self, d: Descriptor) -> LayerInput:
        facts = self._facts.get(d.digest)
        if facts is None:
            return LayerInput(d.digest, d.media_type)
        return LayerInput(d.digest, d.media_type, facts[0], facts[1])

    def _resolve(
        self, client: RegistryClient, repo: str, body: bytes, media_type: str, digest: Digest
    ) -> tuple[Manifest, bytes, str, Digest]:
        try:
            parsed = parse_manifest_or_index(body, media_type or None)
        except InvalidManifest as e:
            raise InvalidResponse(f"{repo}: {e}") from None
        if isinstance(parsed, Index):
            chosen: Descriptor | None = parsed.select(self.platform)
            if chosen is None:
                raise NoMatchingPlatform(
                    f"no matching manifest for {self.platform} in the manifest list entries"
                )
            body, media_type, digest = client.get_manifest(repo, str(chosen.digest))
            if digest != chosen.digest:
                raise InvalidResponse(f"{repo}: manifest {digest} is not {chosen.digest}")
            try:
                parsed = parse_manifest_or_index(body, media_type or chosen.media_type)
            except InvalidManifest as e:
                raise InvalidResponse(f"{repo}: {e}") from None
            if not isinstance(parsed, Manifest):
                raise InvalidResponse(f"{repo}: an index entry points at another index")
        return parsed, body, parsed.media_type, digest

    def _up_to_date(self, image_id: str, ref: Reference) -> bool:
        try:
            return bool(self.store.resolve(str(ref)) == image_id)
        except Exception:  # not found or not resolvable: not up to date
            return False

    def _fetch_layers(
        self, client: RegistryClient, repo: str, layers: tuple[Descriptor, ...], lease: str
    ) -> set[Digest]:
        todo = self._plan(layers, lease)
        if not todo:
            return set()
        with ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="pull") as pool:
            futures = [pool.submit(self._download, client, repo, d, lease) for d in todo]
            errors = [f.exception() for f in futures]
        for err in errors:
            if err is not None:
                raise self._root(err)
        return {d.digest for d in todo}

    def _fetch_and_apply(
        self,
        client: RegistryClient,
        repo: str,
        layers: tuple[Descriptor, ...],
        cfg: ImageConfig,
        lease: str,
    ) -> set[Digest]:
        todo = self._plan(layers, lease)
        feeds = {d.digest: LayerFeed() for d in todo}
        pool = ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="pull")
        try:
            futures = {
                d.digest: pool.submit(self._download, client, repo, d, lease, feeds[d.digest])
                for d in todo
            }
            self._apply_in_order(layers, cfg, futures, feeds, lease)
            errors = [f.exception() for f in futures.values()]
            for err in errors:
                if err is not None:
                    raise err
        except BaseException as e:
            self._stop.set()
            for feed in feeds.values():
                feed.detach()
            root = self._root(e)
            if root is e:
                raise
            raise root from None
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return {d.digest for d in todo}

    def _apply_in_order(
        self,
        layers: tuple[Descriptor, ...],
        cfg: ImageConfig,
        futures: dict[Digest, Future[None]],
        feeds: dict[Digest, LayerFeed],
        lease: str,
    ) -> None:
        snap = self.store.snapshotter
        parent: str | None = None
        with self.store.shared_lock():
            for d, diff_id, chain in zip(
                layers, cfg.diff_ids, chain_ids(cfg.diff_ids), strict=True
            ):
                sid = pm.short_id(d.digest)
                for f in futures.values():
                    if f.done() and f.exception() is not None:
                        raise f.exception()  # type: ignore[misc]
                if snap.exists(str(chain)):
                    self.store.meta.add_lease_resource(lease, "snapshot", str(chain))
                else:
                    # A blob listed twice is fed once: the second time it comes from the store.
                    feed = feeds.pop(d.digest, None)
                    if d.digest in futures:
                        self._emit(pm.layer_status("Extracting", sid))
                    applied = self._apply(d, str(diff_id), str(chain), parent, feed, futures, lease)
                    if applied is not None and feed is not None:
                        with self._lock:
                            self._facts[d.digest] = (Digest.parse(applied.diff_id), applied.size)
                if d.digest in futures:
                    self._emit(pm.layer_status("Pull complete", sid))
                parent = str(chain)

    def _apply(
        self,
        d: Descriptor,
        diff_id: str,
        chain: str,
        parent: str | None,
        feed: LayerFeed | None,
        futures: dict[Digest, Future[None]],
        lease: str,
    ) -> Any:
        label = str(d.digest)
        future = futures.get(d.digest)
        if feed is not None and feed.attach():
            try:
                return self.store.unpack_layer(
                    chain,
                    parent,
                    diff_id,
                    feed,
                    label=label,
                    lease=lease,
                    before_commit=feed.wait_verified,
                )
            except Exception:
                feed.detach()
                # Bad bytes usually break the tar or gzip before the digest is known: the
                # download's verdict names the real cause.
                if future is not None and not feed.broken and future.exception() is not None:
                    raise future.exception() from None  # type: ignore[misc]
                if feed.error is not None:
                    raise feed.error from None
                if not feed.broken:
                    raise
                # The download resumed after a cut: apply the blob once it verified.
            finally:
                feed.detach()
        elif feed is not None:
            feed.detach()
        if future is not None:
            future.result()
        with self.store.content.open(d.digest) as f:
            return self.store.unpack_layer(chain, parent, diff_id, f, label=label, lease=lease)

    def _plan(self, layers: tuple[Descriptor, ...], lease: str) -> list[Descriptor]:
        """The layers to download (announced as Docker does); the rest are leased."""
        todo: list[Descriptor] = []
        seen: set[Digest] = set()
        for d in layers:
            if d.media_type in mt.NONDISTRIBUTABLE_LAYERS and d.urls:
                raise InvalidResponse(f"layer {d.digest} is non-distributable (foreign URLs)")
            sid = pm.short_id(d.digest)
            if d.digest in seen:
                continue
            seen.add(d.digest)
            if self.store.content.exists(d.digest):
                self.store.lease_blob(lease, d.digest)
                self._emit(pm.layer_status("Already exists", sid))
                continue
            self._emit(pm.layer_status("Pulling fs layer", sid))
            todo.append(d)
        if len(todo) > self.parallel:
            for d in todo[self.parallel :]:
                self._emit(pm.layer_status("Waiting", pm.short_id(d.digest)))
        return todo

    def _root(self, err: BaseException) -> BaseException:
        """The error to report for a failed pull: a download that was only stopped
        (whichever future is looked at first) stands for the one that stopped it."""
        if isinstance(err, TransferInterrupted) and self._cause is not None:
            return self._cause
        return err

    def _download(
        self,
        client: RegistryClient,
        repo: str,
        d: Descriptor,
        lease: str,
        feed: LayerFeed | None = None,
    ) -> None:
        try:
            self._download_into(client, repo, d, lease, feed)
        except BaseException as e:
            # The pull cannot succeed any more: the other downloads stop (keeping what
            # they have for a retry) and so does the applier.
            with self._lock:
                if self._cause is None and not self._stop.is_set():
                    self._cause = e
            self._stop.set()
            if feed is not None:
                feed.fail(e)
            raise
        if feed is not None:
            feed.done()

    def _download_into(
        self,
        client: RegistryClient,
        repo: str,
        d: Descriptor,
        lease: str,
        feed: LayerFeed | None,
    ) -> None:
        sid = pm.short_id(d.digest)
        attempt = 0
        waited = 0.0
        while True:
            if self._stop.is_set():
                raise TransferInterrupted(f"pull stopped before {d.digest} was complete")
            if self.store.content.exists(d.digest):
                # Another pull (of another image, in parallel) brought it in meanwhile.
                if feed is not None:
                    feed.interrupted()
                self._emit(pm.layer_status("Download complete", sid))
                return
            try:
                writer = self.store.blob_writer(lease, d.digest, d.size)
            except IngestLocked:
                # That other pull is writing this very blob: wait for it, bounded.
                if waited >= LOCKED_WAIT:
                    raise TransferInterrupted(
                        f"blob {d.digest} has been written by another pull for {waited:.0f}s"
                    ) from None
                time.sleep(0.2)
                waited += 0.2
                continue
            with writer as w:
                try:
                    self._transfer(client, repo, d, w, sid, feed)
                    self._emit(pm.layer_status("Verifying Checksum", sid))
                    if feed is not None and w.offset == d.size and w.digest() == d.digest:
                        # The bytes are right: the applier may commit its snapshot while
                        # the blob is synced to disk (a failed sync still fails the pull).
                        feed.done()
                    w.commit()
                    self._keep_facts(d)
                    self._emit(pm.layer_status("Download complete", sid))
                    return
                except _Restart:
                    continue
                except _Stopped:
                    # Another layer failed. What arrived is kept for the next pull to resume.
                    if w.offset == 0:
                        w.abort()
                    raise TransferInterrupted(f"pull stopped while fetching {d.digest}") from None
                except (DigestMismatch, SizeMismatch) as e:
                    w.abort()  # bad bytes are not worth resuming from
                    raise InvalidResponse(
                        f"{client.endpoint.host}/{repo} sent a wrong blob for {d.digest}: {e}"
                    ) from None
                except BaseException as e:
                    if not is_connection_error(e):
                        raise
                    # Closing (not aborting) keeps what arrived: the retry asks for the rest.
                    w.close()
                    if feed is not None:
                        feed.interrupted()
                    if attempt >= self.retries:
                        raise TransferInterrupted(
                            f"downloading {d.digest} from {client.endpoint.host}/{repo} failed "
                            f"after {attempt + 1} attempts at byte {w.offset} of {d.size}: {e}; "
                            "pull again to resume"
                        ) from None
                    self._emit(pm.layer_status("Retrying in 1 second", sid))
            attempt += 1
            time.sleep(RETRY_DELAY)

    def _transfer(
        self,
        client: RegistryClient,
        repo: str,
        d: Descriptor,
        w: Any,
        sid: str,
        feed: LayerFeed | None,
    ) -> None:
        """Fetch from ``w.offset`` (``Range``) to the end into the writer (and the feed)."""
        offset = w.offset
        last = 0.0
        if feed is not None:
            feed.start(offset)
        diff = self._diffs.get(d.digest)
        if feed is not None:
            # The applier computes the diff id; following it here would gunzip twice.
            diff = None
        elif diff is None or diff.fed != offset:
            # Followed from byte 0 only: bytes resumed from an earlier pull were not seen.
            diff = DiffDigester(d.media_type) if offset == 0 else None
        with self._lock:
            if diff is None:
                self._diffs.pop(d.digest, None)
            else:
                self._diffs[d.digest] = diff
        if offset < d.size or d.size == 0:
            with client.open_blob(repo, d.digest, offset) as opened:
                if offset and opened.status == 200:
                    # The registry ignored Range: start again from byte 0.
                    w.abort()
                    raise _Restart
                for chunk in opened.iter_chunks():
                    if self._stop.is_set():
                        raise _Stopped
                    w.write(chunk)
                    if feed is not None:
                        feed.push(chunk)
                    if diff is not None:
                        diff.update(chunk)
                    now = time.monotonic()
                    if now - last >= PROGRESS_INTERVAL:
                        last = now
                        self._emit(pm.layer_progress("Downloading", sid, w.offset, d.size))
        if w.offset != d.size:
            raise ConnectionError(
                f"blob {d.digest}: connection closed at {w.offset} of {d.size} bytes"
            )

    def _keep_facts(self, d: Descriptor) -> None:
        with self._lock:
            diff = self._diffs.pop(d.digest, None)
            facts = diff.result() if diff is not None and diff.fed == d.size else None
            if facts is not None:
                self._facts[d.digest] = facts


class _Restart(Exception):
    pass


class _Stopped(Exception):
    pass


def pull(
    store: Any,
    name: str,
    tag: str | None = None,
    **options: Any,
) -> PullResult:
    """Pull ``name[:tag|@digest]`` (Docker's normalisation) into ``store``."""
    return Puller(store, **options).pull(parse_pull_reference(name, tag))
