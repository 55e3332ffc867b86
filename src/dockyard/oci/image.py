"""OCI image manifest, index and config, and Docker's schema 2 manifest and manifest list.

Every model keeps the parsed JSON object in ``raw`` so that fields we do not model survive a
round trip; validation is strict about the fields we rely on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest, InvalidDigest
from dockyard.oci.platform import InvalidPlatform, Platform, match_rank

MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_CONFIG_BYTES = 8 * 1024 * 1024


class InvalidManifest(ValueError):
    """A manifest or index that is malformed or of a type we do not accept."""


class InvalidConfig(ValueError):
    """An image config that is malformed."""


def canonical_json(value: Any) -> bytes:
    """Compact, key-sorted UTF-8 JSON: the same object always gives the same digest."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _load_object(data: bytes, limit: int, what: str, exc: type[ValueError]) -> dict[str, Any]:
    if len(data) > limit:
        raise exc(f"{what} is larger than {limit} bytes")
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise exc(f"{what} is not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise exc(f"{what} must be a JSON object")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict)
    platform: Platform | None = None
    urls: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Descriptor:
        if not isinstance(data, dict):
            raise InvalidManifest(f"{where}: descriptor must be an object")
        media_type = data.get("mediaType")
        if not isinstance(media_type, str) or not media_type:
            raise InvalidManifest(f"{where}: descriptor has no mediaType")
        try:
            digest = Digest.parse(data.get("digest", ""))
        except InvalidDigest as e:
            raise InvalidManifest(f"{where}: {e}") from None
        size = data.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidManifest(f"{where}: descriptor size must be a non-negative integer")
        annotations = data.get("annotations") or {}
        if not isinstance(annotations, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()
        ):
            raise InvalidManifest(f"{where}: annotations must map strings to strings")
        platform = None
        if "platform" in data:
            try:
                platform = Platform.from_dict(data["platform"])
            except (InvalidPlatform, AttributeError) as e:
                raise InvalidManifest(f"{where}: {e}") from None
        urls = data.get("urls") or []
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise InvalidManifest(f"{where}: urls must be a list of strings")
        return cls(media_type, digest, size, dict(annotations), platform, tuple(urls), data)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.raw)
        out["mediaType"] = self.media_type
        out["digest"] = str(self.digest)
        out["size"] = self.size
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform is not None:
            out["platform"] = self.platform.to_dict()
        if self.urls:
            out["urls"] = list(self.urls)
        return out


def _check_schema(data: Mapping[str, Any], what: str) -> None:
    if data.get("schemaVersion") != 2 or not _is_int(data.get("schemaVersion")):
        raise InvalidManifest(f"{what}: schemaVersion must be 2")


def _declared_type(data: Mapping[str, Any], hint: str | None) -> str:
    declared = data.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise InvalidManifest("mediaType must be a string")
    has_layers, has_manifests = "layers" in data, "manifests" in data
    if has_layers and has_manifests:
        raise InvalidManifest("manifest has both 'layers' and 'manifests'")
    if declared and hint and declared != hint:
        raise InvalidManifest(f"mediaType {declared} does not match the expected {hint}")
    media_type = declared or hint
    if not media_type:
        # OCI 1.0 made mediaType optional; tell the two shapes apart by their fields.
        if has_manifests:
            media_type = mt.OCI_INDEX
        elif "config" in data or has_layers:
            media_type = mt.OCI_MANIFEST
        else:
            raise InvalidManifest("cannot tell the manifest type: no mediaType, layers, manifests")
    if media_type == mt.DOCKER_SCHEMA1_SIGNED or media_type.startswith(
        "application/vnd.docker.distribution.manifest.v1"
    ):
        raise InvalidManifest("Docker image manifest schema 1 is not supported")
    if media_type not in mt.MANIFEST_TYPES and media_type not in mt.INDEX_TYPES:
        raise InvalidManifest(f"unsupported manifest media type: {media_type}")
    if media_type in mt.MANIFEST_TYPES and has_manifests:
        raise InvalidManifest("an image manifest must not have 'manifests'")
    if media_type in mt.INDEX_TYPES and (has_layers or "config" in data):
        raise InvalidManifest("an image index must not have 'layers' or 'config'")
    return media_type


@dataclass(frozen=True)
class Manifest:
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.raw)
        out["schemaVersion"] = 2
        out["mediaType"] = self.media_type
        out["config"] = self.config.to_dict()
        out["layers"] = [d.to_dict() for d in self.layers]
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_dict())


