from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest, sha256_bytes
from dockyard.oci.image import (
    InvalidConfig,
    InvalidManifest,
    Manifest,
    canonical_json,
    chain_id,
    chain_ids,
    container_config,
    parse_config,
    parse_index,
    parse_manifest,
    parse_manifest_or_index,
)
from dockyard.oci.platform import Platform, host_platform, matches, parse_platform

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64


def manifest_dict(**extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "digest": D1, "size": 10},
        "layers": [{"mediaType": mt.OCI_LAYER_GZIP, "digest": D2, "size": 20}],
    }
    out.update(extra)
    return out


def test_manifest_roundtrip_keeps_unknown_fields() -> None:
    raw = manifest_dict(annotations={"a": "b"}, **{"x-vendor": {"keep": [1, 2]}})
    raw["layers"][0]["x-layer-extra"] = "still here"
    m = parse_manifest(json.dumps(raw).encode())
    assert isinstance(m, Manifest)
    assert m.config.digest == Digest.parse(D1)
    assert m.layers[0].media_type == mt.OCI_LAYER_GZIP
    again = json.loads(m.to_bytes())
    assert again["x-vendor"] == {"keep": [1, 2]}
    assert again["layers"][0]["x-layer-extra"] == "still here"
    assert again == raw


def test_docker_schema2_manifest() -> None:
    raw = {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST,
        "config": {"mediaType": mt.DOCKER_CONFIG, "digest": D1, "size": 1},
        "layers": [{"mediaType": mt.DOCKER_LAYER_GZIP, "digest": D2, "size": 2}],
    }
    m = parse_manifest(json.dumps(raw).encode(), mt.DOCKER_MANIFEST)
    assert m.media_type == mt.DOCKER_MANIFEST


def test_oci_manifest_without_media_type_is_detected() -> None:
    raw = manifest_dict()
    del raw["mediaType"]
    assert parse_manifest(json.dumps(raw).encode()).media_type == mt.OCI_MANIFEST


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"not json", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (json.dumps(manifest_dict(schemaVersion=1)).encode(), "schemaVersion must be 2"),
        (json.dumps(manifest_dict(manifests=[])).encode(), "both 'layers' and 'manifests'"),
        (
            json.dumps(manifest_dict(mediaType="application/x-foo")).encode(),
            "unsupported manifest media type",
        ),
        (json.dumps(manifest_dict(layers="nope")).encode(), "'layers' must be a list"),
        (
            json.dumps(
                manifest_dict(config={"mediaType": mt.OCI_CONFIG, "digest": "sha256:12", "size": 1})
            ).encode(),
            "config",
        ),
        (
            json.dumps(
                manifest_dict(config={"mediaType": mt.OCI_CONFIG, "digest": D1, "size": -1})
            ).encode(),
            "non-negative",
        ),
        (
            json.dumps(
                manifest_dict(config={"mediaType": mt.OCI_CONFIG, "digest": D1, "size": True})
            ).encode(),
            "non-negative",
        ),
        (
            json.dumps(
                manifest_dict(layers=[{"mediaType": "text/plain", "digest": D2, "size": 1}])
            ).encode(),
            "unsupported layer media type",
        ),
        (json.dumps(manifest_dict(mediaType=mt.DOCKER_SCHEMA1_SIGNED)).encode(), "schema 1"),
        (json.dumps({"schemaVersion": 2}).encode(), "cannot tell"),
    ],
)
def test_malformed_manifests_are_refused(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidManifest, match=message):
        parse_manifest_or_index(raw)


def test_declared_type_must_match_the_expected_one() -> None:
    with pytest.raises(InvalidManifest, match="does not match"):
        parse_manifest(json.dumps(manifest_dict()).encode(), mt.DOCKER_MANIFEST)


def test_docker_manifest_requires_docker_config() -> None:
    raw = manifest_dict(mediaType=mt.DOCKER_MANIFEST)
    with pytest.raises(InvalidManifest, match="config media type"):
        parse_manifest(json.dumps(raw).encode())


def index_dict() -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [
            {
                "mediaType": mt.OCI_MANIFEST,
                "digest": D1,
                "size": 1,
                "platform": {"os": "linux", "architecture": "arm", "variant": "v6"},
            },
            {
                "mediaType": mt.OCI_MANIFEST,
                "digest": D2,
                "size": 1,
                "platform": {"os": "linux", "architecture": "arm", "variant": "v7"},
            },
            {
                "mediaType": mt.OCI_MANIFEST,
                "digest": D3,
                "size": 1,
                "platform": {"os": "linux", "architecture": "amd64"},
            },
        ],
        "x-extra": True,
    }


