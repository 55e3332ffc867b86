"""The uncompressed layer stream: decompressed, hashed and size-checked.

A compressed layer is decompressed and hashed on a helper thread: zlib, zstd
and sha256 release the GIL, so both cores work, the way ``tar -xz`` runs gzip
in a second process. A plain tar is read inline: a hand-off per chunk would
make the applier wait for the helper to be scheduled. Its hashing still goes
to a side thread the applier never waits for, but only when a core is idle:
on a busy machine the extra thread costs more than it saves. Either way the
caller's thread does every filesystem operation and the helpers only ever
touch the input stream and the hash.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Iterator
from typing import BinaryIO

from dockyard.store.layers.compression import open_layer
from dockyard.store.layers.errors import LayerError, LayerTooLarge

CHUNK = 1 << 20
_DEPTH = 8  # chunks decompressed ahead of the applier


class LayerSource:
    """Decompressed chunks of a layer, with the sha256 and size of all of them.

    ``next_chunk()`` returns b"" at the end of the stream. ``finish()`` drains what
    the applier did not read (bytes after the end-of-archive blocks still count in
    the diff_id) and returns ``("sha256:…", size)``.
    """

    def __init__(self, stream: BinaryIO, *, max_size: int | None = None) -> None:
        self._max = max_size
        self._sha = hashlib.sha256()
        self._size = 0
        self._done = False
        self._thread: threading.Thread | None = None
        self._q: queue.Queue[bytes | BaseException] = queue.Queue(_DEPTH)
        self._stop = threading.Event()
        try:
            self.compression, self._chunks = open_layer(stream, chunk=CHUNK)
        except OSError as e:
            raise LayerError(f"cannot read layer: {e}") from e
        self._hasher: _Hasher | None = None
        if self.compression == "plain" and _idle_core():
            self._hasher = _Hasher(self._sha)
        self._inline = self._counted()
        if self.compression != "plain":
            self._thread = threading.Thread(target=self._produce, name="layer-reader", daemon=True)
            self._thread.start()

    def _counted(self) -> Iterator[bytes]:
        hasher = self._hasher
        for data in self._chunks:
            self._size += len(data)
            if self._max is not None and self._size > self._max:
                raise LayerTooLarge(
                    f"layer is larger than the allowed {self._max} bytes uncompressed"
                )
            if hasher is None:
                self._sha.update(data)
            else:
                hasher.put(data)
            yield data

    def _produce(self) -> None:
        try:
            for data in self._inline:
                if not self._put(data):
                    return
            self._put(b"")
        except BaseException as e:  # handed to the consumer, which re-raises it
            self._put(e)

    def _put(self, item: bytes | BaseException) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def next_chunk(self) -> bytes:
        if self._done:
            return b""
        if self._thread is None:
            item: bytes | BaseException
            try:
                item = next(self._inline, b"")
            except (LayerError, OSError) as e:
                item = e
        else:
            item = self._q.get()
        if isinstance(item, BaseException):
            self._done = True
            if isinstance(item, OSError):
                raise LayerError(f"cannot read layer: {item}") from item
            raise item
        if not item:
            self._done = True
        return item

    def finish(self) -> tuple[str, int]:
        while self.next_chunk():
            pass
        if self._thread is not None:
            self._thread.join()
        if self._hasher is not None:
            self._hasher.close()
        return "sha256:" + self._sha.hexdigest(), self._size

    def close(self) -> None:
        """Stop the helper threads (after an error, or once finished)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._hasher is not None:
            self._hasher.close()


def _idle_core() -> bool:
    """Whether another core is likely free for a helper thread right now."""
    cpus = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:
        return False
    return cpus > 1 and load < cpus - 0.5


class _Hasher:
    """Feeds chunks to a hash on its own thread (sha256 releases the GIL)."""

    def __init__(self, sha: hashlib._Hash) -> None:
        self._sha = sha
        self._q: queue.Queue[bytes | None] = queue.Queue(_DEPTH * 2)
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="layer-hash", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        update, get = self._sha.update, self._q.get
        while (data := get()) is not None:
            update(data)

    def put(self, data: bytes) -> None:
        self._q.put(data)

    def close(self) -> None:
        """Wait until every chunk put so far is hashed."""
        if not self._closed:
            self._closed = True
            self._q.put(None)
            self._thread.join()