@dataclass(frozen=True)
class Index:
    media_type: str
    manifests: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.raw)
        out["schemaVersion"] = 2
        out["mediaType"] = self.media_type
        out["manifests"] = [d.to_dict() for d in self.manifests]
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_dict())

    def select(self, wanted: Platform) -> Descriptor | None:
        """The best manifest for ``wanted``; None when no entry can run there."""
        best: tuple[int, int, Descriptor] | None = None
        for i, d in enumerate(self.manifests):
            if d.platform is None or d.media_type not in mt.MANIFEST_TYPES:
                continue
            rank = match_rank(wanted, d.platform)
            if rank is not None and (best is None or (rank, i) < best[:2]):
                best = (rank, i, d)
        return best[2] if best else None


def _annotations(data: Mapping[str, Any]) -> dict[str, str]:
    ann = data.get("annotations") or {}
    if not isinstance(ann, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in ann.items()
    ):
        raise InvalidManifest("annotations must map strings to strings")
    return dict(ann)


def _manifest_from(data: dict[str, Any], media_type: str) -> Manifest:
    _check_schema(data, "manifest")
    config = Descriptor.from_dict(data.get("config"), "config")
    if media_type == mt.DOCKER_MANIFEST and config.media_type != mt.DOCKER_CONFIG:
        raise InvalidManifest(f"unsupported config media type: {config.media_type}")
    layers_raw = data.get("layers")
    if not isinstance(layers_raw, list):
        raise InvalidManifest("manifest 'layers' must be a list")
    layers = tuple(Descriptor.from_dict(d, f"layers[{i}]") for i, d in enumerate(layers_raw))
    for i, layer in enumerate(layers):
        if layer.media_type not in mt.LAYER_TYPES:
            raise InvalidManifest(f"layers[{i}]: unsupported layer media type: {layer.media_type}")
    return Manifest(media_type, config, layers, _annotations(data), data)


def _index_from(data: dict[str, Any], media_type: str) -> Index:
    _check_schema(data, "index")
    raw = data.get("manifests")
    if not isinstance(raw, list):
        raise InvalidManifest("index 'manifests' must be a list")
    manifests = tuple(Descriptor.from_dict(d, f"manifests[{i}]") for i, d in enumerate(raw))
    return Index(media_type, manifests, _annotations(data), data)


def parse_manifest_or_index(data: bytes, media_type: str | None = None) -> Manifest | Index:
    """Parse a manifest or index; ``media_type`` is the type the caller was told (optional)."""
    obj = _load_object(data, MAX_MANIFEST_BYTES, "manifest", InvalidManifest)
    kind = _declared_type(obj, media_type)
    if kind in mt.INDEX_TYPES:
        return _index_from(obj, kind)
    return _manifest_from(obj, kind)


def parse_manifest(data: bytes, media_type: str | None = None) -> Manifest:
    parsed = parse_manifest_or_index(data, media_type)
    if not isinstance(parsed, Manifest):
        raise InvalidManifest(f"expected an image manifest, got {parsed.media_type}")
    return parsed


def parse_index(data: bytes, media_type: str | None = None) -> Index:
    parsed = parse_manifest_or_index(data, media_type)
    if not isinstance(parsed, Index):
        raise InvalidManifest(f"expected an image index, got {parsed.media_type}")
    return parsed


@dataclass(frozen=True)
class HistoryEntry:
    created: str | None
    created_by: str
    comment: str
    author: str
    empty_layer: bool
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_dict(cls, data: Any, i: int) -> HistoryEntry:
        if not isinstance(data, dict):
            raise InvalidConfig(f"history[{i}] must be an object")
        for key in ("created", "created_by", "comment", "author"):
            if key in data and data[key] is not None and not isinstance(data[key], str):
                raise InvalidConfig(f"history[{i}].{key} must be a string")
        empty = data.get("empty_layer", False)
        if not isinstance(empty, bool):
            raise InvalidConfig(f"history[{i}].empty_layer must be a boolean")
        return cls(
            data.get("created"),
            data.get("created_by") or "",
            data.get("comment") or "",
            data.get("author") or "",
            empty,
            data,
        )


@dataclass(frozen=True)
class ImageConfig:
    architecture: str
    os: str
    diff_ids: tuple[Digest, ...]
    history: tuple[HistoryEntry, ...]
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def created(self) -> str | None:
        value = self.raw.get("created")
        return value if isinstance(value, str) else None

    @property
    def config(self) -> dict[str, Any]:
        value = self.raw.get("config")
        return dict(value) if isinstance(value, dict) else {}

    @property
    def variant(self) -> str:
        value = self.raw.get("variant")
        return value if isinstance(value, str) else ""

    @property
    def platform(self) -> Platform:
        return Platform(self.os, self.architecture, self.variant)

    def chain_ids(self) -> list[Digest]:
        return chain_ids(self.diff_ids)

    def to_bytes(self) -> bytes:
        return canonical_json(dict(self.raw))


