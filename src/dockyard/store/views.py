"""Docker's JSON views of an image (inspect, list summary, history), built from stored data.

Pure: the facade gathers the records and config; this module only shapes them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dockyard.oci.image import ImageConfig, container_config
from dockyard.oci.reference import Reference
from dockyard.store.metadata import ImageRecord, LayerRecord

_FRACTION = re.compile(r"\.(\d+)")


def parse_time(value: str | None) -> datetime | None:
    """RFC 3339 with up to nanoseconds (Go's format) → aware datetime; None if absent or bad."""
    if not value:
        return None
    text = value.strip().replace("z", "Z")
    # Python parses at most microseconds; Go writes up to nanoseconds.
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
    text = text.replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def unix_time(value: str | None) -> int:
    parsed = parse_time(value)
    return int(parsed.timestamp()) if parsed else 0


def rfc3339_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _repo_tags(refs: Sequence[Reference]) -> list[str]:
    return [r.familiar() for r in refs if r.digest is None]


def _repo_digests(refs: Sequence[Reference]) -> list[str]:
    return [r.familiar() for r in refs if r.digest is not None]


@dataclass(frozen=True)
class ImageSummary:
    """One row of ``docker images`` (GET /images/json)."""

    id: str
    parent_id: str
    repo_tags: list[str]
    repo_digests: list[str]
    created: int
    size: int
    labels: dict[str, str]
    containers: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "Id": self.id,
            "ParentId": self.parent_id,
            "RepoTags": self.repo_tags,
            "RepoDigests": self.repo_digests,
            "Created": self.created,
            "Size": self.size,
            "SharedSize": -1,
            "VirtualSize": self.size,
            "Labels": self.labels,
            "Containers": self.containers,
        }


def summary(
    rec: ImageRecord, config: ImageConfig | None, refs: Sequence[Reference], containers: int
) -> ImageSummary:
    """A list row; ``config`` is None when the config blob is unreadable (still listed, so
    that the user can see and remove the broken image)."""
    labels = (config.config.get("Labels") if config else None) or {}
    return ImageSummary(
        rec.id,
        rec.parent or "",
        _repo_tags(refs),
        _repo_digests(refs),
        unix_time(config.created if config else rec.created),
        rec.size,
        dict(labels) if isinstance(labels, dict) else {},
        containers,
    )


def inspect(
    rec: ImageRecord,
    config: ImageConfig,
    refs: Sequence[Reference],
    last_tag_time: float | None,
    graph_driver: dict[str, Any] | None = None,
) -> dict[str, Any]:
    raw = config.raw
    out: dict[str, Any] = {
        "Id": rec.id,
        "RepoTags": _repo_tags(refs),
        "RepoDigests": _repo_digests(refs),
        "Parent": rec.parent or "",
        "Comment": raw.get("comment") or "",
        "Created": config.created or "",
        "Container": raw.get("container") or "",
        "ContainerConfig": container_config(raw.get("container_config")),
        "DockerVersion": raw.get("docker_version") or "",
        "Author": raw.get("author") or "",
        "Config": container_config(config.config) if config.config else None,
        "Architecture": config.architecture,
        "Os": config.os,
        "Size": rec.size,
        "VirtualSize": rec.size,
        "GraphDriver": graph_driver or {"Name": "overlay2", "Data": None},
        "RootFS": {"Type": "layers", "Layers": [str(d) for d in config.diff_ids]},
        "Metadata": {
            "LastTagTime": (
                datetime.fromtimestamp(last_tag_time, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                if last_tag_time
                else "0001-01-01T00:00:00Z"
            )
        },
    }
    if config.variant:
        out["Variant"] = config.variant
    if raw.get("os.version"):
        out["OsVersion"] = raw["os.version"]
    if not out["Comment"] and config.history:
        out["Comment"] = config.history[-1].comment
    return out


def history(
    image_id: str,
    config: ImageConfig,
    layers: Sequence[LayerRecord],
    tags: Sequence[str],
    ancestors: Sequence[tuple[str, int, Sequence[str]]] = (),
) -> list[dict[str, Any]]:
    """``docker history``: newest first; the newest entry carries the image id and tags.

    ``ancestors`` are (image id, number of history entries, tags) of the local parent chain
    (images made by commit): as in Docker, the entry where a parent ends shows its id.
    """
    entries: list[dict[str, Any]] = []
    sizes = [layer.size for layer in layers]
    layer_i = 0
    if config.history:
        for h in config.history:
            size = 0
            if not h.empty_layer:
                size = sizes[layer_i] if layer_i < len(sizes) else 0
                layer_i += 1
            entries.append(
                {
                    "Id": "<missing>",
                    "Created": unix_time(h.created),
                    "CreatedBy": h.created_by,
                    "Tags": None,
                    "Size": size,
                    "Comment": h.comment,
                }
            )
    else:
        for size in sizes:
            entries.append(
                {
                    "Id": "<missing>",
                    "Created": unix_time(config.created),
                    "CreatedBy": "",
                    "Tags": None,
                    "Size": size,
                    "Comment": "",
                }
            )
    for ancestor_id, length, ancestor_tags in ancestors:
        if 0 < length <= len(entries):
            entries[length - 1]["Id"] = ancestor_id
            entries[length - 1]["Tags"] = list(ancestor_tags) or None
    entries.reverse()
    if entries:
        entries[0]["Id"] = image_id
        entries[0]["Tags"] = list(tags) or None
    return entries
