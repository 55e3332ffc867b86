"""Content store, metadata, layers, snapshots and image operations."""
