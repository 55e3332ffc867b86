from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dockyard.store.gc import build_graph, mark, plan_sweep
from dockyard.store.metadata import ImageRecord, ImageUse, LayerRecord, SnapshotRecord

A, B, C, D = ("sha256:" + c * 64 for c in "abcd")
CH1, CH2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def image(
    image_id: str, manifest: str, layers: list[LayerRecord]
) -> tuple[ImageRecord, list[LayerRecord]]:
    return ImageRecord(image_id, manifest, "m", 1, 1, None, 1, None, None, 0.0), layers


def test_mark_reaches_everything_an_image_holds() -> None:
    layer = LayerRecord(0, C, "t", 1, C, CH1, 1)
    g = build_graph([image(A, B, [layer])], [], [], [], [])
    marked = mark(g.roots, g.edges)
    assert {f"blob:{A}", f"blob:{B}", f"blob:{C}", f"snapshot:{CH1}"} <= marked
    plan = plan_sweep(marked, [A, B, C, D], [])
    assert plan.blobs == [D]


def test_leases_and_container_uses_are_roots() -> None:
    snaps = [SnapshotRecord(CH1, None, C, 1, 0.0), SnapshotRecord(CH2, CH1, D, 1, 0.0)]
    g = build_graph([], [ImageUse("c1", A, CH2)], snaps, [D], [])
    marked = mark(g.roots, g.edges)
    # the container's snapshot keeps its parent chain alive
    assert f"snapshot:{CH1}" in marked
    plan = plan_sweep(marked, [C, D], snaps)
    assert plan.blobs == [C]
    assert plan.snapshots == []


def test_dead_snapshots_are_removed_children_first() -> None:
    snaps = [SnapshotRecord(CH1, None, C, 1, 0.0), SnapshotRecord(CH2, CH1, D, 1, 0.0)]
    plan = plan_sweep(set(), [], snaps)
    assert plan.snapshots == [CH2, CH1]


@given(
    st.dictionaries(st.integers(0, 30), st.lists(st.integers(0, 30), max_size=4)),
    st.sets(st.integers(0, 30), max_size=5),
)
def test_mark_is_reachability(edges_i: dict[int, list[int]], roots_i: set[int]) -> None:
    edges = {str(k): [str(v) for v in vs] for k, vs in edges_i.items()}
    roots = {str(r) for r in roots_i}
    marked = mark(roots, edges)
    assert roots <= marked
    for node in marked:  # closed under edges
        assert set(edges.get(node, [])) <= marked
    # minimal: every marked node is reachable by a fresh BFS
    seen, frontier = set(roots), list(roots)
    while frontier:
        n = frontier.pop()
        for m in edges.get(n, []):
            if m not in seen:
                seen.add(m)
                frontier.append(m)
    assert marked == seen
