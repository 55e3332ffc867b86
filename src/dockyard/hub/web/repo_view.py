"""What the repository page shows about each tag: digest, size, platforms, push time."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from dockyard.hub.blobs import BlobStore
from dockyard.hub.manifests import INDEX_TYPES
from dockyard.oci.digest import Digest


@dataclass(frozen=True)
class TagInfo:
    tag: str
    digest: str
    media_type: str
    size: int
    platforms: tuple[str, ...]
    updated: float


def _platform(p: Any) -> str | None:
    if not isinstance(p, dict) or not p.get("os"):
        return None
    text = f"{p.get('os')}/{p.get('architecture', '?')}"
    return text + (f"/{p['variant']}" if p.get("variant") else "")


def image_size(doc: dict[str, Any]) -> int:
    """Compressed size of an image: config plus layers, as Docker Hub shows it."""
    total = 0
    for d in [doc.get("config"), *(doc.get("layers") or [])]:
        if isinstance(d, dict) and isinstance(d.get("size"), int):
            total += d["size"]
    return total


def tag_infos(
    conn: sqlite3.Connection, store: BlobStore, repo: str, limit: int = 200
) -> list[TagInfo]:
    rows = conn.execute(
        "SELECT t.name, t.digest, t.updated, m.media_type, m.content FROM tags t"
        " JOIN manifests m ON m.repo = t.repo AND m.digest = t.digest"
        " WHERE t.repo = ? ORDER BY t.updated DESC, t.name LIMIT ?",
        (repo, limit),
    ).fetchall()
    out = []
    for r in rows:
        doc = json.loads(r["content"])
        platforms: list[str] = []
        if r["media_type"] in INDEX_TYPES:
            size = 0
            for m in doc.get("manifests") or []:
                p = _platform(m.get("platform"))
                if p:
                    platforms.append(p)
                child = conn.execute(
                    "SELECT content FROM manifests WHERE repo = ? AND digest = ?",
                    (repo, m.get("digest")),
                ).fetchone()
                if child is not None:
                    size = max(size, image_size(json.loads(child["content"])))
        else:
            size = image_size(doc)
            platform = _config_platform(store, doc)
            if platform:
                platforms.append(platform)
        out.append(
            TagInfo(r["name"], r["digest"], r["media_type"], size, tuple(platforms), r["updated"])
        )
    return out


def _config_platform(store: BlobStore, doc: dict[str, Any]) -> str | None:
    # The config blob is small and names os/architecture; read it only when it is small.
    cfg = doc.get("config")
    if not isinstance(cfg, dict) or not isinstance(cfg.get("size"), int) or cfg["size"] > 1 << 20:
        return None
    try:
        config = json.loads(store.path(Digest.parse(str(cfg.get("digest")))).read_bytes())
    except (OSError, ValueError):
        return None
    return _platform(config) if isinstance(config, dict) else None
