"""A tag that names a manifest list / OCI index, pushed to a real dockyard-hub and a real
registry:2: the pull picks the host's platform and records, as Docker does, the digest
the tag points at (the index's) in RepoDigests; pulling by that digest finds the image."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dockyard.distribution.auth import Credentials
from dockyard.distribution.pull import Puller, pull
from dockyard.distribution.push import push
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest, sha256_bytes
from dockyard.oci.platform import host_platform
from dockyard.oci.reference import normalize

pytestmark = pytest.mark.root

ALICE = Credentials("alice", "alice-pass-1")


def _push_index(
    server: Any, source_store: Any, repo: str, creds: Credentials | None, list_type: str
) -> tuple[str, Digest, Digest]:
    """busybox pushed as ``repo:plain``, then an index of it tagged ``repo:multi``;
    returns the index's reference, its digest and the platform manifest's digest."""
    plain = f"{server.addr}/{repo}:plain"
    source_store.tag("busybox:latest", plain)
    pushed = push(source_store, plain, creds=creds)
    body, media_type = source_store.manifest(plain)
    host = host_platform()
    entry_type = mt.DOCKER_MANIFEST if list_type == mt.DOCKER_MANIFEST_LIST else media_type
    platforms = [
        {"architecture": "s390x", "os": "linux"},  # listed first: the pull must choose
        {"architecture": host.architecture, "os": host.os},
    ]
    if entry_type != media_type:
        # A Docker manifest list lists Docker manifests: push the same image as one.
        manifest = json.loads(body)
        manifest["mediaType"] = mt.DOCKER_MANIFEST
        manifest["config"]["mediaType"] = mt.DOCKER_CONFIG
        for layer in manifest["layers"]:
            layer["mediaType"] = mt.DOCKER_LAYER_GZIP
        body = json.dumps(manifest).encode()
    index = {
        "schemaVersion": 2,
        "mediaType": list_type,
        "manifests": [
            {
                "mediaType": entry_type,
                "digest": str(sha256_bytes(body)),
                "size": len(body),
                "platform": p,
            }
            for p in platforms
        ],
    }
    index_body = json.dumps(index).encode()
    multi = f"{server.addr}/{repo}:multi"
    client = Puller(source_store, creds=creds).client_for(normalize(multi))
    platform_digest = client.put_manifest(repo, str(sha256_bytes(body)), body, entry_type)
    if entry_type == media_type:
        assert platform_digest == pushed.digest
    index_digest = client.put_manifest(repo, "multi", index_body, list_type)
    assert index_digest == sha256_bytes(index_body)
    return multi, index_digest, platform_digest


@pytest.mark.parametrize(
    ("where", "list_type"),
    [("hub", mt.OCI_INDEX), ("registry2", mt.DOCKER_MANIFEST_LIST)],
)
def test_pull_by_tag_records_the_index_digest(
    where: str,
    list_type: str,
    request: pytest.FixtureRequest,
    source_store: Any,
    empty_store: Any,
    tmp_path: Any,
) -> None:
    server = request.getfixturevalue(where)
    creds = ALICE if where == "hub" else None
    repo = f"alice/multi-{where}"
    multi, index_digest, platform_digest = _push_index(server, source_store, repo, creds, list_type)
    name = f"{server.addr}/{repo}"

    msgs: list[dict[str, Any]] = []
    result = pull(empty_store, multi, creds=creds, progress=msgs.append)
    assert result.repo_digest == index_digest
    assert result.manifest_digest == platform_digest != index_digest
    assert result.image_id == source_store.get("busybox:latest").id
    view = empty_store.inspect(multi)
    assert view["RepoDigests"] == [f"{name}@{index_digest}"]
    assert view["RepoTags"] == [multi]
    assert [s.repo_digests for s in empty_store.list()] == [[f"{name}@{index_digest}"]]
    statuses = [m.get("status", "") for m in msgs]
    assert statuses[-2] == f"Digest: {index_digest}"
    # The platform manifest is what the store keeps (and what the image is made of).
    kept, _ = empty_store.manifest(multi)
    assert sha256_bytes(kept) == platform_digest

    # By the index digest: the image is found, nothing is downloaded again.
    again = pull(empty_store, f"{name}@{index_digest}", creds=creds)
    assert again.up_to_date and again.downloaded == 0
    assert empty_store.resolve(f"{name}@{index_digest}") == result.image_id

    # By the index digest into a fresh store: the same digest reference, no tag.
    from dockyard.store.images import ImageStore

    other = ImageStore(tmp_path / "other")
    try:
        by_digest = pull(other, f"{name}@{index_digest}", creds=creds, unpack=False)
        assert by_digest.repo_digest == index_digest and not by_digest.up_to_date
        view = other.inspect(f"{name}@{index_digest}")
        assert view["RepoDigests"] == [f"{name}@{index_digest}"]
        assert view["RepoTags"] == []
    finally:
        other.close()


def test_pull_of_a_plain_manifest_records_its_own_digest(
    hub: Any, source_store: Any, empty_store: Any
) -> None:
    ref = f"{hub.addr}/alice/single:1"
    source_store.tag("busybox:latest", ref)
    pushed = push(source_store, ref, creds=ALICE)
    result = pull(empty_store, ref, creds=ALICE, unpack=False)
    assert result.repo_digest == result.manifest_digest == pushed.digest
    assert empty_store.inspect(ref)["RepoDigests"] == [f"{hub.addr}/alice/single@{pushed.digest}"]
