"""The exceptions the layer applier and differ raise."""

from __future__ import annotations


class LayerError(Exception):
    """A layer tar is malformed, unsupported or hostile; the target must be discarded."""


class LayerTooLarge(LayerError):
    """The uncompressed layer is larger than the allowed quota (a decompression bomb)."""
