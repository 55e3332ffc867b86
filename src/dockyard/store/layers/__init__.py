"""Layers: apply a layer tar with whiteouts, compute diffs, write deterministic tars."""

from __future__ import annotations

from dockyard.store.layers.apply import AppliedLayer, WhiteoutFormat, apply_layer
from dockyard.store.layers.diff import (
    changes,
    tree_changes,
    write_diff,
    write_tree,
    write_tree_diff,
)
from dockyard.store.layers.errors import LayerError, LayerTooLarge
from dockyard.store.layers.tarwriter import LayerDigests

__all__ = [
    "AppliedLayer",
    "LayerDigests",
    "LayerError",
    "LayerTooLarge",
    "WhiteoutFormat",
    "apply_layer",
    "changes",
    "tree_changes",
    "write_diff",
    "write_tree",
    "write_tree_diff",
]
