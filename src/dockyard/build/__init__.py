"""Dockerfile parser and builder."""
