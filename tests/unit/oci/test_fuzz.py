"""Whatever the input, the parsers answer with a model or their own error, never a crash."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest, InvalidDigest
from dockyard.oci.image import (
    ImageConfig,
    Index,
    InvalidConfig,
    InvalidManifest,
    Manifest,
    parse_config,
    parse_manifest_or_index,
)
from dockyard.oci.reference import InvalidReference, Reference, parse, parse_normalized_named

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
digests = st.sampled_from(["sha256:" + "a" * 64, "sha256:xyz", "", "md5:" + "0" * 32]) | st.text(
    max_size=10
)
descriptors = st.fixed_dictionaries(
    {},
    optional={
        "mediaType": st.sampled_from([mt.OCI_MANIFEST, mt.OCI_LAYER, mt.OCI_CONFIG, "x"])
        | json_values,
        "digest": digests | json_values,
        "size": st.integers(-5, 10**6) | json_values,
        "annotations": st.dictionaries(st.text(max_size=5), st.text(max_size=5)) | json_values,
        "platform": st.fixed_dictionaries(
            {}, optional={"os": st.text(max_size=5), "architecture": st.text(max_size=5)}
        )
        | json_values,
        "urls": st.lists(st.text(max_size=5)) | json_values,
    },
)
manifests = st.fixed_dictionaries(
    {},
    optional={
        "schemaVersion": st.sampled_from([1, 2, "2", True]) | json_values,
        "mediaType": st.sampled_from([*sorted(mt.MANIFEST_TYPES | mt.INDEX_TYPES), "x"])
        | json_values,
        "config": descriptors | json_values,
        "layers": st.lists(descriptors, max_size=3) | json_values,
        "manifests": st.lists(descriptors, max_size=3) | json_values,
        "annotations": json_values,
    },
)
configs = st.fixed_dictionaries(
    {},
    optional={
        "architecture": st.sampled_from(["amd64", ""]) | json_values,
        "os": st.sampled_from(["linux", ""]) | json_values,
        "rootfs": st.fixed_dictionaries(
            {},
            optional={
                "type": st.sampled_from(["layers", "x"]) | json_values,
                "diff_ids": st.lists(digests, max_size=3) | json_values,
            },
        )
        | json_values,
        "history": st.lists(
            st.dictionaries(
                st.sampled_from(["created", "created_by", "empty_layer", "comment"]), json_values
            ),
            max_size=3,
        )
        | json_values,
        "config": json_values,
        "created": json_values,
    },
)


@settings(max_examples=400)
@given(manifests)
def test_manifest_parser_never_crashes(doc: dict[str, Any]) -> None:
    try:
        parsed = parse_manifest_or_index(json.dumps(doc).encode())
    except InvalidManifest:
        return
    assert isinstance(parsed, Manifest | Index)
    again = parse_manifest_or_index(parsed.to_bytes())
    assert again.to_dict() == parsed.to_dict()


@settings(max_examples=300)
@given(configs)
def test_config_parser_never_crashes(doc: dict[str, Any]) -> None:
    try:
        cfg = parse_config(json.dumps(doc).encode())
    except InvalidConfig:
        return
    assert isinstance(cfg, ImageConfig)
    assert parse_config(cfg.to_bytes()).diff_ids == cfg.diff_ids


@settings(max_examples=500)
@given(st.text(max_size=80) | st.from_regex(r"[a-zA-Z0-9./:@_-]{0,60}", fullmatch=True))
def test_reference_parsers_never_crash(text: str) -> None:
    for fn in (parse, parse_normalized_named):
        try:
            ref = fn(text)
        except InvalidReference:
            continue
        assert isinstance(ref, Reference)
        assert fn(str(ref)) == ref


@given(st.text(max_size=140))
def test_digest_parser_never_crashes(text: str) -> None:
    try:
        d = Digest.parse(text)
    except InvalidDigest:
        return
    assert str(d) == text