def test_index_select_and_roundtrip() -> None:
    idx = parse_index(json.dumps(index_dict()).encode())
    assert json.loads(idx.to_bytes())["x-extra"] is True
    assert idx.select(Platform("linux", "amd64")).digest == Digest.parse(D3)  # type: ignore[union-attr]
    assert idx.select(Platform("linux", "arm", "v7")).digest == Digest.parse(D2)  # type: ignore[union-attr]
    # an armv6 host cannot run the v7 image
    assert idx.select(Platform("linux", "arm", "v6")).digest == Digest.parse(D1)  # type: ignore[union-attr]
    assert idx.select(Platform("linux", "s390x")) is None
    with pytest.raises(InvalidManifest, match="expected an image manifest"):
        parse_manifest(json.dumps(index_dict()).encode())


def test_index_with_layers_is_refused() -> None:
    raw = index_dict()
    raw["config"] = {}
    with pytest.raises(InvalidManifest):
        parse_index(json.dumps(raw).encode())


def config_dict(**extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-02T03:04:05.123456789Z",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [D1, D2]},
        "history": [
            {"created_by": "a"},
            {"created_by": "b", "empty_layer": True},
            {"created_by": "c", "comment": "x"},
        ],
    }
    out.update(extra)
    return out


def test_config_parse_and_unknown_fields() -> None:
    cfg = parse_config(json.dumps(config_dict(**{"x-vendor": 1})).encode())
    assert cfg.diff_ids == (Digest.parse(D1), Digest.parse(D2))
    assert cfg.config == {"Cmd": ["sh"]}
    assert [h.empty_layer for h in cfg.history] == [False, True, False]
    assert json.loads(cfg.to_bytes())["x-vendor"] == 1
    assert cfg.platform == Platform("linux", "amd64")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"architecture": None}, "architecture"),
        ({"os": ""}, "'os'"),
        ({"rootfs": {"type": "other", "diff_ids": []}}, "rootfs"),
        ({"rootfs": {"type": "layers", "diff_ids": ["nope"]}}, "diff_ids"),
        ({"rootfs": {"type": "layers", "diff_ids": "x"}}, "diff_ids must be a list"),
        ({"config": []}, "'config' must be an object"),
        ({"history": [1]}, "history"),
        ({"history": [{"empty_layer": "yes"}]}, "empty_layer"),
        ({"created": 5}, "created"),
    ],
)
def test_malformed_config(change: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidConfig, match=message):
        parse_config(json.dumps(config_dict(**change)).encode())


def test_chain_ids_follow_the_spec() -> None:
    ids = chain_ids([D1, D2, D3])
    assert str(ids[0]) == D1
    second = hashlib.sha256(f"{D1} {D2}".encode()).hexdigest()
    assert ids[1].hex == second
    assert ids[2].hex == hashlib.sha256(f"sha256:{second} {D3}".encode()).hexdigest()
    assert chain_id([]) is None
    assert chain_id([D1]) == Digest.parse(D1)


def test_canonical_json_is_stable() -> None:
    a = canonical_json({"b": 1, "a": [1, {"d": 2, "c": "é"}]})
    b = canonical_json({"a": [1, {"c": "é", "d": 2}], "b": 1})
    assert a == b == '{"a":[1,{"c":"é","d":2}],"b":1}'.encode()
    assert sha256_bytes(a) == sha256_bytes(b)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("linux/amd64", Platform("linux", "amd64")),
        ("linux/arm64", Platform("linux", "arm64", "v8")),
        ("linux/arm", Platform("linux", "arm", "v7")),
        ("linux/arm/v6", Platform("linux", "arm", "v6")),
        ("linux/aarch64", Platform("linux", "arm64", "v8")),
        ("linux/x86_64", Platform("linux", "amd64")),
    ],
)
def test_parse_platform(text: str, expected: Platform) -> None:
    assert parse_platform(text) == expected


def test_platform_matching() -> None:
    assert matches(Platform("linux", "arm64"), Platform("linux", "arm64", "v8"))
    assert matches(Platform("linux", "arm", "v7"), Platform("linux", "arm", "v5"))
    assert not matches(Platform("linux", "arm", "v6"), Platform("linux", "arm", "v7"))
    assert not matches(Platform("linux", "amd64"), Platform("windows", "amd64"))
    assert host_platform("x86_64") == Platform("linux", "amd64")
    assert host_platform("aarch64") == Platform("linux", "arm64", "v8")
    assert matches(host_platform(), host_platform())


def test_image_config_shows_dockers_fields_in_its_order() -> None:
    shown = container_config({"Cmd": ["sh"], "StopSignal": "", "Custom": 1, "User": "app"})
    assert list(shown)[:6] == [
        "Hostname",
        "Domainname",
        "User",
        "AttachStdin",
        "AttachStdout",
        "AttachStderr",
    ]
    assert shown["User"] == "app" and shown["Cmd"] == ["sh"] and shown["Custom"] == 1
    assert shown["WorkingDir"] == "" and shown["Entrypoint"] is None and shown["Labels"] is None
    assert "StopSignal" not in shown and "ExposedPorts" not in shown  # omitted when empty
    assert container_config({"ExposedPorts": {"80/tcp": {}}})["ExposedPorts"] == {"80/tcp": {}}
    assert list(container_config(None)) == list(container_config({}))
