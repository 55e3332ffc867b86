"""Snapshotter errors, each with a one-line message."""

from __future__ import annotations


class SnapshotError(Exception):
    """A snapshot operation failed."""


class SnapshotNotFound(SnapshotError):
    def __init__(self, key: str) -> None:
        super().__init__(f"snapshot {key!r} does not exist")
        self.key = key


class SnapshotExists(SnapshotError):
    def __init__(self, key: str) -> None:
        super().__init__(f"snapshot {key!r} already exists")
        self.key = key


class SnapshotInUse(SnapshotError):
    """The snapshot is the parent of others, or not in the state the call needs."""
