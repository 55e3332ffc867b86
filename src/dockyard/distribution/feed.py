"""The bytes of one layer as its download writes them, for an applier that joins when ready.

A pull applies layers in order (a layer's snapshot needs its parent committed) while they
download in parallel. Each download pushes its chunks here as well as into the blob writer.
Until the applier attaches, chunks are held up to ``limit`` bytes; past that the feed gives
up (the applier then reads the verified blob from the store) so a download never waits for
an applier that is busy with an earlier layer. Once attached, the download waits for the
applier when ``limit`` bytes are pending: memory stays bounded either way.

``read`` returns b"" only after the download verified the blob's digest, so an applier never
sees the end of a layer whose bytes turn out wrong; it sees the download's error instead.
"""

from __future__ import annotations

import threading
from collections import deque

DEFAULT_LIMIT = 32 << 20
# Reads wait for at least this much (or the end): the applier peeks at the first bytes to
# detect the compression and works best on large chunks.
MIN_READ = 256 << 10


class FeedError(Exception):
    """The feed cannot deliver this layer (see ``LayerFeed.broken``/``error``)."""


class LayerFeed:
    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self._cond = threading.Condition()
        self._chunks: deque[bytes] = deque()
        self._head = 0  # bytes of _chunks[0] already read
        self._pending = 0
        self._started = False
        self._attached = False
        self._given_up = False  # by either side: no more bytes will flow
        self.broken = False  # the download could not feed every byte from 0 (resume, retry)
        self.verified = False
        self.error: BaseException | None = None

    # the download's side ---------------------------------------------------------------

    def start(self, offset: int) -> None:
        """A transfer begins at ``offset``; only one transfer from byte 0 can be followed."""
        with self._cond:
            if offset != 0 or self._started:
                self._break()
            self._started = True

    def push(self, data: bytes) -> None:
        with self._cond:
            if self._given_up or not data:
                return
            if not self._attached and self._pending + len(data) > self.limit:
                self._break()
                return
            while self._attached and self._pending >= self.limit and not self._given_up:
                self._cond.wait()
            if self._given_up:
                return
            self._chunks.append(data)
            self._pending += len(data)
            self._cond.notify_all()

    def interrupted(self) -> None:
        """The transfer stopped and will resume elsewhere: this feed cannot continue."""
        with self._cond:
            self._break()

    def done(self) -> None:
        """Every byte was pushed and the blob's digest verified."""
        with self._cond:
            self.verified = True
            self._cond.notify_all()

    def fail(self, error: BaseException) -> None:
        with self._cond:
            if self.error is None:
                self.error = error
            self._given_up = True
            self._chunks.clear()
            self._pending = 0
            self._cond.notify_all()

    def _break(self) -> None:
        self.broken = True
        self._given_up = True
        self._chunks.clear()
        self._pending = 0
        self._cond.notify_all()

    # the applier's side ----------------------------------------------------------------

    def attach(self) -> bool:
        """Start reading; False when the feed already gave up (read the blob instead)."""
        with self._cond:
            if self._given_up or self.error is not None:
                return False
            self._attached = True
            return True

    def detach(self) -> None:
        """The applier stops (finished or failed): the download must not wait for it."""
        with self._cond:
            self._attached = False
            self._given_up = True
            self._chunks.clear()
            self._pending = 0
            self._cond.notify_all()

    def read(self, n: int = -1) -> bytes:
        want = n if n > 0 else MIN_READ
        with self._cond:
            while True:
                if self.error is not None:
                    raise FeedError(f"the download failed: {self.error}")
                if self.broken:
                    raise FeedError("the download was interrupted")
                # Never wait for more than the download may hold back (it would wait too).
                if self._pending >= min(want, MIN_READ, self.limit) or (
                    self.verified and self._pending
                ):
                    break
                if self.verified:
                    return b""
                self._cond.wait()
            out = []
            got = 0
            while self._chunks and got < want:
                head = self._chunks[0]
                take = head[self._head : self._head + want - got]
                out.append(take)
                got += len(take)
                self._head += len(take)
                if self._head == len(head):
                    self._chunks.popleft()
                    self._head = 0
            self._pending -= got
            self._cond.notify_all()
            return b"".join(out)

    def wait_verified(self) -> None:
        """Return once the digest verified; raise the download's error otherwise."""
        with self._cond:
            while not self.verified:
                if self.error is not None:
                    raise FeedError(f"the download failed: {self.error}")
                if self.broken:
                    raise FeedError("the download was interrupted")
                self._cond.wait()
