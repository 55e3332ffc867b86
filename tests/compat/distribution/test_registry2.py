"""dockyard's client against Debian's registry:2 (docker-registry): push, pull, Basic auth,
chunked uploads, manifest lists, resumed downloads."""

from __future__ import annotations

import json
import platform
from typing import Any

import dockyard_distribution_test_support as ds  # type: ignore[import-not-found]
import pytest

from dockyard.distribution.auth import Credentials
from dockyard.distribution.client import Body, RegistryClient
from dockyard.distribution.errors import NoMatchingPlatform, Unauthorized
from dockyard.distribution.pull import pull
from dockyard.distribution.push import push
from dockyard.distribution.registries import RegistryConfig
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import sha256_bytes
from dockyard.oci.platform import host_platform

pytestmark = pytest.mark.compat


def test_push_pull_round_trip(registry2: Any, source_store: Any, empty_store: Any) -> None:
    ref = f"{registry2.addr}/tools/bb:1"
    source_store.tag("busybox:latest", ref)
    pushed = push(source_store, ref)
    assert pushed.uploaded == 2  # the layer and the config
    again = push(source_store, ref)
    assert again.uploaded == 0 and again.existing == 2 and again.digest == pushed.digest
    result = pull(empty_store, ref)
    assert result.image_id == source_store.get(ref).id
    assert result.manifest_digest == pushed.digest
    assert empty_store.ensure_unpacked(ref) is not None


def test_chunked_upload(registry2: Any, source_store: Any, empty_store: Any) -> None:
    ref = f"{registry2.addr}/tools/chunked:1"
    source_store.tag("busybox:latest", ref)
    pushed = push(source_store, ref, chunk_size=300_000)  # the 2 MB layer in 8 PATCHes
    assert pushed.uploaded == 2
    assert pull(empty_store, ref, unpack=False).image_id == source_store.get(ref).id


def test_basic_auth(registry2_auth: Any, source_store: Any, empty_store: Any) -> None:
    ref = f"{registry2_auth.addr}/carol/bb:1"
    source_store.tag("busybox:latest", ref)
    with pytest.raises(Unauthorized):
        push(source_store, ref)
    with pytest.raises(Unauthorized):
        push(source_store, ref, creds=Credentials("carol", "wrong"))
    push(source_store, ref, creds=Credentials("carol", "carol-pw"))
    with pytest.raises(Unauthorized):
        pull(empty_store, ref, unpack=False)
    result = pull(empty_store, ref, creds=Credentials("carol", "carol-pw"), unpack=False)
    assert result.image_id == source_store.get(ref).id
    endpoint = RegistryConfig().endpoint(registry2_auth.addr)
    RegistryClient(endpoint, Credentials("carol", "carol-pw")).ping()
    with pytest.raises(Unauthorized):
        RegistryClient(endpoint, Credentials("carol", "nope")).ping()


