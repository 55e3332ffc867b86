"""Pure OCI/Docker vocabulary: digests, references, media types, image and runtime models."""
