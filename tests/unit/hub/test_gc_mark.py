from __future__ import annotations

from dockyard.hub.gc import live_manifests


def test_tagged_index_keeps_children_and_referrers() -> None:
    manifests = [
        ("r", "idx", None),
        ("r", "amd", None),
        ("r", "arm", None),
        ("r", "sig", "idx"),
        ("r", "orphan", None),
        ("r", "orphan-sig", "orphan"),
        ("s", "amd", None),
    ]
    tags = [("r", "idx")]
    refs = [("r", "idx", "amd"), ("r", "idx", "arm"), ("r", "amd", "layer")]
    live = live_manifests(manifests, tags, refs)
    assert live == {("r", "idx"), ("r", "amd"), ("r", "arm"), ("r", "sig")}


def test_tags_are_per_repository() -> None:
    manifests = [("a", "m", None), ("b", "m", None)]
    assert live_manifests(manifests, [("a", "m")], []) == {("a", "m")}


def test_dangling_tag_is_ignored() -> None:
    assert live_manifests([], [("a", "gone")], []) == set()