def parse_config(data: bytes) -> ImageConfig:
    obj = _load_object(data, MAX_CONFIG_BYTES, "image config", InvalidConfig)
    arch, os_ = obj.get("architecture"), obj.get("os")
    if not isinstance(arch, str) or not arch:
        raise InvalidConfig("image config has no 'architecture'")
    if not isinstance(os_, str) or not os_:
        raise InvalidConfig("image config has no 'os'")
    rootfs = obj.get("rootfs")
    if not isinstance(rootfs, dict) or rootfs.get("type") != "layers":
        raise InvalidConfig("image config 'rootfs' must be an object with type 'layers'")
    raw_ids = rootfs.get("diff_ids")
    if raw_ids is None:
        raw_ids = []
    if not isinstance(raw_ids, list):
        raise InvalidConfig("rootfs.diff_ids must be a list")
    try:
        diff_ids = tuple(Digest.parse(d) for d in raw_ids)
    except InvalidDigest as e:
        raise InvalidConfig(f"rootfs.diff_ids: {e}") from None
    if "config" in obj and obj["config"] is not None and not isinstance(obj["config"], dict):
        raise InvalidConfig("image config 'config' must be an object")
    history_raw = obj.get("history") or []
    if not isinstance(history_raw, list):
        raise InvalidConfig("image config 'history' must be a list")
    history = tuple(HistoryEntry.from_dict(h, i) for i, h in enumerate(history_raw))
    if "created" in obj and obj["created"] is not None and not isinstance(obj["created"], str):
        raise InvalidConfig("image config 'created' must be a string")
    return ImageConfig(arch, os_, diff_ids, history, obj)


def chain_ids(diff_ids: Sequence[Digest | str]) -> list[Digest]:
    """ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))."""
    out: list[Digest] = []
    for d in diff_ids:
        diff = d if isinstance(d, Digest) else Digest.parse(d)
        if not out:
            out.append(diff)
        else:
            h = hashlib.sha256(f"{out[-1]} {diff}".encode()).hexdigest()
            out.append(Digest("sha256", h))
    return out


def chain_id(diff_ids: Sequence[Digest | str]) -> Digest | None:
    ids = chain_ids(diff_ids)
    return ids[-1] if ids else None


def make_manifest(
    config: Descriptor, layers: Sequence[Descriptor], media_type: str = mt.OCI_MANIFEST
) -> Manifest:
    raw: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type}
    return Manifest(media_type, config, tuple(layers), {}, raw)


_OMITTED = object()  # a field dockerd leaves out when it is empty (omitempty)

# Docker's container.Config in its field order, with the value dockerd shows when the image
# does not set it. dockerd always shows the fields that are not omitted when empty, and
# clients such as docker-py index them (attrs["Config"]["WorkingDir"]).
_CONFIG_FIELDS: tuple[tuple[str, Any], ...] = (
    ("Hostname", ""),
    ("Domainname", ""),
    ("User", ""),
    ("AttachStdin", False),
    ("AttachStdout", False),
    ("AttachStderr", False),
    ("ExposedPorts", _OMITTED),
    ("Tty", False),
    ("OpenStdin", False),
    ("StdinOnce", False),
    ("Env", None),
    ("Cmd", None),
    ("Healthcheck", _OMITTED),
    ("ArgsEscaped", _OMITTED),
    ("Image", ""),
    ("Volumes", None),
    ("WorkingDir", ""),
    ("Entrypoint", None),
    ("NetworkDisabled", _OMITTED),
    ("MacAddress", _OMITTED),
    ("OnBuild", None),
    ("Labels", None),
    ("StopSignal", _OMITTED),
    ("StopTimeout", _OMITTED),
    ("Shell", _OMITTED),
)


_CONFIG_NAMES = frozenset(name for name, _ in _CONFIG_FIELDS)


def container_config(raw: dict[str, Any] | None) -> dict[str, Any]:
    """An image's config (or container_config) as dockerd shows it: the fields of Docker's
    container.Config in its order (the omit-when-empty ones only when set), then others."""
    raw = raw or {}
    out: dict[str, Any] = {}
    for name, shown in _CONFIG_FIELDS:
        if shown is not _OMITTED:
            out[name] = raw.get(name, shown)
        elif raw.get(name) not in (None, "", False, {}, []):
            out[name] = raw[name]
    out.update((k, v) for k, v in raw.items() if k not in _CONFIG_NAMES)
    return out
