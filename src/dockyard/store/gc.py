"""Garbage collection: a pure mark over the reference graph, and the sweep that acts on it.

Nodes are strings: ``image:<id>``, ``blob:<digest>``, ``snapshot:<chain id>``. Roots are every
image (an image exists because the metadata says so), every lease resource and every
container's snapshot parent. Whatever is not reachable from a root is garbage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dockyard.store.metadata import ImageRecord, ImageUse, LayerRecord, SnapshotRecord


def mark(roots: Iterable[str], edges: Mapping[str, Iterable[str]]) -> set[str]:
    """Every node reachable from ``roots`` (iterative, so deep chains cannot overflow)."""
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(n for n in edges.get(node, ()) if n not in seen)
    return seen


@dataclass
class Graph:
    roots: set[str] = field(default_factory=set)
    edges: dict[str, set[str]] = field(default_factory=dict)

    def edge(self, a: str, b: str) -> None:
        self.edges.setdefault(a, set()).add(b)


def build_graph(
    images: Iterable[tuple[ImageRecord, list[LayerRecord]]],
    uses: Iterable[ImageUse],
    snapshots: Iterable[SnapshotRecord],
    leased_blobs: Iterable[str],
    leased_snapshots: Iterable[str],
) -> Graph:
    g = Graph()
    for img, layers in images:
        node = f"image:{img.id}"
        g.roots.add(node)
        g.edge(node, f"blob:{img.manifest_digest}")
        g.edge(node, f"blob:{img.id}")
        for layer in layers:
            g.edge(node, f"blob:{layer.blob_digest}")
            g.edge(node, f"snapshot:{layer.chain_id}")
    for use in uses:
        g.roots.add(f"image:{use.image_id}")
        if use.chain_id:
            g.roots.add(f"snapshot:{use.chain_id}")
    for snap in snapshots:
        # A committed snapshot needs its parent: overlay lower dirs are shared.
        if snap.parent:
            g.edge(f"snapshot:{snap.chain_id}", f"snapshot:{snap.parent}")
    g.roots.update(f"blob:{b}" for b in leased_blobs)
    g.roots.update(f"snapshot:{s}" for s in leased_snapshots)
    return g


@dataclass(frozen=True)
class SweepPlan:
    blobs: list[str]
    snapshots: list[str]  # children before parents


def plan_sweep(
    marked: set[str], blobs: Iterable[str], snapshots: Iterable[SnapshotRecord]
) -> SweepPlan:
    dead_blobs = sorted(b for b in blobs if f"blob:{b}" not in marked)
    records = {s.chain_id: s for s in snapshots}
    dead = {c for c in records if f"snapshot:{c}" not in marked}

    def depth(chain: str) -> int:
        n, cur = 0, records.get(chain)
        while cur is not None and cur.parent and n < 10_000:
            n, cur = n + 1, records.get(cur.parent)
        return n

    return SweepPlan(dead_blobs, sorted(dead, key=lambda c: (-depth(c), c)))


@dataclass(frozen=True)
class GCResult:
    blobs_removed: list[str]
    bytes_reclaimed: int
    snapshots_removed: list[str]
    ingests_removed: list[str]
