"""Layers: apply a layer tar with whiteouts, compute diffs, write deterministic tars."""

from __future__ import annotations

from dockyard.store.layers.apply import AppliedLayer, WhiteoutFormat, apply_layer
from dockyard.store.layers.errors import LayerError, LayerTooLarge

__all__ = [
    "AppliedLayer",
    "LayerError",
    "LayerTooLarge",
    "WhiteoutFormat",
    "apply_layer",
]
