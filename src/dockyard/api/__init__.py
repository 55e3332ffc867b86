"""dockyardd: the Docker Engine API server."""
