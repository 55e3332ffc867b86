"""dockyard-runc: the runc-compatible OCI runtime."""
