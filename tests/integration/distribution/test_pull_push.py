"""Push to and pull from a real dockyard-hub with the library (no daemon): same image id and
manifest digest on the other side, unpacked; resumed downloads; skipped layers; refusals."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import dockyard_distribution_test_support as ds  # type: ignore[import-not-found]
import pytest

from dockyard.distribution.auth import Credentials
from dockyard.distribution.errors import (
    Denied,
    InvalidResponse,
    NotFoundError,
    RegistryUnreachable,
    Unauthorized,
)
from dockyard.distribution.pull import pull
from dockyard.distribution.push import push
from dockyard.distribution.registries import RegistryConfig
from dockyard.distribution.sources import BlobSources

sys.path.insert(0, str(Path(__file__).parent))
import images

pytestmark = pytest.mark.root

ALICE = Credentials("alice", "alice-pass-1")


def _tag(store: Any, ref: str) -> None:
    store.tag("busybox:latest", ref)


def test_push_then_pull_same_image_and_digest(
    hub: Any, source_store: Any, empty_store: Any
) -> None:
    ref = f"{hub.addr}/alice/bb:1"
    _tag(source_store, ref)
    msgs: list[dict[str, Any]] = []
    pushed = push(source_store, ref, creds=ALICE, progress=msgs.append)
    statuses = [m.get("status", "") for m in msgs]
    assert statuses[0] == f"The push refers to repository [{hub.addr}/alice/bb]"
    assert "Pushed" in statuses or "Layer already exists" in statuses
    assert statuses[-2] == f"1: digest: {pushed.digest} size: {pushed.size}"
    assert msgs[-1]["aux"] == {"Tag": "1", "Digest": str(pushed.digest), "Size": pushed.size}

    msgs = []
    pulled = pull(empty_store, ref, creds=ALICE, progress=msgs.append)
    src = source_store.get(ref)
    assert pulled.image_id == src.id
    assert str(pulled.manifest_digest) == src.manifest_digest == str(pushed.digest)
    got = empty_store.inspect(ref)
    assert got["RepoDigests"] == [f"{hub.addr}/alice/bb@{pushed.digest}"]
    assert got["RepoTags"] == [ref]
    statuses = [m.get("status", "") for m in msgs]
    assert statuses[0] == "Pulling from alice/bb" and msgs[0]["id"] == "1"
    assert "Download complete" in statuses and "Pull complete" in statuses
    assert statuses[-2:] == [
        f"Digest: {pushed.digest}",
        f"Status: Downloaded newer image for {ref}",
    ]
    # Unpacked: the snapshot holds busybox itself.
    chain = empty_store.ensure_unpacked(ref)
    assert chain is not None and empty_store.snapshotter.exists(chain)
    empty_store.verify(ref, deep=True)

    msgs = []
    again = pull(empty_store, ref, creds=ALICE, progress=msgs.append)
    assert again.up_to_date and again.downloaded == 0
    assert msgs[-1]["status"] == f"Status: Image is up to date for {ref}"


def test_anonymous_pull_of_public_repo(hub: Any, source_store: Any, empty_store: Any) -> None:
    ref = f"{hub.addr}/alice/public:1"
    _tag(source_store, ref)
    push(source_store, ref, creds=ALICE)
    result = pull(empty_store, ref, unpack=False)
    assert result.image_id == source_store.get(ref).id


def test_layers_already_present_are_skipped(hub: Any, source_store: Any, empty_store: Any) -> None:
    base_ref = f"{hub.addr}/alice/base:1"
    _tag(source_store, base_ref)
    push(source_store, base_ref, creds=ALICE)
    child_ref = f"{hub.addr}/alice/child:1"
    child = images.derive(source_store, "busybox:latest", child_ref, [{"hello.txt": b"hi\n"}])
    push(source_store, child_ref, creds=ALICE)

    pull(empty_store, base_ref, creds=ALICE, unpack=False)
    msgs: list[dict[str, Any]] = []
    result = pull(empty_store, child_ref, creds=ALICE, progress=msgs.append, unpack=False)
    assert result.image_id == child and result.downloaded == 1
    assert result.diff_ids_computed == 1  # the gzip layer, followed as it arrived
    base_layer = source_store.layers(base_ref)[0].blob_digest.split(":")[1][:12]
    assert {"status": "Already exists", "progressDetail": {}, "id": base_layer} in msgs
    downloaded = [m["id"] for m in msgs if m.get("status") == "Download complete"]
    assert len(downloaded) == 1 and downloaded[0] != base_layer


def test_cross_repository_mount(hub: Any, source_store: Any, tmp_path: Path) -> None:
    sources = BlobSources(tmp_path / "sources.json")
    first = f"{hub.addr}/alice/mount-a:1"
    second = f"{hub.addr}/alice/mount-b:1"
    _tag(source_store, first)
    _tag(source_store, second)
    push(source_store, first, creds=ALICE, sources=sources)
    msgs: list[dict[str, Any]] = []
    result = push(source_store, second, creds=ALICE, sources=sources, progress=msgs.append)
    assert result.mounted == 1
    assert any(m.get("status") == "Mounted from alice/mount-a" for m in msgs)
    # The table survives a restart of the daemon (it is a file).
    assert BlobSources(tmp_path / "sources.json").candidates(
        hub.addr, source_store.layers(first)[0].blob_digest, "x"
    ) == ["alice/mount-b", "alice/mount-a"]


def test_resumed_download_uses_range(hub: Any, source_store: Any, empty_store: Any) -> None:
    ref = f"{hub.addr}/alice/resume:1"
    _tag(source_store, ref)
    push(source_store, ref, creds=ALICE)
    with ds.cutting_proxy(hub.addr, cut_after=700_000) as proxy:
        via = f"{proxy.addr}/alice/resume:1"
        msgs: list[dict[str, Any]] = []
        result = pull(empty_store, via, creds=ALICE, progress=msgs.append, unpack=False)
    assert result.image_id == source_store.get(ref).id
    ds.assert_resumed_with_range(proxy)
    ranges = [
        line for line in bytes(proxy.sent).split(b"\r\n") if line.lower().startswith(b"range:")
    ]
    assert ranges, "the retry did not ask for the rest with Range"
    start = int(ranges[0].split(b"=")[1].split(b"-")[0])
    assert 0 < start <= 700_000
    assert any(m.get("status", "").startswith("Retrying") for m in msgs)
    empty_store.verify(via, deep=True)


def test_interrupted_pull_resumes_from_the_ingest(
    hub: Any, source_store: Any, empty_store: Any
) -> None:
    """A pull that gives up (retries exhausted) leaves its bytes; the next pull continues."""
    ref = f"{hub.addr}/alice/resume2:1"
    _tag(source_store, ref)
    push(source_store, ref, creds=ALICE)
    with ds.cutting_proxy(hub.addr, cut_after=900_000) as proxy:
        via = f"{proxy.addr}/alice/resume2:1"
        with pytest.raises(RegistryUnreachable):
            pull(empty_store, via, creds=ALICE, unpack=False, retries=0)
        ingests = empty_store.content.ingests()
        assert ingests and max(i.offset for i in ingests) > 0
        proxy.sent.clear()
        pull(empty_store, via, creds=ALICE, unpack=False)
    ds.assert_resumed_with_range(proxy)
    assert not empty_store.content.ingests()


def test_corrupted_blob_is_refused(hub: Any, source_store: Any, empty_store: Any) -> None:
    ref = f"{hub.addr}/alice/corrupt:1"
    _tag(source_store, ref)
    push(source_store, ref, creds=ALICE)
    with ds.cutting_proxy(hub.addr, cut_after=1_000_000, corrupt=True) as proxy:
        via = f"{proxy.addr}/alice/corrupt:1"
        with pytest.raises(InvalidResponse, match="wrong blob"):
            pull(empty_store, via, creds=ALICE, unpack=False)
        assert proxy.cuts_left == 0
        assert empty_store.list() == [] and not empty_store.content.ingests()
        # The network behaves again: the pull succeeds and verifies.
        result = pull(empty_store, via, creds=ALICE, unpack=False)
    assert result.image_id == source_store.get(ref).id
    empty_store.verify(via, deep=True)


def test_wrong_password_fails_cleanly(hub: Any, source_store: Any, empty_store: Any) -> None:
    ref = f"{hub.addr}/alice/bb:wrongpw"
    _tag(source_store, ref)
    with pytest.raises(Unauthorized, match=r"incorrect username or password|unauthorized"):
        push(source_store, ref, creds=Credentials("alice", "nope"))
    with pytest.raises(Unauthorized):
        push(source_store, ref, creds=Credentials("nosuchuser", "nope"))


def test_push_to_someone_elses_namespace_is_denied(hub: Any, source_store: Any) -> None:
    ref = f"{hub.addr}/bob/stolen:1"
    _tag(source_store, ref)
    with pytest.raises(Denied, match="denied"):
        push(source_store, ref, creds=ALICE)
    official = f"{hub.addr}/library/busybox:1"
    _tag(source_store, official)
    with pytest.raises(Denied):
        push(source_store, official, creds=ALICE)


def test_missing_tag_is_not_found(hub: Any, empty_store: Any) -> None:
    with pytest.raises((NotFoundError, Unauthorized)):
        pull(empty_store, f"{hub.addr}/alice/bb:no-such-tag", creds=ALICE, unpack=False)
    assert empty_store.list() == []


def test_docker_io_is_refused_without_network(empty_store: Any) -> None:
    opened: list[object] = []
    orig = __import__("socket").create_connection

    def spy(*a: Any, **kw: Any) -> Any:  # any connection attempt is a failure
        opened.append(a)
        return orig(*a, **kw)

    import socket

    socket.create_connection = spy
    try:
        with pytest.raises(RegistryUnreachable, match="DOCKYARD_DEFAULT_REGISTRY"):
            pull(empty_store, "busybox", config=RegistryConfig.from_env({}))
    finally:
        socket.create_connection = orig
    assert opened == []


def test_default_registry_maps_unqualified_names(
    hub: Any, source_store: Any, empty_store: Any
) -> None:
    root = Credentials("root", "root-pass-1")
    official = f"{hub.addr}/library/busybox:latest"
    _tag(source_store, official)
    push(source_store, official, creds=root)
    cfg = RegistryConfig.from_env({"DOCKYARD_DEFAULT_REGISTRY": hub.addr})
    result = pull(empty_store, "busybox", config=cfg, unpack=False)
    assert result.image_id == source_store.get("busybox").id
    assert empty_store.inspect("busybox:latest")["RepoTags"] == ["busybox:latest"]


def test_parallel_pulls_of_one_image(hub: Any, source_store: Any, tmp_path: Path) -> None:
    """Two pulls racing into one store: one writes, the other waits or resumes; both end well."""
    from dockyard.store.images import ImageStore

    ref = f"{hub.addr}/alice/race:1"
    _tag(source_store, ref)
    push(source_store, ref, creds=ALICE)
    store = ImageStore(tmp_path / "s")
    errors: list[BaseException] = []

    def one() -> None:
        try:
            pull(ImageStore(tmp_path / "s"), ref, creds=ALICE, unpack=False)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert store.get(ref).id == source_store.get(ref).id