def test_manifest_list_selects_host_platform(
    registry2: Any, source_store: Any, empty_store: Any
) -> None:
    ref = f"{registry2.addr}/tools/multi:1"
    source_store.tag("busybox:latest", ref)
    pushed = push(source_store, ref)
    body, media_type = source_store.manifest(ref)
    host = host_platform()
    other_arch = "s390x" if host.architecture != "s390x" else "amd64"
    entries = [
        {
            "mediaType": media_type,
            "digest": str(pushed.digest),
            "size": len(body),
            "platform": {"os": "linux", "architecture": other_arch},
        },
        {
            "mediaType": media_type,
            "digest": str(pushed.digest),
            "size": len(body),
            "platform": host.to_dict(),
        },
    ]
    index = json.dumps(
        {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": entries}
    ).encode()
    client = RegistryClient(RegistryConfig().endpoint(registry2.addr))
    client.put_manifest("tools/multi", "multi", index, mt.OCI_INDEX)
    result = pull(empty_store, f"{registry2.addr}/tools/multi:multi", unpack=False)
    assert result.image_id == source_store.get(ref).id
    assert result.manifest_digest == pushed.digest  # the platform's manifest

    only_other = json.dumps(
        {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": entries[:1]}
    ).encode()
    client.put_manifest("tools/multi", "elsewhere", only_other, mt.OCI_INDEX)
    with pytest.raises(NoMatchingPlatform, match=platform.system().lower()):
        pull(empty_store, f"{registry2.addr}/tools/multi:elsewhere", unpack=False)


def test_manifest_digest_is_verified(registry2: Any) -> None:
    client = RegistryClient(RegistryConfig().endpoint(registry2.addr))
    location, _ = client.start_upload("tools/verify")
    assert location is not None
    data = b"hello blob"
    client.upload_monolithic("tools/verify", location, sha256_bytes(data), Body.of(data))
    assert client.blob_size("tools/verify", sha256_bytes(data)) == len(data)
    assert client.read_blob("tools/verify", sha256_bytes(data), 100) == data


def test_resumed_download_against_registry2(
    registry2: Any, source_store: Any, empty_store: Any
) -> None:
    ref = f"{registry2.addr}/tools/resume:1"
    source_store.tag("busybox:latest", ref)
    push(source_store, ref)
    with ds.cutting_proxy(registry2.addr, cut_after=500_000) as proxy:
        result = pull(empty_store, f"{proxy.addr}/tools/resume:1", unpack=False)
    ds.assert_resumed_with_range(proxy)
    assert result.image_id == source_store.get(ref).id


def test_insecure_loopback_registry_with_tls(
    tmp_path: Any, source_store: Any, empty_store: Any
) -> None:
    """Docker's order for an insecure registry: TLS without verification first."""
    import shutil as _shutil

    if _shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    tls = ds.self_signed(tmp_path / "tls", "127.0.0.1")
    reg = ds.Registry2(tmp_path / "reg", tls=tls).start()
    try:
        ref = f"{reg.addr}/tls/bb:1"
        source_store.tag("busybox:latest", ref)
        push(source_store, ref)
        client = RegistryClient(RegistryConfig().endpoint(reg.addr))
        assert client.base_url == f"https://{reg.addr}"
        assert pull(empty_store, ref, unpack=False).image_id == source_store.get(ref).id
    finally:
        reg.stop()


def test_docker_schema2_manifest(registry2: Any, source_store: Any, empty_store: Any) -> None:
    """An image pushed by Docker (schema 2 media types) pulls the same as an OCI one."""
    ref = f"{registry2.addr}/tools/oci:1"
    source_store.tag("busybox:latest", ref)
    push(source_store, ref)  # puts the blobs in place
    body, _media_type = source_store.manifest(ref)
    oci = json.loads(body)
    layer_types = {
        mt.OCI_LAYER: mt.DOCKER_LAYER,
        mt.OCI_LAYER_GZIP: mt.DOCKER_LAYER_GZIP,
    }
    docker = {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST,
        "config": {**oci["config"], "mediaType": mt.DOCKER_CONFIG},
        "layers": [{**x, "mediaType": layer_types[x["mediaType"]]} for x in oci["layers"]],
    }
    data = json.dumps(docker, indent=3).encode()
    client = RegistryClient(RegistryConfig().endpoint(registry2.addr))
    digest = client.put_manifest("tools/oci", "docker", data, mt.DOCKER_MANIFEST)
    result = pull(empty_store, f"{registry2.addr}/tools/oci:docker", unpack=False)
    assert result.image_id == source_store.get(ref).id
    assert result.manifest_digest == digest
    stored, stored_type = empty_store.manifest(f"{registry2.addr}/tools/oci:docker")
    assert stored == data and stored_type == mt.DOCKER_MANIFEST  # kept byte for byte
    # And pushed back as it is: the digest does not change.
    again = push(empty_store, f"{registry2.addr}/tools/oci:docker")
    assert again.digest == digest
