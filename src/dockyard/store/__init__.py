"""Content store, metadata, layers, snapshots and image operations.

The facade is ``dockyard.store.images.ImageStore``; nothing is imported here so that
``import dockyard.store.<module>`` stays cheap.
"""
