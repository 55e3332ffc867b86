"""LayerFeed: a download's bytes for an applier that joins later, bounded either way."""

from __future__ import annotations

import threading

import pytest

from dockyard.distribution.feed import MIN_READ, FeedError, LayerFeed


def _drain(feed: LayerFeed) -> bytes:
    out = bytearray()
    while chunk := feed.read(1 << 20):
        out += chunk
    return bytes(out)


def test_bytes_pushed_before_attaching_are_kept_within_the_limit() -> None:
    feed = LayerFeed(limit=1000)
    feed.start(0)
    feed.push(b"a" * 400)
    feed.push(b"b" * 400)
    feed.done()
    assert feed.attach()
    assert _drain(feed) == b"a" * 400 + b"b" * 400
    feed.wait_verified()


def test_overflow_before_attaching_gives_up_without_blocking_the_download() -> None:
    feed = LayerFeed(limit=1000)
    feed.start(0)
    feed.push(b"a" * 800)
    feed.push(b"b" * 800)  # would exceed the limit: the feed gives up, push returns
    feed.push(b"c" * 10)
    feed.done()
    assert feed.broken
    assert not feed.attach()


def test_a_resumed_transfer_cannot_be_followed() -> None:
    feed = LayerFeed()
    feed.start(12345)
    assert feed.broken and not feed.attach()
    again = LayerFeed()
    again.start(0)
    again.push(b"x")
    again.start(0)  # a second transfer (retry from scratch): bytes may repeat
    assert again.broken


def test_end_of_stream_only_after_the_digest_verified() -> None:
    feed = LayerFeed()
    feed.start(0)
    assert feed.attach()
    feed.push(b"z" * 10)
    got: list[bytes] = []

    def reader() -> None:
        got.append(feed.read(10))
        got.append(feed.read(10))  # waits for done() or fail()

    t = threading.Thread(target=reader)
    t.start()
    t.join(0.3)
    assert t.is_alive(), "read returned the end before the blob was verified"
    feed.done()
    t.join(5)
    assert got == [b"z" * 10, b""]


def test_a_failed_download_reaches_the_applier() -> None:
    feed = LayerFeed()
    feed.start(0)
    assert feed.attach()
    feed.push(b"q" * 100)
    feed.fail(ValueError("digest mismatch"))
    with pytest.raises(FeedError, match="digest mismatch"):
        feed.read(10)
    with pytest.raises(FeedError, match="digest mismatch"):
        feed.wait_verified()


def test_attached_download_waits_for_the_applier_not_for_ever() -> None:
    feed = LayerFeed(limit=100)
    feed.start(0)
    assert feed.attach()
    feed.push(b"1" * 100)
    pushed = threading.Event()

    def producer() -> None:
        feed.push(b"2" * 100)  # blocks: 100 bytes are pending
        pushed.set()

    t = threading.Thread(target=producer)
    t.start()
    assert not pushed.wait(0.3)
    assert feed.read(MIN_READ) == b"1" * 100
    assert pushed.wait(5)
    assert feed.read(MIN_READ) == b"2" * 100
    # An applier that stops releases a download waiting on it.
    feed.push(b"3" * 100)
    blocked = threading.Thread(target=feed.push, args=(b"4" * 100,))
    blocked.start()
    blocked.join(0.2)
    assert blocked.is_alive()
    feed.detach()
    blocked.join(5)
    assert not blocked.is_alive()
    t.join(5)


def test_reads_gather_small_chunks_up_to_the_request() -> None:
    feed = LayerFeed()
    feed.start(0)
    assert feed.attach()
    for i in range(10):
        feed.push(bytes([48 + i]) * 3)
    feed.done()
    assert feed.read(7) == b"0001112"
    assert feed.read(100) == b"22333444555666777888999"
    assert feed.read(100) == b""
